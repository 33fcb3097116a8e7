"""A workspace with served models, and the real server: in a thread of this process, or
as a subprocess for what only a process shows (signals, workers, crashes)."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pathtolive import Workspace, env
from tests.support.environ import without_settings

REGIONS = ("NE", "NW", "SE", "SW")
FEATURES = ("age", "income", "region", "member")


def risk_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Loan applicants: risk rises with age and falls with income, and the NW region is
    riskier; ``at_risk`` is the label."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = np.round(rng.normal(50_000, 15_000, rows), 2)
    region = rng.choice(REGIONS, rows)
    member = rng.random(rows) < 0.4
    score = 0.05 * (age - 50) - (income - 50_000) / 10_000 + 1.5 * (region == "NW") - member
    at_risk = (score + rng.normal(0, 1, rows) > 0).astype(int)
    return pd.DataFrame(
        {"age": age, "income": income, "region": region, "member": member, "at_risk": at_risk}
    )


def risk_pipeline(estimator: object) -> Pipeline:
    pre = ColumnTransformer(
        [("region", OneHotEncoder(handle_unknown="ignore"), ["region"])],
        remainder=StandardScaler(),
    )
    return Pipeline([("pre", pre), ("model", estimator)])


@dataclass
class ServedWorkspace:
    root: Path
    data: pd.DataFrame
    models: dict[int, Pipeline]
    """risk@1: gradient boosting; risk@2: logistic regression."""

    def features(self, rows: int = 5, start: int = 0) -> pd.DataFrame:
        return self.data.loc[start : start + rows - 1, list(FEATURES)].reset_index(drop=True)


def make_served_workspace(root: Path, *, cancer: bool = False) -> ServedWorkspace:
    """A workspace whose model ``risk`` has two versions, @1 live; with ``cancer`` also a
    model ``cancer`` (30 float inputs, scikit-learn's breast cancer set) live at @1."""
    data = risk_frame(600)
    features, label = data[list(FEATURES)], data["at_risk"]
    boosted = risk_pipeline(GradientBoostingClassifier(n_estimators=30, random_state=0))
    linear = risk_pipeline(LogisticRegression(max_iter=500))
    boosted.fit(features, label)
    linear.fit(features, label)
    with Workspace.init(root) as ws:
        ws.add_dataset(data, "risk-data")
        for model in (boosted, linear):
            ws.register_model(
                model,
                name="risk",
                data="risk-data@1",
                sample=features.head(200),
                metrics={"accuracy": float(model.score(features, label))},
            )
        ws.set_alias("risk@1", "live", override="test setup: no gates to run")
        if cancer:
            frame = load_breast_cancer(as_frame=True).frame
            frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
            x, y = frame.drop(columns="target"), frame["target"]
            ws.add_dataset(frame, "cancer-data")
            ws.register_model(
                make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y),
                name="cancer",
                data="cancer-data@1",
                sample=x.head(100),
            )
            ws.set_alias("cancer@1", "live", override="test setup: no gates to run")
    return ServedWorkspace(root, data, {1: boosted, 2: linear})


def copy_served(template: ServedWorkspace, root: Path) -> ServedWorkspace:
    """A copy of ``template``'s workspace at ``root``, with the template's fitted models
    (read them, do not refit them)."""
    shutil.copytree(template.root, root)
    return dataclasses.replace(template, root=root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_environ(**extra: str) -> dict[str, str]:
    environ = without_settings()
    environ[env.USER] = "ada"
    environ.update(extra)
    return environ


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()


@contextmanager
def running_server(
    root: Path,
    *args: str,
    environ: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> Iterator[RunningServer]:
    """``pathtolive serve`` in ``root`` on a free loopback port, polling the registry
    every 0.2 s; stopped with SIGINT (a clean shutdown) when the block ends."""
    with running_servers(root, 1, *args, environ=environ, wait_ready=wait_ready) as (server,):
        yield server


@contextmanager
def running_servers(
    root: Path,
    count: int,
    *args: str,
    environ: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> Iterator[list[RunningServer]]:
    """``count`` replicas of :func:`running_server` on the one workspace ``root``, started
    together (their start-ups overlap) and each on a port of its own."""
    servers: list[RunningServer] = []
    try:
        for _ in range(count):
            servers.append(_start_server(root, args, environ or cli_environ()))
        for server in servers:
            wait_answering(server, "/health/ready" if wait_ready else "/health/live")
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def _start_server(root: Path, args: Sequence[str], environ: dict[str, str]) -> RunningServer:
    port = free_port()
    stderr_path = root / f"serve-{port}.log"
    command: Sequence[str] = [
        sys.executable, "-m", "pathtolive", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--poll-interval", "0.2", *args,
    ]  # fmt: skip
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    return RunningServer(f"http://127.0.0.1:{port}", process, stderr_path)


def stop_server(server: RunningServer, stop: signal.Signals = signal.SIGINT) -> int:
    if server.process.poll() is None:
        server.process.send_signal(stop)
        try:
            server.process.wait(60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


def wait_answering(server: RunningServer, path: str) -> None:
    """Until ``path`` answers 200 (at most 90 s); the server's log if it exits first."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{server.stderr()}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server was not ready within 90 s:\n{server.stderr()}")


@dataclass
class ThreadServer:
    url: str


@contextmanager
def serving_in_thread(
    root: Path, *, environ: dict[str, str] | None = None, wait_ready: bool = True, **flags: Any
) -> Iterator[ThreadServer]:
    """The app ``pathtolive serve`` runs, on uvicorn in a thread of this process, on a free
    loopback port, polling the registry every 0.2 s; ``flags`` are the settings the serve
    command's options set (``auth=True``, ``log_predictions=False``, …); with
    ``wait_ready=False`` the block starts once the server is up, loaded or not. The block's end
    stops it as Ctrl-C does: requests in flight finish, the log is flushed, the stop is
    audited."""
    import uvicorn

    from pathtolive.service.workspace import open_workspace
    from pathtolive.serving.app import create_app
    from pathtolive.serving.server import GracefulServer
    from pathtolive.serving.settings import serve_settings

    ctx = open_workspace(root, environ=environ or cli_environ())
    port = free_port()
    settings = serve_settings(
        ctx.settings.document, host="127.0.0.1", port=port, poll_interval=0.2, **flags
    )
    config = uvicorn.Config(
        create_app(ctx, settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=None,  # leave this process's logging as it is
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    server = GracefulServer(config)
    thread = threading.Thread(target=server.run, name=f"server-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _ready(url, "/health/ready" if wait_ready else "/health/live"):
            if not thread.is_alive():
                raise AssertionError("the server thread ended before it was ready")
            if time.monotonic() > deadline:
                raise AssertionError("the server was not ready within 90 s")
            time.sleep(0.05)
        yield ThreadServer(url)
    finally:
        server.should_exit = True
        thread.join(90)
        ctx.close()
    # Checked only when the block ended normally, so it never hides the test's own error.
    assert not thread.is_alive(), "the server did not stop within 90 s"


def _ready(url: str, path: str = "/health/ready") -> bool:
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
