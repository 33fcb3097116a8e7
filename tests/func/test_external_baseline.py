"""An external baseline: the candidate judged against a model behind someone's endpoint.

The vendors are real servers on loopback: ``pathtolive serve`` (in a thread) serving a
strong model of the same data, and a small stub speaking a JSON of its own, reached
through an adapter in the candidate workspace's code.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive import Workspace
from pathtolive.gates.external import (
    ExternalBaseline,
    answers_to_predictions,
    protocol_answers,
    protocol_request,
)
from pathtolive.gates.external import request_rows as rows_of
from pathtolive.service.external_baseline import (
    ExternalBaselineFailed,
    ask_external_baseline,
    read_answers,
)
from pathtolive.service.workspace import open_workspace
from tests.support.serving import ThreadServer, cli_environ, free_port, serving_in_thread

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate

TOKEN = "vendor-bearer-7f3a9c1e5b"
TOKEN_ENV = "VENDOR_BEARER"  # a name the log redaction does not know, so nothing masks it

GATES = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
baseline = "external:vendor"
beat_baseline_by = 0.02
p95_latency_ms = 2000

[baselines.vendor]
url = "{url}"
{how}
batch_rows = 100
timeout_seconds = 5
retries = {retries}
backoff_seconds = 0.01
rate_limit_per_second = 200
token_env = "{token_env}"
"""

ADAPTER = '''
class Adapter:
    """The stub vendor's format: rows under "applicants", scores under "scores"."""

    def request(self, batch):
        return {"applicants": batch.to_dict("records")}

    def answers(self, body, rows):
        return [item["p_benign"] for item in body["scores"]]


adapter = Adapter()
'''


@dataclass
class Stub:
    """A vendor on loopback that scores at random (a weak model): with ``short`` it
    leaves out the last answer, with ``fail_first`` it answers the first request 503."""

    url: str
    short: bool = False
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def stub_vendor(**behaviour: Any) -> Iterator[Stub]:
    """The stub vendor in a thread, on a free loopback port."""
    port = free_port()
    stub = Stub(f"http://127.0.0.1:{port}/score", **behaviour)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stub.requests.append({"headers": dict(self.headers), "body": body})
            if len(stub.requests) <= stub.fail_first:
                self._send(503, {"error": "busy"})
                return
            applicants = body.get("applicants") or body.get("instances") or []
            scores = [
                random.Random(len(stub.requests) * 1000 + i).random()
                for i in range(len(applicants))
            ]
            if stub.short:
                self._send(200, {"predictions": scores[:-1]})
            else:
                self._send(200, {"scores": [{"p_benign": score} for score in scores]})

        def _send(self, status: int, answer: object) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def strong_vendor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    """``pathtolive serve`` playing the vendor: a model ``vendor``, a scaled logistic
    regression fitted on all of the breast-cancer data, live."""
    root = tmp_path_factory.mktemp("vendor") / "ws"
    frame = load_breast_cancer(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    with Workspace.init(root) as ws:
        ws.add_dataset(frame, "cancer")
        ws.register_model(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y),
            name="vendor",
            data="cancer@1",
            sample=x.head(50),
        )
        ws.set_alias("vendor@1", "live", override="test setup: the vendor's own model")
    with serving_in_thread(root, environ=cli_environ()) as server:
        yield server


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """A workspace with risk-model@1, one shallow tree on the breast-cancer data."""
    root = workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")
    (root / "vendor_adapter.py").write_text(ADAPTER)
    return root


def configure(root: Path, url: str, how: str, *, retries: int = 2) -> None:
    config = root / "pathtolive.toml"
    gates = GATES.format(url=url, how=how, retries=retries, token_env=TOKEN_ENV)
    config.write_text(config.read_text() + gates)


def check(cli: CLI, *extra: str, token: bool = True) -> tuple[int, dict[str, Any]]:
    environ = {TOKEN_ENV: TOKEN} if token else {}
    checked = cli("gates", "check", "risk-model@1", "--json", *extra, extra_env=environ)
    assert checked.stdout, checked.stderr
    assert TOKEN not in checked.stdout + checked.stderr
    report = checked.json()
    return checked.code, next(r for r in report["results"] if r["gate"] == "beat_baseline")


def test_a_weak_vendor_is_beaten_through_an_adapter_and_its_answers_are_kept(
    cli: CLI, candidate: Path
) -> None:
    with stub_vendor(fail_first=1) as stub:
        configure(candidate, stub.url, 'adapter = "vendor_adapter:adapter"')
        code, gate = check(cli)
        asked = len(stub.requests)
    assert code == 0, gate
    assert gate["verdict"] == "pass"
    external = gate["data"]["external"]
    assert external["url"] == stub.url
    assert external["speaks"] == "adapter vendor_adapter:adapter"
    assert external["reused"] is False
    # 143 holdout rows in batches of 100: two batches, the first tried twice (a 503).
    assert external["rows"] == 143
    assert external["requests"] == asked == 3
    assert [len(r["body"]["applicants"]) for r in stub.requests] == [100, 100, 43]
    assert {r["headers"]["Authorization"] for r in stub.requests} == {f"Bearer {TOKEN}"}

    # The answers are an object of the artifact store, named by the report's digest.
    ctx = open_workspace(candidate, environ=cli_environ())
    try:
        stored = read_answers(ctx, external["answers_digest"])
    finally:
        ctx.close()
    assert stored["key"] == external["key"]
    assert stored["holdout"]["rows"] == 143
    assert len(stored["answers"]) == 143
    assert stored["baseline"]["url"] == stub.url
    assert "Authorization" not in json.dumps(stored)

    # The audit trail names the answers the verdict rests on.
    events = cli("audit", "log", "--action", "gates.checked", "--json").json()
    assert (
        events[-1]["details"]["external_baseline"]["answers_digest"] == external["answers_digest"]
    )

    # The report names the object, so gc keeps it.
    collected = cli("gc", "--grace", "0", "--json")
    assert collected.code == 0, collected.stderr
    assert external["answers_digest"] not in collected.json()["removed_digests"]

    # Offline, the vendor (now gone) is not called: the same answers give the same figure.
    code, again = check(cli, "--offline")
    assert code == 0, again
    assert again["data"]["external"]["reused"] is True
    assert again["data"]["external"]["answers_digest"] == external["answers_digest"]
    assert again["figure"] == pytest.approx(gate["figure"])

    # The credential is in no byte the workspace kept: database, objects, logs.
    for path in (candidate / ".pathtolive").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_strong_vendor_served_by_pathtolive_refuses_the_candidate(
    cli: CLI, candidate: Path, strong_vendor: ThreadServer
) -> None:
    url = f"{strong_vendor.url}/v1/models/vendor:predict"
    configure(candidate, url, 'protocol = "kserve-v1"')
    code, gate = check(cli)
    assert code == 1
    assert gate["verdict"] == "fail"
    assert gate["figure"] < 0.02
    assert "external:vendor" in gate["detail"]
    assert gate["data"]["external"]["answers_digest"]
    assert gate["data"]["external"]["requests"] == 2


def test_the_three_protocols_read_the_same_answers_from_a_real_server(
    strong_vendor: ThreadServer,
) -> None:
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(7)
    columns, rows = list(frame.columns), rows_of(frame)
    urls = {
        "kserve-v1": f"{strong_vendor.url}/v1/models/vendor:predict",
        "mlflow": f"{strong_vendor.url}/invocations",
        "v2": f"{strong_vendor.url}/v2/models/vendor/infer",
    }
    found = {}
    for protocol, url in urls.items():
        answer = httpx.post(url, json=protocol_request(protocol, columns, rows), timeout=10)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
        answers = protocol_answers(protocol, answer.json(), len(rows), "binary")  # type: ignore[arg-type]
        found[protocol] = answers_to_predictions(answers, "binary", (0, 1)).proba
    assert found["kserve-v1"] is not None
    assert found["kserve-v1"].shape == (7, 2)
    np.testing.assert_allclose(found["mlflow"], found["kserve-v1"])
    np.testing.assert_allclose(found["v2"], found["kserve-v1"])


def test_an_unreachable_vendor_fails_the_gate_with_the_reason(cli: CLI, candidate: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/models/vendor:predict"
    configure(candidate, url, 'protocol = "kserve-v1"', retries=1)
    code, gate = check(cli)
    assert code == 1
    assert gate["verdict"] == "fail"
    assert url in gate["detail"]
    assert "could not be reached" in gate["detail"]
    assert "after 2 tries" in gate["detail"]
    assert "answers_digest" not in gate["data"]["external"]


def test_answers_of_the_wrong_count_fail_the_gate(cli: CLI, candidate: Path) -> None:
    with stub_vendor(short=True) as stub:
        configure(candidate, stub.url, 'protocol = "kserve-v1"')
        code, gate = check(cli)
    assert code == 1
    assert gate["verdict"] == "fail"
    assert stub.url in gate["detail"]
    assert "wrong shape: sent 100 rows but got 99 answers" in gate["detail"]


def test_without_its_token_or_recorded_answers_the_vendor_is_not_asked(
    candidate: Path,
) -> None:
    features = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(5)
    with stub_vendor() as stub:
        configure(candidate, stub.url, 'protocol = "kserve-v1"')
        ctx = open_workspace(candidate, environ=cli_environ())  # no VENDOR_BEARER
        try:
            vendor = ExternalBaseline.from_toml("vendor", ctx.settings.document)
            asked = {"task": "binary", "classes": (0, 1), "dataset": "cancer@1"}
            with pytest.raises(ExternalBaselineFailed, match=f"{TOKEN_ENV}.*is not set"):
                ask_external_baseline(ctx, vendor, features, **asked)  # type: ignore[arg-type]
            with pytest.raises(ExternalBaselineFailed, match="no answers are recorded"):
                ask_external_baseline(ctx, vendor, features, offline=True, **asked)  # type: ignore[arg-type]
        finally:
            ctx.close()
    assert stub.requests == []


def test_an_external_baseline_without_its_table_is_a_config_error(
    cli: CLI, candidate: Path
) -> None:
    config = candidate / "pathtolive.toml"
    config.write_text(
        config.read_text() + '[models.risk-model.gates]\nbaseline = "external:nowhere"\n'
    )
    checked = cli("gates", "check", "risk-model@1")
    assert checked.code != 0
    assert checked.code != 1  # a configuration error, not a failed gate
    assert "[baselines.nowhere]" in checked.stderr
