"""`pathtolive monitor` on the real server's prediction log: drift, decay, alerts, the
webhook, the HTML report and /metrics."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
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
