"""Prometheus metrics of one server process (its own registry, so two apps in one
process, as in tests, never share counters)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "LogCounts", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Latency buckets from 0.5 ms: a small model answers well under 5 ms.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


@dataclass(frozen=True)
class LogCounts:
    logged_rows: int
    written_rows: int
    dropped_rows: int
    sampled_out: int
    write_errors: int


class _Callbacks(Collector):
    """Counts owned by other objects (the prediction log, the shadow queue), read when
    Prometheus scrapes."""

    def __init__(
        self,
        log: Callable[[], LogCounts | None],
        shadow_skipped: Callable[[], int],
        open_alerts: Callable[[], Mapping[tuple[str, str], int]],
        failing_loads: Callable[[], Iterable[tuple[str, int]]],
    ):
        self._log = log
        self._shadow_skipped = shadow_skipped
        self._open_alerts = open_alerts
        self._failing_loads = failing_loads

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counts = self._log()
        if counts is not None:
            for name, value, text in (
                ("logged_rows", counts.logged_rows, "rows handed to the prediction log"),
                ("written_rows", counts.written_rows, "rows written to log segments"),
                ("dropped_rows", counts.dropped_rows, "rows dropped: the log buffer was full"),
                ("sampled_out_rows", counts.sampled_out, "rows not logged by sampling"),
                ("write_errors", counts.write_errors, "failed writes of a log segment"),
            ):
                yield CounterMetricFamily(f"pathtolive_prediction_log_{name}", text, value=value)
        alerts = GaugeMetricFamily(
            "pathtolive_alerts_open",
            "open monitoring alerts (drift, prediction drift, decay), per model and kind",
            labels=["model", "kind"],
        )
        for (model, kind), count in sorted(self._open_alerts().items()):
            alerts.add_metric([model, kind], count)
        yield alerts
        failing = GaugeMetricFamily(
            "pathtolive_model_load_failing",
            "1 for each model version the registry wants served that does not load (it is "
            "retried with backoff; pathtolive_model_loads_total counts the attempts)",
            labels=["model", "version"],
        )
        for model, version in self._failing_loads():
            failing.add_metric([model, str(version)], 1)
        yield failing
        yield CounterMetricFamily(
            "pathtolive_shadow_skipped",
            "requests not scored by the shadow version because its queue was full",
            value=self._shadow_skipped(),
        )


class ServerMetrics:
    """Requests, latency, errors, batching and model loads, per model and version."""

    def __init__(
        self,
        log_counts: Callable[[], LogCounts | None] = lambda: None,
        shadow_skipped: Callable[[], int] = lambda: 0,
        open_alerts: Callable[[], Mapping[tuple[str, str], int]] = dict,
        failing_loads: Callable[[], Iterable[tuple[str, int]]] = tuple,
    ) -> None:
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
            "requests answered with an error, by error code",
            ["model", "protocol", "code"],
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
        )
        self.ready = Gauge(
            "pathtolive_ready", "1 once a model is loaded and serving", registry=self.registry
        )
        self.registry.register(_Callbacks(log_counts, shadow_skipped, open_alerts, failing_loads))

    def render(self) -> bytes:
        return generate_latest(self.registry)
