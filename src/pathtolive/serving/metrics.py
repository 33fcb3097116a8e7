"""Prometheus metrics of one server, its worker processes added up.

One process (``serve``, tests) keeps its metrics in a registry of its own, so two apps in
one process never share counters. With ``serve --workers N`` the parent gives the workers
a fresh folder in ``PROMETHEUS_MULTIPROC_DIR``: each worker writes its values there
(prometheus_client's multiprocess mode, as gunicorn and uvicorn deployments do), and a
scrape, whichever worker answers it, reads every worker's files: counters and histograms
are summed (those of a worker that exited included, so they never go backwards), gauges
are taken over the live workers.

Counts owned by other objects (the prediction log, the shadow queue, the watcher's
failing loads) are copied into metrics by :meth:`ServerMetrics.sync`, at each scrape and
every second while serving, so another worker's scrape sees them too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "MULTIPROCESS_DIR", "LogCounts", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable naming the folder workers share their metrics in; set before
prometheus_client is imported in a worker (it chooses its storage on import)."""

# Latency buckets from 0.5 ms: a small model answers well under 5 ms.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

_LOG_COUNTS = (
    ("logged_rows", "rows handed to the prediction log"),
    ("written_rows", "rows written to log segments"),
    ("dropped_rows", "rows dropped: the log buffer was full"),
    ("sampled_out_rows", "rows not logged by sampling"),
    ("write_errors", "failed writes of a log segment"),
)


@dataclass(frozen=True)
class LogCounts:
    logged_rows: int
    written_rows: int
    dropped_rows: int
    sampled_out: int
    write_errors: int

    def values(self) -> tuple[int, ...]:
        """In the order of the metrics (``_LOG_COUNTS``)."""
        return (
            self.logged_rows,
            self.written_rows,
            self.dropped_rows,
            self.sampled_out,
            self.write_errors,
        )


class _StoreState(Collector):
    """Open alerts, the webhook outbox and the controller's lease, read from the registry
    when Prometheus scrapes: the same for every worker and every replica, so never added
    up (the shipped rules take their ``max``)."""

    def __init__(
        self,
        open_alerts: Callable[[], Mapping[tuple[str, str], int]],
        outbox_pending: Callable[[], Mapping[str, int]],
        lease_expiry: Callable[[], float | None],
    ):
        self._open_alerts = open_alerts
        self._outbox_pending = outbox_pending
        self._lease_expiry = lease_expiry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        alerts = GaugeMetricFamily(
            "pathtolive_alerts_open",
            "open monitoring alerts (drift, prediction drift, decay), per model and kind",
            labels=["model", "kind"],
        )
        for (model, kind), count in sorted(self._open_alerts().items()):
            alerts.add_metric([model, kind], count)
        yield alerts
        outbox = GaugeMetricFamily(
            "pathtolive_alert_outbox_pending",
            "alerts waiting in the webhook outbox (not yet answered 2xx), per model",
            labels=["model"],
        )
        for model, count in sorted(self._outbox_pending().items()):
            outbox.add_metric([model], count)
        yield outbox
        lease = GaugeMetricFamily(
            "pathtolive_controller_lease_expiry_timestamp_seconds",
            "when the controller's lease lapses unless renewed (Unix time); every round of "
            "'pathtolive watch' pushes it on, so a time in the past means no controller runs",
        )
        expiry = self._lease_expiry()
        if expiry is not None:  # no controller ever ran here: no series, no alert
            lease.add_metric([], expiry)
        yield lease


class ServerMetrics:
    """Requests, latency, errors, batching and model loads, per model and version."""

    def __init__(
        self,
        log_counts: Callable[[], LogCounts | None] = lambda: None,
        shadow_skipped: Callable[[], int] = lambda: 0,
        open_alerts: Callable[[], Mapping[tuple[str, str], int]] = dict,
        failing_loads: Callable[[], Iterable[tuple[str, int]]] = tuple,
        outbox_pending: Callable[[], Mapping[str, int]] = dict,
        lease_expiry: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._log_counts = log_counts
        self._shadow_skipped = shadow_skipped
        self._failing_loads = failing_loads
        self._alerts = _StoreState(open_alerts, outbox_pending, lease_expiry)
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_DIR))
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pathtolive_requests",
            "prediction requests answered",
            ["model", "version", "protocol", "role", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pathtolive_request_latency_seconds",
            "time from a request's arrival to its answer",
            ["model", "version", "protocol"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "pathtolive_errors",
            "requests answered with an error, by error code and HTTP status",
            ["model", "protocol", "code", "status"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "pathtolive_batch_rows",
            "rows per predict call after micro-batching",
            ["model", "version"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
            registry=self.registry,
        )
        self.model_loads = Counter(
            "pathtolive_model_loads",
            "model versions loaded (outcome=loaded) or refused (outcome=failed)",
            ["model", "version", "outcome"],
            registry=self.registry,
        )
        self.serving = Gauge(
            "pathtolive_model_serving",
            "1 for each model version answering in a role (live, canary, shadow)",
            ["model", "version", "role"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "pathtolive_ready",
            "1 once a model is loaded and serving (in every worker)",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.load_failing = Gauge(
            "pathtolive_model_load_failing",
            "1 for each model version the registry wants served that does not load (it is "
            "retried with backoff; pathtolive_model_loads_total counts the attempts)",
            ["model", "version"],
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self._log = [
            Counter(f"pathtolive_prediction_log_{name}", text, registry=self.registry)
            for name, text in _LOG_COUNTS
        ]
        self._shadow = Counter(
            "pathtolive_shadow_skipped",
            "requests not scored by the shadow version because its queue was full",
            registry=self.registry,
        )
        self._synced_log = (0,) * len(_LOG_COUNTS)
        self._synced_shadow = 0
        self._serving_now: set[_Labels] = set()
        self._failing_now: set[_Labels] = set()
        self.registry.register(self._alerts)

    def set_serving(self, serving: Iterable[tuple[str, str, str]]) -> None:
        """The ``(model, version, role)`` answering now: 1 for them, 0 for those that
        answered before (a worker's files cannot forget a series, so it is zeroed)."""
        self._serving_now = _flag(self.serving, self._serving_now, set(serving))

    def sync(self) -> None:
        """Copy the counts other objects own into the metrics (only what grew since the
        last copy, so the counters stay counters)."""
        counts = self._log_counts()
        if counts is not None:
            values = counts.values()
            for counter, value, synced in zip(self._log, values, self._synced_log, strict=True):
                if value > synced:
                    counter.inc(value - synced)
            self._synced_log = values
        skipped = self._shadow_skipped()
        if skipped > self._synced_shadow:
            self._shadow.inc(skipped - self._synced_shadow)
            self._synced_shadow = skipped
        failing: set[_Labels] = {(model, str(v)) for model, v in self._failing_loads()}
        self._failing_now = _flag(self.load_failing, self._failing_now, failing)

    def render(self) -> bytes:
        self.sync()
        if not self.multiprocess:
            return generate_latest(self.registry)
        # Every worker's files, read afresh: the answer is the same whichever worker gives it.
        _forget_dead_workers(os.environ[MULTIPROCESS_DIR])
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._alerts)
        return generate_latest(registry)

    def close(self) -> None:
        """At a worker's clean stop: its last counts are copied, and its gauges leave the
        live workers' figures (its counters stay in the sums)."""
        self.sync()
        if self.multiprocess:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


_Labels = tuple[str, ...]


def _flag(gauge: Gauge, before: set[_Labels], now: set[_Labels]) -> set[_Labels]:
    """Sets ``gauge`` to 1 for the series in ``now`` and to 0 for those only in ``before``
    (a worker's files cannot forget a series); returns ``now``."""
    for labels in before - now:
        gauge.labels(*labels).set(0)
    for labels in now:
        gauge.labels(*labels).set(1)
    return now


def _forget_dead_workers(folder: str) -> None:
    """Takes the gauges of workers that died without a clean stop (``kill -9``; the
    supervisor starts another) out of the live workers' figures; their counters stay in
    the sums."""
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
