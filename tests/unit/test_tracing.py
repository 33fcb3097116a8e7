"""Tracing's settings (``[tracing]`` under the standard OpenTelemetry variables), the one
line a missing extra gets, and spans: nested where the code nests them, nothing while off."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pathtolive import tracing
from pathtolive.config import WORKSPACE_FILE, Settings, default_config_text, load_settings
from pathtolive.errors import ConfigError, MissingExtraError
from tests.support.tracing import Spans, collector, traced


def _settings(tmp_path: Path, table: str = "", **environ: str) -> Settings:
    (tmp_path / WORKSPACE_FILE).write_text(default_config_text("w") + table, encoding="utf-8")
    return load_settings(tmp_path, environ=environ)


@pytest.fixture
def spans() -> Iterator[Spans]:
    with traced() as kept:
        yield kept


def test_tracing_is_off_unless_an_exporter_is_named(tmp_path: Path) -> None:
    chosen = tracing.tracing_settings(_settings(tmp_path))
    assert not chosen.on
    assert chosen == tracing.TracingSettings()
    # A collector's address alone (set for every process of a host, say) turns nothing on.
    assert not tracing.tracing_settings(
        _settings(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318")
    ).on


def test_the_file_sets_tracing_and_the_standard_variables_win(tmp_path: Path) -> None:
    table = """
[tracing]
exporter = "otlp"
endpoint = "http://collector:4318/"
service_name = "scoring"
sample_ratio = 0.25
"""
    from_file = tracing.tracing_settings(_settings(tmp_path, table))
    assert from_file == tracing.TracingSettings(
        "otlp", "http://collector:4318/v1/traces", "scoring", 0.25
    )
    from_environment = tracing.tracing_settings(
        _settings(
            tmp_path,
            table,
            OTEL_EXPORTER_OTLP_ENDPOINT="https://otel.example:4318",
            OTEL_SERVICE_NAME="scoring-eu",
        )
    )
    assert from_environment.endpoint == "https://otel.example:4318/v1/traces"
    assert from_environment.service_name == "scoring-eu"
    signal_url = tracing.tracing_settings(
        _settings(
            tmp_path,
            table,
            OTEL_EXPORTER_OTLP_ENDPOINT="https://otel.example:4318",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://otel.example/traces",
        )
    )
    assert signal_url.endpoint == "https://otel.example/traces"
    assert not tracing.tracing_settings(_settings(tmp_path, table, OTEL_SDK_DISABLED="true")).on
    assert not tracing.tracing_settings(_settings(tmp_path, table, OTEL_TRACES_EXPORTER="none")).on
    assert tracing.tracing_settings(_settings(tmp_path, OTEL_TRACES_EXPORTER="otlp")).on


@pytest.mark.parametrize(
    ("table", "environ", "message"),
    [
        ('exprter = "otlp"', {}, r"tracing\.exprter is not a setting; did you mean exporter\?"),
        ('exporter = "jaeger"', {}, r"tracing\.exporter = 'jaeger' is not a trace exporter"),
        ("sample_ratio = 2", {}, r"tracing\.sample_ratio = 2 is not a share of traces"),
        ('endpoint = "collector:4318"', {}, r"tracing\.endpoint = .* is not an http\(s\) URL"),
        ("", {"OTEL_TRACES_EXPORTER": "zipkin"}, r"OTEL_TRACES_EXPORTER=zipkin is not an"),
    ],
)
def test_a_bad_tracing_setting_is_one_line_naming_it(
    tmp_path: Path, table: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        tracing.tracing_settings(_settings(tmp_path, f"\n[tracing]\n{table}\n", **environ))
    assert "\n" not in caught.value.message


def test_tracing_on_without_the_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)  # not importable
    settings = _settings(tmp_path, '\n[tracing]\nexporter = "otlp"\n')
    with pytest.raises(MissingExtraError, match=r"pip install 'pathtolive\[tracing\]'") as caught:
        tracing.configure_tracing(settings)
    assert caught.value.exit_code == ConfigError.exit_code
    assert not tracing.enabled()


def test_tracing_on_installs_a_sampling_tracer_once(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import Tracer

    settings = _settings(
        tmp_path,
        '\n[tracing]\nexporter = "otlp"\nservice_name = "scoring"\nsample_ratio = 0.25\n',
    )
    current = None
    try:
        assert tracing.configure_tracing(settings)
        current = tracing.tracer()
        assert isinstance(current, Tracer)
        assert current.resource.attributes["service.name"] == "scoring"
        # A trace started here is kept at the ratio; one a caller started, as it decided.
        assert current.sampler.get_description().startswith(
            "ParentBased{root:TraceIdRatioBased{0.25}"
        )
        # Once per process: another workspace opened does not replace it.
        assert tracing.configure_tracing(settings)
        assert tracing.tracer() is current
    finally:
        tracing.install(None)
        if isinstance(current, Tracer):
            current.span_processor.shutdown()
    assert not tracing.enabled()


def test_spans_nest_and_carry_what_the_code_adds(spans: Spans) -> None:
    with tracing.span("outer", {"pathtolive.model": "risk"}) as outer:
        outer.set_attribute("pathtolive.rows", 3)
        with tracing.span("inner"):
            tracing.annotate({"pathtolive.gate": "latency"})
    with pytest.raises(ZeroDivisionError), tracing.span("failing"):
        _ = 1 / 0

    inner, outer_span, failing = spans.all()
    assert spans.children(outer_span) == [inner]
    assert dict(outer_span.attributes or {}) == {"pathtolive.model": "risk", "pathtolive.rows": 3}
    assert dict(inner.attributes or {}) == {"pathtolive.gate": "latency"}
    assert failing.status.is_ok is False
    assert [event.name for event in failing.events] == ["exception"]


def test_while_off_a_span_is_a_no_op(spans: Spans) -> None:
    tracing.install(None)
    with tracing.span("quiet", {"pathtolive.model": "risk"}) as quiet:
        quiet.set_attributes({"pathtolive.rows": 3})
        tracing.annotate({"pathtolive.gate": "latency"})
    assert spans.all() == ()


_LAZY_PROBE = """
import sys
from pathlib import Path
from typing import ClassVar
from pathtolive import tracing
from pathtolive.config import load_settings

assert tracing.configure_tracing(load_settings(Path(sys.argv[1]), environ={}))
before = "opentelemetry.sdk.trace" in sys.modules
with tracing.span("first"):
    pass
print(before, "opentelemetry.sdk.trace" in sys.modules)
"""


@pytest.mark.subprocess
def test_tracing_on_loads_the_sdk_when_the_first_span_opens(tmp_path: Path) -> None:
    # Sampled out: the span is not exported, so the probe's exit waits on no collector.
    _settings(tmp_path, '\n[tracing]\nexporter = "otlp"\nsample_ratio = 0\n')
    completed = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "True"]


def test_spans_are_exported_by_otlp_to_the_configured_collector(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import Tracer

    with collector() as received:
        table = f"""
[tracing]
exporter = "otlp"
endpoint = "{received.url}"
service_name = "scoring"
"""
        try:
            assert tracing.configure_tracing(_settings(tmp_path, table))
            with tracing.span("gates.check", {"pathtolive.model": "risk"}), tracing.span("gate"):
                pass
            assert isinstance(tracing.tracer(), Tracer)
            tracing.flush()  # as a server does when it stops
        finally:
            tracing.install(None)

    ((path, content_type, _),) = received.posts
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    spans = received.spans()
    assert [span.name for _, span in spans] == ["gate", "gates.check"]
    assert {resource["service.name"] for resource, _ in spans} == {"scoring"}
