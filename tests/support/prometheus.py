"""A real Prometheus (and its promtool) for the tests of the shipped rules: Debian's
``prometheus`` package, which ``.ci/run`` installs when it is missing.

Without it a test skips and says why, except in CI (``CI=true``), where it fails: the
rules must be proven there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pathtolive.monitoring.prometheus import prometheus_rules
from tests.support.serving import RunningServer, free_port, stop_server, wait_answering

__all__ = ["EXAMPLE_CONFIG", "Prometheus", "configure", "executable", "running_prometheus"]

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.yml"
"""The configuration the repository gives as an example: scrape the replicas, load the
rules."""


def executable(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; a skip without it (a failure in CI)."""
    found = shutil.which(name)
    if found is None:
        message = f"no {name}: install Debian's prometheus package (apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Prometheus:
    server: RunningServer
    """Its URL, its process and its log."""

    def get(self, path: str, **params: str) -> Any:
        """The ``data`` of an answer of the HTTP API (``/api/v1/...``)."""
        answer = httpx.get(f"{self.server.url}{path}", params=params, timeout=5)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """The active alerts (pending or firing) called ``name``."""
        return [a for a in self.get("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]


def configure(folder: Path, targets: Sequence[str], token: str) -> Path:
    """The repository's example configuration (``deploy/prometheus/prometheus.yml``) in
    ``folder``, beside the shipped rules, as a user adapts it: the replicas' addresses,
    the token in a file of its own, and a scrape and an evaluation every second."""
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": list(targets)}]
    token_file = folder / "pathtolive-token"
    token_file.write_text(token)
    job["authorization"]["credentials_file"] = str(token_file)
    (folder / config["rule_files"][0]).write_text(prometheus_rules())
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_prometheus(folder: Path, targets: Sequence[str], token: str) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port with the shipped rules, scraping ``targets``
    (``host:port``) with ``token`` (see :func:`configure`); its storage in ``folder``.
    Stopped when the block ends."""
    binary = executable("prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config = configure(folder, targets, token)
    port = free_port()
    log_path = folder / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_answering(server, "/-/ready")
        yield Prometheus(server)
    finally:
        stop_server(server, signal.SIGTERM)
