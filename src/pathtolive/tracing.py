"""OpenTelemetry traces of what pathtolive does: served requests, pipeline runs and their
steps, gate checks and each gate, releases and promotions.

Off by default. ``[tracing] exporter = "otlp"`` in ``pathtolive.toml`` (or the standard
``OTEL_TRACES_EXPORTER=otlp``) turns it on, exporting by OTLP over HTTP to ``endpoint``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``, which win
as the environment wins over the file) under ``service_name`` (or ``OTEL_SERVICE_NAME``),
keeping ``sample_ratio`` of the traces that start here; a trace a caller started is kept
or dropped as the caller decided (its ``traceparent``'s sampled flag).

The SDK is an extra (``pathtolive[tracing]``) imported only when tracing is on: off, a
:func:`span` is a no-op that imports nothing, and the server installs no middleware.

The tracer is the process's, like the OpenTelemetry tracer provider it comes from (one
export queue and thread per process, flushed when the process exits), so it lives here
rather than in each service context; the process's *global* provider is left alone, so
that FastAPI's own telemetry, which starts when a global provider is set, does not trace
every request a second time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Final, Protocol

from pathtolive import env
from pathtolive.config import WORKSPACE_FILE, Settings, check_choice, table_at
from pathtolive.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = [
    "EXPORTERS",
    "INSTALL_HINT",
    "Attributes",
    "SpanLike",
    "TracingSettings",
    "annotate",
    "configure_tracing",
    "enabled",
    "flush",
    "install",
    "span",
    "tracer",
    "tracing_settings",
]

EXPORTERS: tuple[str, ...] = ("none", "otlp")
"""Where spans go: nowhere (tracing off, the default), or an OTLP/HTTP collector."""
INSTALL_HINT: Final = "pip install 'pathtolive[tracing]'"
DEFAULT_ENDPOINT: Final = "http://localhost:4318"
"""The OTLP/HTTP collector's base URL when nothing names one (the standard default)."""
TRACES_PATH: Final = "/v1/traces"

Attributes = Mapping[str, str | bool | int | float]
"""Span attributes: plain values only, as OpenTelemetry takes them."""


class SpanLike(Protocol):
    """What code that traces does with its span: an OpenTelemetry span when tracing is
    on, a no-op otherwise."""

    def set_attribute(self, key: str, value: Any) -> Any: ...

    def set_attributes(self, attributes: Attributes) -> Any: ...


class _NoSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Attributes) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


@dataclass(frozen=True)
class TracingSettings:
    """``[tracing]``, with the standard environment variables over it. ``endpoint`` is the
    full URL spans are posted to."""

    exporter: str = "none"
    endpoint: str = DEFAULT_ENDPOINT + TRACES_PATH
    service_name: str = "pathtolive"
    sample_ratio: float = 1.0

    @property
    def on(self) -> bool:
        return self.exporter != "none"


def tracing_settings(settings: Settings) -> TracingSettings:
    """The tracing settings of a workspace (its keys were checked when the file was read:
    see :data:`pathtolive.config.SECTIONS`); their values are checked here."""
    table = table_at(settings.document.get("tracing", {}), "tracing")
    environ = settings.environ
    exporter = check_choice(
        table.get("exporter", "none"), "tracing.exporter", EXPORTERS, kind="trace exporter"
    )
    chosen = environ.get(env.OTEL_TRACES_EXPORTER, "").strip().lower()
    if chosen:
        if chosen not in EXPORTERS:
            raise ConfigError(
                f"{env.OTEL_TRACES_EXPORTER}={chosen} is not an exporter pathtolive sends spans "
                f"to; set it to {' or '.join(EXPORTERS[::-1])}, or unset it"
            )
        exporter = chosen
    if environ.get(env.OTEL_SDK_DISABLED, "").strip().lower() == "true":
        exporter = "none"
    base = table.get("endpoint", DEFAULT_ENDPOINT)
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ConfigError(
            f"{WORKSPACE_FILE}: tracing.endpoint = {base!r} is not an http(s) URL; give the "
            f"collector's OTLP/HTTP base URL, like {DEFAULT_ENDPOINT!r}"
        )
    # As OpenTelemetry's own exporters read them: the signal's URL as it is, the base
    # URL with the signal's path added.
    endpoint = environ.get(env.OTEL_TRACES_ENDPOINT) or (
        (environ.get(env.OTEL_ENDPOINT) or base).rstrip("/") + TRACES_PATH
    )
    service = environ.get(env.OTEL_SERVICE_NAME) or table.get("service_name", "pathtolive")
    if not isinstance(service, str) or not service:
        raise ConfigError(f"{WORKSPACE_FILE}: tracing.service_name must be a non-empty string")
    ratio = table.get("sample_ratio", 1.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ConfigError(
            f"{WORKSPACE_FILE}: tracing.sample_ratio = {ratio!r} is not a share of traces; "
            "give a number from 0 to 1"
        )
    return TracingSettings(exporter, endpoint, service, float(ratio))


class _Process:
    """The process's tracer: None while tracing is off, or on but not yet needed
    (``pending``: a command that opens no span never loads the SDK)."""

    tracer: Tracer | None = None
    provider: TracerProvider | None = None
    pending: TracingSettings | None = None


def install(provider: TracerProvider | None) -> None:
    """Trace into ``provider`` from now on in this process (None: stop tracing). What
    :func:`configure_tracing` leads to; a test or an embedding application may call it
    with a provider of its own (an in-memory exporter's, say)."""
    _Process.pending = None
    _Process.provider = provider
    _Process.tracer = None if provider is None else provider.get_tracer("pathtolive")


def flush(timeout_s: float = 5.0) -> None:
    """Export the spans still batched, waiting at most ``timeout_s``. The SDK does it
    when the process exits normally; a server's worker process ends without that (its
    parent's ``os._exit``), so the server calls this as it stops."""
    provider = _Process.provider
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush(int(timeout_s * 1000))


def enabled() -> bool:
    """Whether this process traces."""
    return _Process.tracer is not None or _Process.pending is not None


def tracer() -> Tracer | None:
    """The process's tracer (the SDK loaded on first use), None while tracing is off."""
    if _Process.tracer is None and _Process.pending is not None:
        install(_provider(_Process.pending))
    return _Process.tracer


def configure_tracing(settings: Settings) -> bool:
    """Set up the process's tracing from the workspace's settings, once: True when it
    traces. Off, it imports nothing; on, the SDK is loaded when the first span opens. On
    without the extra installed, a :class:`MissingExtraError` with the line that
    installs it, at once."""
    chosen = tracing_settings(settings)
    if chosen.on and not enabled():
        if not all(_installed(name) for name in _SDK_MODULES):
            raise _missing_extra(chosen)
        _Process.pending = chosen
    return enabled()


_SDK_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")


def _installed(module: str) -> bool:
    # Found without being imported (a parent package is, which costs nothing here).
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _missing_extra(chosen: TracingSettings) -> MissingExtraError:
    return MissingExtraError(
        f"tracing is on (exporter {chosen.exporter!r}) but OpenTelemetry's SDK and OTLP "
        f"exporter are not installed: {INSTALL_HINT}, or turn tracing off"
    )


def _provider(chosen: TracingSettings) -> TracerProvider:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError as exc:
        _Process.pending = None  # one error, then the process goes on untraced
        raise _missing_extra(chosen) from exc
    provider = TracerProvider(
        resource=Resource.create({"service.name": chosen.service_name}),
        sampler=ParentBased(TraceIdRatioBased(chosen.sample_ratio)),
    )
    # Batched, on the SDK's own thread: a request never waits on the collector.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=chosen.endpoint)))
    return provider


@contextmanager
def span(name: str, attributes: Attributes | None = None) -> Iterator[SpanLike]:
    """A span named ``name``, a child of the current one, around the ``with`` block; an
    exception leaving the block is recorded on it and marks it failed. A no-op while
    tracing is off."""
    current = _Process.tracer if _Process.pending is None else tracer()
    if current is None:
        yield _NO_SPAN
        return
    with current.start_as_current_span(name, attributes=attributes) as opened:
        yield opened


def annotate(attributes: Attributes) -> None:
    """Add ``attributes`` to the current span (the innermost open :func:`span`, or the
    request's server span); nothing while tracing is off."""
    if _Process.tracer is None:
        return
    from opentelemetry.trace import get_current_span

    get_current_span().set_attributes(attributes)
