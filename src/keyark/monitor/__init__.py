"""Health checks, their evaluation into alerts, and the alert history (the monitoring issue)."""
