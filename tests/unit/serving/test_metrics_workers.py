"""Metrics of several worker processes sharing a folder (prometheus_client's multiprocess
mode): counters add up over every worker, gauges only over the live ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pathtolive.serving.metrics import MULTIPROCESS_DIR

# A worker: counts 3 requests and says it is ready, then exits without a clean stop.
WORKER = """
from pathtolive.serving.metrics import ServerMetrics
metrics = ServerMetrics()
metrics.requests.labels("risk", "1", "v1", "live", "200").inc(3)
metrics.ready.set(1)
metrics.set_serving([("risk", "1", "live")])
"""
# The worker that answers the scrape: counts 2 requests of its own.
SCRAPE = """
from pathtolive.serving.metrics import ServerMetrics
metrics = ServerMetrics()
metrics.requests.labels("risk", "1", "v1", "live", "200").inc(2)
metrics.ready.set(0)
print(metrics.render().decode())
"""


def _run(code: str, folder: Path) -> str:
    environ = {**os.environ, MULTIPROCESS_DIR: str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_dead_workers_counts_stay_and_its_gauges_leave(tmp_path: Path) -> None:
    _run(WORKER, tmp_path)
    text = _run(SCRAPE, tmp_path)
    lines = text.splitlines()
    requests = (
        'pathtolive_requests_total{model="risk",protocol="v1",role="live",status="200",version="1"}'
    )
    assert f"{requests} 5.0" in lines  # both workers' requests
    # The dead worker's "ready" and "serving" are gone: only the live worker's remain.
    assert "pathtolive_ready 0.0" in lines
    assert not any(line.startswith("pathtolive_model_serving{") for line in lines)
