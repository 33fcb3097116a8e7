"""The shipped rules in a real Prometheus: it scrapes two serving replicas of one
workspace, and the drift rule fires when `monitor` opens a drift alert and clears when
`monitor` clears it. Needs Debian's prometheus package (skips without it, fails in CI)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.service.predictions import read_prediction_log
from tests.support.cli import run_in_process
from tests.support.prometheus import Prometheus, executable, running_prometheus
from tests.support.serving import (
    FEATURES,
    RunningServer,
    ServedWorkspace,
    cli_environ,
    risk_frame,
    running_servers,
)

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.prometheus]

T = TypeVar("T")

ROWS_PER_REQUEST = 20
REQUESTS = 15
"""Per phase: 300 rows, enough for the monitor's ``min_rows``."""
DRIFT = "PathtoliveDriftAlertOpen"
SETTINGS = """
[serve]
log_flush_seconds = 0.2

[models.risk.monitoring]
min_rows = 200
"""


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """``probe()``'s first answer that is not None, polled every 0.1 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def send(replicas: list[RunningServer], frame: pd.DataFrame, token: str) -> None:
    """``frame``'s rows in requests of ``ROWS_PER_REQUEST``, to the replicas in turn."""
    records = frame[list(FEATURES)].to_dict(orient="records")
    with httpx.Client(headers={"authorization": f"Bearer {token}"}) as client:
        for number, start in enumerate(range(0, len(records), ROWS_PER_REQUEST)):
            replica = replicas[number % len(replicas)]
            answer = client.post(
                f"{replica.url}/v1/models/risk:predict",
                json={"instances": records[start : start + ROWS_PER_REQUEST]},
            )
            assert answer.status_code == 200, answer.text


def monitor_after(root: Path, logged: int) -> Any:
    """`pathtolive monitor risk` on the last phase's requests, once ``logged`` rows are in
    the log (each replica flushes every 0.2 s)."""

    def enough() -> bool | None:
        with Workspace.open(root, environ=cli_environ()) as ws:
            return len(read_prediction_log(ws.context, "risk")) >= logged or None

    eventually(enough, f"{logged} rows in the prediction log")
    result = run_in_process(
        ["monitor", "risk", "--last", str(REQUESTS), "--json"], cwd=root, environ=cli_environ()
    )
    assert result.code == 0, result.stderr
    return result.json()


def _answered(prometheus: Prometheus) -> list[float]:
    """The requests to ``risk`` each replica answered, as Prometheus last scraped them."""
    query = 'sum by (instance) (pathtolive_requests_total{model="risk"})'
    result = prometheus.get("/api/v1/query", query=query)["result"]
    return sorted(float(series["value"][1]) for series in result)


def drift_alerts(prometheus: Prometheus) -> list[dict[str, Any]]:
    return [a for a in prometheus.alerts(DRIFT) if a["labels"]["kind"] == "drift"]


def test_the_drift_rule_fires_while_a_drift_alert_is_open_on_two_replicas(
    tmp_path: Path, served_workspace: Callable[..., ServedWorkspace]
) -> None:
    executable("prometheus")  # before the servers start: a skip costs nothing
    served = served_workspace()
    with (served.root / "pathtolive.toml").open("a") as settings:
        settings.write(SETTINGS)
    steady = risk_frame(REQUESTS * ROWS_PER_REQUEST, seed=11)
    shifted = risk_frame(REQUESTS * ROWS_PER_REQUEST, seed=12)
    shifted["age"] = shifted["age"] + 25
    shifted["region"] = np.where(np.arange(len(shifted)) % 4 == 0, shifted["region"], "NW")
    rows = len(steady)

    # With --auth, as beyond loopback: Prometheus scrapes with a viewer's token.
    created = run_in_process(
        ["tokens", "create", "--user", "prometheus", "--role", "viewer", "--json"],
        cwd=served.root,
        environ=cli_environ(),
    )
    assert created.code == 0, created.stderr
    token = created.json()["secret"]

    with (
        running_servers(served.root, 2, "--auth") as replicas,
        running_prometheus(
            tmp_path / "prometheus",
            [replica.url.removeprefix("http://") for replica in replicas],
            token,
        ) as prometheus,
    ):
        assert httpx.get(f"{replicas[0].url}/metrics").status_code == 401
        send(replicas, steady, token)
        calm = monitor_after(served.root, rows)
        assert calm["alerts"] == []

        # Both replicas are scraped, and every rule evaluates on what they export.
        half = REQUESTS // 2
        eventually(
            lambda: _answered(prometheus) == [half, REQUESTS - half] or None,
            "both replicas scraped",
        )
        groups = prometheus.get("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) >= 20
        assert {(rule["name"], rule["health"]) for rule in rules if rule["health"] != "ok"} == set()
        assert drift_alerts(prometheus) == []

        send(replicas, shifted, token)
        moved = monitor_after(served.root, 2 * rows)
        opened = sorted(a["key"] for a in moved["alerts"] if a["kind"] == "drift")
        assert opened == ["drift:age", "drift:region"]

        # The recording rules add both replicas up, per model.
        def requests_per_second() -> list[dict[str, Any]] | None:
            if _answered(prometheus) != [2 * half, 2 * (REQUESTS - half)]:
                return None
            query = "model:pathtolive_requests:rate5m"
            found: list[dict[str, Any]] = prometheus.get("/api/v1/query", query=query)["result"]
            return found if found and float(found[0]["value"][1]) > 0 else None

        (rate,) = eventually(requests_per_second, "both replicas' requests in the rate")
        assert rate["metric"] == {"__name__": "model:pathtolive_requests:rate5m", "model": "risk"}

        def firing() -> list[dict[str, Any]] | None:
            found = drift_alerts(prometheus)
            return found if found and found[0]["state"] == "firing" else None

        (alert,) = eventually(firing, f"{DRIFT} firing")  # one, though two replicas export it
        assert alert["labels"] == {
            "alertname": DRIFT,
            "model": "risk",
            "kind": "drift",
            "severity": "warning",
        }
        assert float(alert["value"]) == len(opened)
        assert "risk" in alert["annotations"]["summary"]

        send(replicas, risk_frame(rows, seed=13), token)
        calm_again = monitor_after(served.root, 3 * rows)
        assert [a for a in calm_again["alerts"] if a["kind"] == "drift"] == []
        eventually(lambda: drift_alerts(prometheus) == [] or None, f"{DRIFT} cleared")
