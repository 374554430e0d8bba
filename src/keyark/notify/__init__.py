"""Alert notifications: the channels of the config's ``notifications:`` and the dispatch.

- :mod:`keyark.notify.message`: an alert as a subject line, a text body and JSON.
- :mod:`keyark.notify.channels`: one module per kind of channel (email, Slack,
  webhook, syslog, Apprise); each sends one alert or raises :class:`DeliveryError`.
- :mod:`keyark.notify.dispatch`: :func:`~keyark.notify.dispatch.deliver` routes alerts
  by level, suppresses repeats, retries in the background and records every attempt
  in the alert store; the daily digests.
"""
