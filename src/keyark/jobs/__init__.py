"""Jobs of the config file run as pipelines: hooks, backup, verify, retention, copies.

:mod:`keyark.jobs.runner` runs one task (a job or a maintenance task) and records it;
:mod:`keyark.jobs.pipeline` is a job's steps, :mod:`keyark.jobs.maintenance` the
maintenance tasks, :mod:`keyark.jobs.hooks` the shell hooks, :mod:`keyark.jobs.recorder`
the step-by-step history row, :mod:`keyark.jobs.deadline` the run's cancel token,
:mod:`keyark.jobs.verify` the read-back of a snapshot (the ``verify`` operation) and
:mod:`keyark.jobs.repositories` one operation context per repository of the config.
Repositories are reached only through catalogue operations (:mod:`keyark.ops`).
"""
