"""The terminal face: ``keyark browse`` and ``keyark restore --interactive``.

A keyboard-only Textual application over the operation catalogue: pick a snapshot,
browse and search its tree, mark files and directories, see what a restore would
overwrite, choose the target and overwrite mode, and restore with progress. It fits an
80x24 terminal (over SSH). Like every face it holds no logic: listings, searches,
previews and the restore are catalogue operations (:mod:`keyark.tui.session`).
"""
