"""Prometheus metrics of keyark: jobs' run history, health, notifications, repositories.

- :mod:`keyark.metrics.history`: what the run history says per job (counts by status,
  last run and last success, duration, bytes added) and per repository (last good check).
- :mod:`keyark.metrics.repository`: costly repository facts (stored size, snapshots, data
  key age), cached for one collection interval.
- :mod:`keyark.metrics.sources`: the monitoring issue's other stores, read when present
  (health check states, failed notification deliveries, certificate expiry).
- :mod:`keyark.metrics.collector`: the ``prometheus_client`` custom collector.
- :mod:`keyark.metrics.server`: the daemon's ``/metrics`` endpoint (basic auth, TLS).

Faces reach these through :mod:`keyark.ops.metrics`.
"""
