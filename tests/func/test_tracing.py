"""Traces of what the system does, read from the SDK's in-memory exporter: a served
request continues its caller's trace, a run has a span per step, a gates check a span per
gate, a promotion holds the gates check it ran; and with tracing off, nothing loads the
SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.serving import ServedWorkspace, running_server, serving_in_thread
from tests.support.tracing import Spans, collector, traced

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[Spans]:
    with traced() as kept:
        yield kept


@pytest.mark.slow
def test_a_served_request_continues_the_callers_trace(
    served_workspace: Callable[..., ServedWorkspace], spans: Spans
) -> None:
    served = served_workspace()
    rows = served.features(3).to_dict(orient="records")
    with serving_in_thread(served.root) as server:
        answered = httpx.post(
            f"{server.url}/v1/models/risk:predict",
            json={"instances": rows},
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        missing = httpx.post(f"{server.url}/v1/models/nope:predict", json={"instances": rows})
        assert httpx.get(f"{server.url}/health/ready").status_code == 200
        (span, refused) = spans.wait_for("POST /v1/models/{name}:predict", 2)

    assert answered.status_code == 200, answered.text
    assert span.kind is SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.path": "/v1/models/risk:predict",
        "http.route": "/v1/models/{name}:predict",
        "http.response.status_code": 200,
        "pathtolive.protocol": "v1",
        "pathtolive.model": "risk",
        "pathtolive.model.version": 1,
        "pathtolive.role": "live",
        "pathtolive.rows": 3,
        "pathtolive.request_id": answered.headers["x-request-id"],
    }
    # The answer names the span, in the trace the caller started.
    assert answered.headers["traceresponse"] == (f"00-{TRACE_ID}-{span.context.span_id:016x}-01")
    # A request without a traceparent starts a trace of its own, and a refusal is traced.
    assert missing.status_code == 404
    assert refused.parent is None
    assert missing.headers["traceresponse"].split("-")[1] == f"{refused.context.trace_id:032x}"
    assert refused.attributes is not None
    assert refused.attributes["http.response.status_code"] == 404
    assert refused.attributes["pathtolive.model"] == "nope"
    assert refused.status.status_code is StatusCode.UNSET  # the client's fault, not ours
    # Probes are not traced.
    assert {s.name for s in spans.all()} == {"POST /v1/models/{name}:predict"}


@pytest.mark.slow
def test_a_run_and_a_promotion_trace_their_steps_and_gates(
    cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates, spans: Spans
) -> None:
    # cancer@1 and risk-model@1, trained by a run of pipeline risk.
    workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")
    spans.clear()  # of the template's build, when this test is the first to ask for it
    ran = cli(
        "run", "risk", "--data", "cancer@1", "--param", "n_estimators=2", "--register", "risk-model"
    )
    assert ran.code == 0, ran.stderr
    promoted = cli("promote", "risk-model@2", "--json")
    assert promoted.code == 0, promoted.stderr

    (run,) = spans.named("pipeline.run")
    assert run.attributes is not None
    assert run.attributes["pathtolive.pipeline"] == "risk"
    assert run.attributes["pathtolive.run.status"] == "succeeded"
    assert run.attributes["pathtolive.model.version"] == "risk-model@2"
    steps = spans.children(run)
    assert steps, "the run has no step spans"
    assert {s.name for s in steps} == {"pipeline.step"}
    step_names = [s.attributes["pathtolive.step"] for s in steps if s.attributes]
    shown = cli("runs", "show", str(run.attributes["pathtolive.run_id"]), "--json").json()
    assert step_names == [step["name"] for step in shown["steps"]]
    assert {s.attributes["pathtolive.step.status"] for s in steps if s.attributes} == {"succeeded"}

    (promotion,) = spans.named("promotion")
    (check,) = spans.children(promotion)
    assert check.name == "gates.check"
    assert check.attributes is not None
    assert check.attributes["pathtolive.gates.passed"] is True
    gates = spans.children(check)
    report = promoted.json()["report"]
    assert [g.attributes["pathtolive.gate"] for g in gates if g.attributes] == [
        r["gate"] for r in report["results"]
    ]
    assert [g.attributes["pathtolive.gate.verdict"] for g in gates if g.attributes] == [
        r["verdict"] for r in report["results"]
    ]
    assert promotion.attributes is not None
    decided = promoted.json()["promotion"]
    assert promotion.attributes["pathtolive.promotion.policy"] == decided["policy"]
    assert promotion.attributes["pathtolive.promotion.status"] == decided["status"]
    # Every span of the command is in one trace.
    assert {s.context.trace_id for s in (promotion, check, *gates)} == {promotion.context.trace_id}


_OFF_PROBE = """
import json, sys
from fastapi.testclient import TestClient
from pathtolive import tracing
from pathtolive.service.workspace import open_workspace
from pathtolive.serving.app import create_app
from pathtolive.serving.settings import serve_settings

ctx = open_workspace()
app = create_app(ctx, serve_settings(ctx.settings.document))
with tracing.span("pipeline.run") as span, TestClient(app) as client:
    span.set_attribute("pathtolive.pipeline", "risk")
    tracing.annotate({"pathtolive.run_id": "r"})
    answered = client.post(
        "/v1/models/nope:predict",
        json={"instances": [{"a": 1}]},
        headers={"traceparent": sys.argv[1]},
    )
print("probe:" + json.dumps({
    "status": answered.status_code,
    "traceresponse": answered.headers.get("traceresponse"),
    "enabled": tracing.enabled(),
    "sdk": sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")),
}))
"""


@pytest.mark.subprocess
def test_with_tracing_off_nothing_loads_the_sdk(workspace: Path, cli_env: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _OFF_PROBE, f"00-{TRACE_ID}-{PARENT_ID}-01"],
        cwd=workspace,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.rpartition("probe:")[2])
    assert found["status"] == 404
    assert found["traceresponse"] is None
    assert found["enabled"] is False
    assert found["sdk"] == []


def test_tracing_on_without_the_extra_is_a_config_error_with_the_install_line(
    cli: CLI, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + '\n[tracing]\nexporter = "otlp"\n')
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)  # as if not installed

    listed = cli("data", "list")

    assert listed.code == 8
    assert listed.stderr.strip().count("\n") == 0
    assert "pip install 'pathtolive[tracing]'" in listed.stderr


@pytest.mark.subprocess
@pytest.mark.slow
def test_serve_exports_its_spans_by_otlp_to_the_configured_collector(
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    served = served_workspace()
    rows = served.features(2).to_dict(orient="records")
    config = served.root / "pathtolive.toml"
    with collector() as received:
        config.write_text(
            config.read_text()
            + f'\n[tracing]\nexporter = "otlp"\nendpoint = "{received.url}"\n'
            + 'service_name = "scoring"\n'
        )
        with running_server(served.root) as server:
            answered = httpx.post(
                f"{server.url}/v1/models/risk:predict",
                json={"instances": rows},
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
            )
        # Stopped: the server exported what it still held before it ended.
        spans = received.spans()

    assert answered.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    ((resource, span),) = spans
    assert resource["service.name"] == "scoring"
    assert span.name == "POST /v1/models/{name}:predict"
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_ID
    assert span.span_id.hex() == answered.headers["traceresponse"].split("-")[2]
