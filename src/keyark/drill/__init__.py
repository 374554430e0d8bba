"""Restore drills: restore a snapshot (all of it, or a random sample of its files) into
a scratch directory, verify every byte against the snapshot, compare with the live
source where it is unchanged since the snapshot, and time it (the restore time
objective).

- :mod:`keyark.drill.plan`: which snapshot (a job's newest, a named one, the newest),
  which files (the sample), the sample's parser.
- :mod:`keyark.drill.live`: the spot check against the live source files.
- :mod:`keyark.drill.run`: the drill itself, in its own scratch directory.
- :mod:`keyark.drill.result`: what a drill found.
- :mod:`keyark.drill.history`: the drill's run-history row (``kind == "drill"``).
"""
