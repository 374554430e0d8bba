"""The scheduler daemon: a face that runs the config file's jobs and maintenance tasks.

- :mod:`keyark.daemon.clock`: wall clock, monotonic clock and cancellable sleeps (a test
  gives a controllable clock).
- :mod:`keyark.daemon.planner`: pure planning: the scheduled tasks of a config, what is
  due, what was missed and what catch-up does about it, the ``schedule`` table.
- :mod:`keyark.daemon.scheduler`: the loop: wakes at due times, starts runs in worker
  threads through the ``run`` operation, no overlap, ``max_parallel_jobs``, catch-up on
  start and on wake, crash recovery, graceful stop and reload.

Like every face it imports only the catalogue (:mod:`keyark.ops`), the config model,
events, errors, the cancel token and process plumbing.
"""
