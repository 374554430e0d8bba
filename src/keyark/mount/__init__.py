"""``keyark mount``: the repository's snapshots as a read-only filesystem (FUSE).

:mod:`~keyark.mount.layout` arranges the snapshots in directories (``snapshots/<time>/``,
``hosts/<host>/<time>/``, ``tags/<tag>/<time>/``, ``ids/<short id>/``, a ``latest`` link
in each listing); :mod:`~keyark.mount.filesystem` answers a filesystem's questions
(attributes, listings, links, reads) over that layout and the snapshot trees, reading
file content lazily by blob through :mod:`~keyark.mount.cache`. Only
:mod:`~keyark.mount.fuse_adapter` knows FUSE, and :mod:`~keyark.mount.session` runs the
mount in the foreground until it is unmounted (a signal, ``fusermount -u``, a cancel).
"""
