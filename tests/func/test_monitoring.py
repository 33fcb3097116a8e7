"""`pathtolive monitor` on the real server's prediction log: drift, decay, alerts, the
webhook, the HTML report and /metrics."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from pathtolive.monitoring.webhook import verify
from tests.support.cli import run_in_process
from tests.support.serving import (
    FEATURES,
    ServedWorkspace,
    cli_environ,
    risk_frame,
    serving_in_thread,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitoring")]

SECRET = "s3cret-for-tests"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append((body, dict(self.headers.items())))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def _send(url: str, frame: pd.DataFrame, client: httpx.Client) -> list[str]:
    ids = []
    for record in json.loads(frame[list(FEATURES)].to_json(orient="records")):
        response = client.post(f"{url}/v1/models/risk:predict", json={"instances": [record]})
        assert response.status_code == 200, response.text
        ids.append(response.headers["x-request-id"])
    return ids


def _monitor(root: Path, *args: str) -> Any:
    completed = run_in_process(
        ["monitor", "risk", *args, "--json"],
        cwd=root,
        environ=cli_environ(**{env.ALERT_WEBHOOK_SECRET: SECRET}),
    )
    assert completed.code == 0, completed.stderr
    return completed.json()


def test_a_shifted_stream_raises_drift_alerts_naming_the_shifted_features(
    tmp_path: Path,
    hook: tuple[str, list[tuple[bytes, dict[str, str]]]],
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    url_hook, received = hook
    served = served_workspace()
    config = served.root / "pathtolive.toml"
    config.write_text(
        config.read_text()
        + "\n[serve]\nlog_flush_seconds = 0.2\n"
        + f'\n[models.risk.monitoring]\nmin_rows = 200\nalert_webhook = "{url_hook}"\n'
    )
    steady = risk_frame(300, seed=11)
    shifted = risk_frame(300, seed=12)
    shifted["age"] = shifted["age"] + 25
    shifted["region"] = np.where(np.arange(300) % 4 == 0, shifted["region"], "NW")
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        _send(server.url, steady, client)
        _wait_logged(served.root, 300)
        calm = _monitor(served.root, "--last", "300")
        assert calm["drift"]["drifted"] == []
        assert calm["alerts"] == []
        _send(server.url, shifted, client)
        _wait_logged(served.root, 600)
        report_path = tmp_path / "drift.html"
        moved = _monitor(served.root, "--last", "300", "--report", str(report_path))
        metrics = httpx.get(f"{server.url}/metrics").text
    assert sorted(moved["drift"]["drifted"]) == ["age", "region"]
    ranked = [f["feature"] for f in moved["drift"]["features"]]
    assert set(ranked[:2]) == {"age", "region"}
    keys = sorted(alert["key"] for alert in moved["alerts"])
    assert [k for k in keys if k.startswith("drift:")] == ["drift:age", "drift:region"]
    assert 'pathtolive_alerts_open{kind="drift",model="risk"} 2.0' in metrics
    # Scraped once the monitor had delivered them: nothing waits in the outbox.
    assert "# TYPE pathtolive_alert_outbox_pending gauge" in metrics
    assert 'pathtolive_alert_outbox_pending{model="risk"}' not in metrics
    # The webhook got each new alert once, signed with the shared secret.
    drift_posts = [json.loads(body) for body, _ in received]
    assert sorted(p["alert"]["key"] for p in drift_posts if p["alert"]["kind"] == "drift") == [
        "drift:age",
        "drift:region",
    ]
    for body, headers in received:
        headers = {k.lower(): v for k, v in headers.items()}
        assert verify(
            body,
            headers["x-pathtolive-timestamp"],
            headers["x-pathtolive-signature"],
            SECRET.encode(),
        )
    # Running the monitor again keeps the alerts open without sending them again.
    again = _monitor(served.root, "--last", "300")
    assert sorted(a["alert_id"] for a in again["alerts"]) == sorted(
        a["alert_id"] for a in moved["alerts"]
    )
    assert len(received) == len(drift_posts)
    assert {a["delivery"]["state"] for a in again["alerts"]} == {"delivered"}
    assert {a["delivery"]["id"] for a in again["alerts"]} == {
        {k.lower(): v for k, v in headers.items()}["x-pathtolive-delivery"]
        for _, headers in received
    }
    html = report_path.read_text()
    assert "<svg" in html
    assert "http://" not in html
    assert "https://" not in html
    # Back to the old distribution: the drift alerts clear.
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        _send(server.url, risk_frame(300, seed=13), client)
        _wait_logged(served.root, 900)
    calm_again = _monitor(served.root, "--last", "300")
    assert [a for a in calm_again["alerts"] if a["kind"] == "drift"] == []


def test_feedback_with_falling_accuracy_raises_a_decay_alert(
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    served = served_workspace()
    config = served.root / "pathtolive.toml"
    config.write_text(
        config.read_text()
        + "\n[serve]\nlog_flush_seconds = 0.2\n"
        + '\n[models.risk.monitoring]\nmin_rows = 200\nmetric = "accuracy"\ndecay_drop = 0.05\n'
    )
    live = risk_frame(400, seed=21)
    model = served.models[1]
    predicted = model.predict(live[list(FEATURES)])
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        ids = _send(server.url, live, client)
        # The world moved: the truth now disagrees with the model on 40% of requests.
        truth = np.where(np.arange(400) % 5 < 2, 1 - predicted, predicted)
        for request_id, label in zip(ids, truth, strict=True):
            response = client.post(
                f"{server.url}/v1/models/risk/feedback",
                json={"request_id": request_id, "label": int(label)},
            )
            assert response.status_code == 201, response.text
        _wait_logged(served.root, 400)
    report = _monitor(served.root, "--window", "1h")
    decay = report["decay"]
    assert decay["decayed"] is True
    assert decay["latest"] == pytest.approx(0.6, abs=0.02)
    assert "accuracy" in decay["reason"]
    assert [a["key"] for a in report["alerts"] if a["kind"] == "decay"] == ["decay:accuracy"]


def _wait_logged(root: Path, rows: int) -> None:
    """Wait until the server's log thread has written ``rows`` rows (it flushes every
    0.2 s here)."""
    from pathtolive import Workspace
    from pathtolive.service.predictions import read_prediction_log

    for _ in range(600):
        with Workspace.open(root) as ws:
            if len(read_prediction_log(ws.context, "risk")) >= rows:
                return
        threading.Event().wait(0.1)
    raise AssertionError(f"the log never reached {rows} rows")


def _contacts(rows: int, seed: int) -> pd.DataFrame:
    """Applicants with a phone number (60 numbers, each on several rows, so the profile
    keeps them all as categories) and a numeric postcode."""
    frame = risk_frame(rows, seed=seed)
    rng = np.random.default_rng(seed)
    frame["phone"] = [f"+44 7700 9{n:05d}" for n in rng.integers(0, 60, rows)]
    frame["postcode"] = rng.integers(10_000, 99_999, rows)
    return frame


PHONES = [f"+44 7700 9{n:05d}" for n in range(60)]


def test_columns_declared_pii_at_serve_time_show_counts_only_everywhere(
    tmp_path: Path,
) -> None:
    """``[serve] pii_columns`` makes a column PII in every report, as a pii tag does: the
    drift reference, the monitoring report, the model card, data show and data diff show
    no value of it, though the dataset's profile was stored before it was declared."""
    from sklearn.linear_model import LogisticRegression

    from pathtolive import Workspace
    from tests.support.serving import risk_pipeline

    root = tmp_path / "ws"
    data = _contacts(600, seed=31)
    inputs = [*FEATURES, "phone", "postcode"]
    model = risk_pipeline(LogisticRegression(max_iter=500))
    # The phone and postcode reach the model's signature but not its features.
    model.set_params(pre__remainder="drop")
    model.set_params(
        pre__transformers=[
            ("region", model.named_steps["pre"].transformers[0][1], ["region"]),
            ("numbers", "passthrough", ["age", "income"]),
        ]
    )
    model.fit(data[inputs], data["at_risk"])
    with Workspace.init(root) as ws:
        ws.add_dataset(data, "contacts")
        # Version 2: the same people, half of them calling from the first number.
        moved = data.assign(phone=np.where(np.arange(600) % 2 == 0, PHONES[0], data["phone"]))
        ws.add_dataset(moved, "contacts")
        ws.register_model(model, name="risk", data="contacts@1", sample=data[inputs].head(200))
        ws.set_alias("risk@1", "live", override="test setup: no gates to run")
    config = root / "pathtolive.toml"
    config.write_text(
        config.read_text()
        + '\n[serve]\nlog_flush_seconds = 0.2\npii = "redact"\n'
        + 'pii_columns = ["phone", "postcode"]\n'
        + "\n[models.risk.monitoring]\nmin_rows = 50\n"
    )
    live = _contacts(100, seed=33)
    with serving_in_thread(root) as server, httpx.Client() as client:
        for record in json.loads(live[inputs].to_json(orient="records")):
            response = client.post(
                f"{server.url}/v1/models/risk:predict", json={"instances": [record]}
            )
            assert response.status_code == 200, response.text
        _wait_logged(root, 100)
    report_path = tmp_path / "report.html"
    report = _monitor(root, "--last", "100", "--report", str(report_path))
    compared = {feature["feature"] for feature in report["drift"]["features"]}
    assert compared == {"age", "income", "region", "member"}

    def run(*args: str | Path) -> str:
        completed = run_in_process(args, cwd=root, environ=cli_environ())
        assert completed.code == 0, completed.stderr
        return completed.stdout

    run("models", "card", "risk@1", "--out", tmp_path / "card")
    card = (tmp_path / "card" / "risk-v1.md").read_text()
    shown = {
        "monitor --json": json.dumps(report),
        "the HTML report": report_path.read_text(),
        "the model card": card + (tmp_path / "card" / "risk-v1.html").read_text(),
        "data show": run("data", "show", "contacts@1", "--json"),
        "data diff": run("data", "diff", "contacts@1", "contacts@2", "--json")
        + run("data", "diff", "contacts@1", "contacts@2"),
    }
    for where, text in shown.items():
        leaked = [phone for phone in PHONES if phone in text]
        assert leaked == [], f"{where} shows raw phone numbers: {leaked[:3]}"
    # A contract broken by a PII column is told by counts: no value, no bound. (An
    # inferred range only reports; a declared one refuses.)
    bound = int(data["postcode"].max())
    with (root / "pathtolive.toml").open("a", encoding="utf-8") as config:
        config.write(f"\n[datasets.contacts.columns.postcode]\nmax = {bound}\n")
    beyond = data.assign(postcode=99_999)
    beyond.to_csv(tmp_path / "beyond.csv", index=False)
    refused = run_in_process(
        ["data", "add", tmp_path / "beyond.csv", "--name", "contacts", "--json"],
        cwd=root,
        environ=cli_environ(),
    )
    assert refused.code == 5, refused.stderr
    assert "postcode" in refused.stderr
    kept = run("data", "add", tmp_path / "beyond.csv", "--name", "contacts", "--policy", "warn")
    shown_warned = run("data", "show", "contacts@3", "--json")
    for text in (refused.stdout + refused.stderr, kept, shown_warned):
        numbers = {int(n) for n in re.findall(r"(?<![\d.])\d+(?![\d.])", text)}
        assert {99_999, bound} & numbers == set()
    # The postcode keeps its counts, not its mean and range, as a pii tag keeps it.
    postcode_row = next(line for line in card.splitlines() if line.startswith("| postcode"))
    assert "…" not in postcode_row
    assert "pii" in postcode_row
    profile = json.loads(shown["data show"])["profile"]
    postcode = next(c for c in profile["columns"] if c["name"] == "postcode")
    assert postcode["numeric"] is None
    assert postcode["count"] == 600


def _store_importance(root: Path) -> dict[str, float]:
    """What the explainability gate keeps for risk@1: its real attributions on the
    training data, in a gate report (risk@1 was registered without a run, so the gates
    cannot find its holdout). Returns each input's share."""
    from pathtolive import Workspace
    from pathtolive.gates import GateResult
    from pathtolive.service import models as model_service
    from pathtolive.service.explain import mean_absolute_attributions

    with Workspace.open(root) as ws:
        ctx = ws.context
        model = model_service.load_model(ctx, model_service.model_version(ctx, "risk@1"))
        importance = mean_absolute_attributions(model, risk_frame(600)[list(FEATURES)])
        assert importance is not None
        result = GateResult.passing(
            "explainability", "feature attributions were computed", data={"importance": importance}
        )
        with ctx.metadata.write() as session:
            session.insert_gate_report(
                "risk",
                1,
                passed=True,
                report={"metric": "accuracy", "results": [result.to_dict()]},
                at=datetime.now(UTC),
                by="ada",
            )
    total = sum(importance.values())
    return {name: value / total for name, value in importance.items()}


def test_drift_in_a_feature_that_matters_little_is_reported_but_not_alerted(
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    """The region carries about a tenth of risk@1's attribution. With min_weighted_drift
    0.2 its drift is reported (beside its importance) and opens no alert; at 0.05 the
    same window alerts, and the alert keeps the weighted drift for the controller."""
    served = served_workspace()
    shares = _store_importance(served.root)
    assert shares["region"] < 0.2 < shares["age"] + shares["income"]
    config = served.root / "pathtolive.toml"
    settings = config.read_text() + "\n[serve]\nlog_flush_seconds = 0.2\n"
    monitoring = "\n[models.risk.monitoring]\nmin_rows = 200\nmin_weighted_drift = {}\n"
    config.write_text(settings + monitoring.format(0.2))
    shifted = risk_frame(300, seed=12)
    shifted["region"] = np.where(np.arange(300) % 4 == 0, shifted["region"], "NW")
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        _send(server.url, shifted, client)
        _wait_logged(served.root, 300)
    quiet = _monitor(served.root, "--last", "300")
    drift = quiet["drift"]
    assert drift["drifted"] == ["region"]
    region = next(f for f in drift["features"] if f["feature"] == "region")
    assert region["rule"] == "effect+significance"
    assert region["importance"] == pytest.approx(shares["region"], rel=1e-6)
    assert drift["weighted_drift"] == pytest.approx(shares["region"], rel=1e-6)
    assert quiet["drift_alerting"]["alerts"] is False
    assert quiet["drift_alerting"]["min_weighted_drift"] == 0.2
    assert "reported, not alerted" in quiet["drift_alerting"]["reason"]
    assert [a for a in quiet["alerts"] if a["kind"] == "drift"] == []
    text = run_in_process(
        ["monitor", "risk", "--last", "300", "--no-alerts"], cwd=served.root, environ=cli_environ()
    )
    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith("Rule effect+significance: a feature drifts") for line in lines)
    (weighted,) = [line for line in lines if line.startswith("importance-weighted drift: ")]
    # The figure the JSON gives, as printed (three significant digits).
    assert float(weighted.split()[2]) == pytest.approx(drift["weighted_drift"], abs=5e-4)
    assert any(line.startswith("drift alerts: the drifted features carry") for line in lines)
    assert any(line.strip().startswith("region: large effect (") for line in lines)

    config.write_text(settings + monitoring.format(0.05))
    loud = _monitor(served.root, "--last", "300")
    assert loud["drift_alerting"]["alerts"] is True
    [alert] = [a for a in loud["alerts"] if a["kind"] == "drift"]
    assert alert["key"] == "drift:region"
    assert alert["details"]["weighted_drift"] == pytest.approx(shares["region"], rel=1e-6)
    assert alert["details"]["rule"] == "effect+significance"
