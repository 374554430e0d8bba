"""``metrics``: the Prometheus exposition of the config's jobs, repositories and health,
printed or written as ``keyark.prom`` for node_exporter's textfile collector; and the
daemon's ``/metrics`` endpoint. The collector lives in :mod:`keyark.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyark.config.document import KeyarkConfig
from keyark.context import OperationContext
from keyark.errors import MissingExtraError, UsageError
from keyark.events import Code
from keyark.metrics.names import METRICS as METRICS
from keyark.metrics.names import MetricSpec as MetricSpec
from keyark.metrics.server import MetricsServer as MetricsServer
from keyark.metrics.server import start_metrics_server as start_metrics_server
from keyark.ops.catalogue import operation
from keyark.ops.jobs import state_store

#: The file ``metrics --textfile DIR`` writes (node_exporter reads only ``*.prom``).
TEXTFILE_NAME = "keyark.prom"


@dataclass(frozen=True)
class MetricsOptions:
    """Whose metrics (the config, its history in ``state_dir`` or the config's), and
    where to write them (``textfile_dir``: ``keyark.prom`` there; None: only returned)."""

    config: KeyarkConfig
    textfile_dir: Path | None = None
    state_dir: Path | None = None


@dataclass(frozen=True)
class MetricsExposition:
    """The exposition text (Prometheus text format 0.0.4), and the file written, if any."""

    text: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"message_type": "metrics", "path": self.path, "text": self.text}


@operation("metrics", options=MetricsOptions, result=MetricsExposition, mutates=False)
def metrics(ctx: OperationContext, options: MetricsOptions) -> MetricsExposition:
    """Show the Prometheus metrics of the config's jobs, repositories and health checks."""
    try:
        from prometheus_client.exposition import generate_latest, write_to_textfile

        from keyark.metrics.collector import KeyarkCollector, registry_of
    except ImportError as error:
        raise MissingExtraError(
            f"metrics need an optional dependency ({error.name}): pip install 'keyark[monitor]'"
        ) from None
    from keyark.metrics.repository import RepositoryFactsCache

    def warn(subject: str, message: str) -> None:
        ctx.events.warn(Code.METRICS_UNAVAILABLE, message, subject=subject)

    store = state_store(options.config, options.state_dir)
    once = RepositoryFactsCache(float("inf"))  # one collection: each repository read once
    collector = KeyarkCollector(lambda: options.config, store, once, warn=warn)
    registry = registry_of(collector)
    if options.textfile_dir is None:
        return MetricsExposition(generate_latest(registry).decode())
    directory = options.textfile_dir.expanduser()
    if not directory.is_dir():
        raise UsageError(f"the textfile directory {directory} does not exist")
    path = directory / TEXTFILE_NAME
    # a temporary file in the same directory, renamed over keyark.prom: a reader sees
    # the old file or the new one, never half of one (and no sample carries a timestamp,
    # which would make node_exporter skip the whole file)
    write_to_textfile(str(path), registry)
    return MetricsExposition(path.read_text(), str(path))
