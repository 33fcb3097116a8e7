"""Online serving: `pathtolive serve` vs its peers, same model, same load.

Usage:  .venv/bin/python benchmarks/serving.py [--model gbc|logreg|both] [--seconds 6]
            [--rounds 2] [--peers mlflow,bentoml,floor] [--workers 1] [--quick]
            [--json-out FILE]

In one run, for each model (a scikit-learn GradientBoostingClassifier with 100 trees, and a
LogisticRegression, where the server rather than the model is the cost), all fitted on
the same 20-feature table, and each peer chosen by --peers (all three by default):
  * pathtolive: a fresh workspace under benchmarks/.work, the model registered (with a
    sample, so it has a signature) and aliased ``live``, served by ``pathtolive serve``
    with its defaults;
  * ``mlflow``: MLflow, installed in a throw-away venv under benchmarks/.work with the
    same scikit-learn: the same fitted model (pickled across) saved by ``mlflow.sklearn.
    save_model`` with ``pyfunc_predict_fn="predict_proba"`` and an inferred signature, so
    both servers answer class probabilities; served by ``mlflow models serve
    --env-manager local`` with its defaults (one uvicorn worker; the venv's bin first on
    PATH, for uvicorn). A second MLflow server serves the model saved without a
    signature: MLflow then checks no input, its fastest case;
  * ``bentoml``: BentoML, in a throw-away venv of its own with the same scikit-learn,
    ``bentoml serve`` of a service wrapping the pickled model with the adaptive batching
    its documentation recommends (benchmarks/peers/bentoml_service.py), as many workers
    as pathtolive, no access log line per request (pathtolive writes none);
  * ``floor``: the hand-written FastAPI + NumPy server a competent engineer would write
    in an afternoon (benchmarks/peers/fastapi_floor.py), in this venv, as many uvicorn
    workers as pathtolive.
Every server answers one request first, whose probabilities are checked against the
model's own in this process. Then one load generator (asyncio over uvloop, one HTTP/1.1
keep-alive connection per concurrent client, requests encoded beforehand, latency from
the request's first byte written to its response's last byte read, every status checked)
sends each server the same rows: ``POST /invocations`` with a ``dataframe_split`` body to
pathtolive, MLflow and the floor, ``POST /predict`` with ``{"data": rows}`` to BentoML.
The servers take turns round by round: single rows at concurrency 1 and 16, and
1000-row batches. pathtolive's own ``:predict`` route, a second pathtolive
server with a shadow version deployed (``pathtolive deploy --shadow``; single rows at
concurrency 1, back to back and paced at 100 req/s, alternating with the server without
one), and a null HTTP server (a constant answer: the floor of this client and loopback on
this machine) are measured too. Server CPU per request is read from /proc for each
server's process tree. It prints req/s, p50 and p99, the ratios, the targets ("met" or
"not met"), and a Markdown block for benchmarks/RESULTS.md; --json-out FILE also writes
the ratios for `pathtolive bench`.

The whole comparison (both models, all peers, the defaults) takes about 9 minutes on 2
cores: 8 s of load and warm-up per scenario and server, 5 servers in the main scenarios,
and a minute or two per model to fit it and start the servers. --quick takes about 5;
the peers' first install a few minutes more.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, peer_venv

from pathtolive.benchmarking import Ratio, write_results

ROWS = 10_000
FEATURES = 20
TREES = 100
BATCH_ROWS = 1_000
DISTINCT_REQUESTS = 64  # single-row requests cycle through this many different rows
MLFLOW_VERSION = "3.17.2"
BENTOML_VERSION = "1.4.40"
PEERS = ("mlflow", "bentoml", "floor")
PEERS_FOLDER = Path(__file__).resolve().parent / "peers"
THROUGHPUT_TARGET = 5.0  # pathtolive req/s at concurrency 16 / MLflow's, at least
BENTOML_TARGET = 3.0  # pathtolive req/s at concurrency 16 / BentoML's, at least
FLOOR_TARGET = 0.9  # pathtolive req/s at concurrency 16 / the hand-written floor's, at least
C16_P99_TARGET_MS = {"gbc": 15.0}  # pathtolive p99 at concurrency 16, at most (per model)
BATCH_TAIL_TARGET = 2.0  # pathtolive p99 / p50 of 1000-row batches, at most
P50_TARGET = 1 / 3  # pathtolive p50 at concurrency 1 / MLflow's, at most
OVERHEAD_TARGET_MS = 1.0  # pathtolive p50 minus the model's own predict time, under
P99_TARGET_MS = 10.0  # pathtolive p99 at concurrency 1, under
PACED_RPS = 100  # the shadow's second scenario: one request every 10 ms
CLK_TCK = os.sysconf("SC_CLK_TCK")
BIN = Path(sys.executable).parent

MODELS = {
    "gbc": f"GradientBoostingClassifier({TREES} trees)",
    "logreg": "LogisticRegression",
}

MLFLOW_SAVE = '''
"""Run by the MLflow peer's Python: save the pickled model as two MLflow models answering
predict_proba, one with a signature inferred from the sample rows, one without."""

import json
import pickle
import sys

import mlflow
import pandas as pd
from mlflow.models import infer_signature

model_path, sample_path, out, bare = sys.argv[1:5]
with open(model_path, "rb") as file:
    model = pickle.load(file)
with open(sample_path) as file:
    split = json.load(file)
sample = pd.DataFrame(split["data"], columns=split["columns"])
# skops (MLflow's default format) no longer trusts a tree's node storage by default.
trusted = ["sklearn.tree._tree.Tree"] if hasattr(model, "estimators_") else None
for folder, signature in (
    (out, infer_signature(sample, model.predict_proba(sample))),
    (bare, None),
):
    mlflow.sklearn.save_model(
        model,
        folder,
        pyfunc_predict_fn="predict_proba",
        signature=signature,
        skops_trusted_types=trusted,
    )
print(json.dumps({"version": mlflow.__version__}))
'''

NULL_SERVER = '''
"""A constant HTTP/1.1 answer to every request: the floor of the load generator."""

import asyncio
import sys

import uvloop

BODY = b'{"predictions": [[0.5, 0.5]]}'
ANSWER = (
    b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\\r\\n\\r\\n"
    + BODY
)


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\\r\\n\\r\\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\\r\\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(ANSWER)


async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()


uvloop.run(main())
'''


# -- the load generator ------------------------------------------------------------------


@dataclass
class Load:
    """What one load run saw: latencies in ms of the requests answered 200, the rest."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0  # seconds of CPU the server's process tree used meanwhile
    first_failure: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.failures

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu / self.requests * 1000 if self.requests else float("nan")

    def merge(self, other: Load) -> Load:
        return Load(
            self.latencies + other.latencies,
            self.failures + other.failures,
            self.seconds + other.seconds,
            self.server_cpu + other.server_cpu,
            self.first_failure or other.first_failure,
        )


def _response_end(buffer: bytearray) -> tuple[int, int] | None:
    """(status, length of the whole response) if ``buffer`` holds one whole response."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    status = int(head[9:12])
    body = head_end + 4
    at = head.find(b"content-length:")
    if at >= 0:
        end = body + int(head[at + 15 :].split(b"\r\n", 1)[0])
        return (status, end) if len(buffer) >= end else None
    if b"transfer-encoding: chunked" in head:
        position = body
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if len(buffer) < position:
                return None
            if size == 0:
                return status, position
    return status, body  # no body


class _Client(asyncio.Protocol):
    """One keep-alive connection sending requests one after the other until the deadline;
    with an ``interval`` (ns), a request starts at most every ``interval``."""

    def __init__(
        self, requests: Sequence[bytes], offset: int, deadline: int, load: Load, interval: int
    ):
        self.requests = requests
        self.interval = interval
        self.index = offset
        self.deadline = deadline
        self.load = load
        self.buffer = bytearray()
        self.started = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        request = self.requests[self.index % len(self.requests)]
        self.index += 1
        self.started = time.perf_counter_ns()
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = _response_end(self.buffer)
            if end is None:
                return
            now = time.perf_counter_ns()
            status, length = end
            if status == 200:
                self.load.latencies.append((now - self.started) / 1e6)
            else:
                self.load.failures += 1
                if not self.load.first_failure:
                    self.load.first_failure = bytes(self.buffer[:length])[:500].decode("replace")
            del self.buffer[:length]
            if now < self.deadline:
                wait = self.started + self.interval - now
                if wait > 0:
                    asyncio.get_running_loop().call_later(wait / 1e9, self._send)
                else:
                    self._send()
            else:
                self.transport.close()  # type: ignore[union-attr]
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self.started and time.perf_counter_ns() < self.deadline:
            self.load.failures += 1  # the server closed the connection before the end
            self.load.first_failure = self.load.first_failure or f"connection lost: {exc}"
        if not self.done.done():
            self.done.set_result(None)


async def _drive(
    port: int, requests: Sequence[bytes], concurrency: int, seconds: float, interval: float
) -> tuple[Load, float]:
    loop = asyncio.get_running_loop()
    load = Load()
    started = time.perf_counter_ns()
    deadline = started + int(seconds * 1e9)
    clients = []
    for worker in range(concurrency):
        offset = worker * len(requests) // concurrency
        _, client = await loop.create_connection(
            functools.partial(_Client, requests, offset, deadline, load, int(interval * 1e9)),
            "127.0.0.1",
            port,
        )
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), seconds + 30)
    return load, (time.perf_counter_ns() - started) / 1e9


def run_load(
    server: Server,
    requests: Sequence[bytes],
    concurrency: int,
    seconds: float,
    warmup: float,
    interval: float = 0.0,
) -> Load:
    """``concurrency`` connections sending ``requests`` in turn for ``seconds``, after
    ``warmup`` seconds of the same whose figures are dropped; each connection starts a
    request at most every ``interval`` seconds (0: as soon as the last is answered)."""
    import uvloop

    gc.collect()
    gc.disable()  # no collector pause of the client in the latencies
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            if warmup:
                runner.run(_drive(server.port, requests, concurrency, warmup, interval))
            cpu = server.cpu_seconds()
            load, elapsed = runner.run(
                _drive(server.port, requests, concurrency, seconds, interval)
            )
            load.server_cpu = server.cpu_seconds() - cpu
            load.seconds = elapsed
    finally:
        gc.enable()
    return load


def encode(port: int, path: str, body: Any) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def split_body(frame: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}


def instances_body(frame: pd.DataFrame) -> dict[str, Any]:
    return {"instances": frame.to_dict(orient="records")}


def bentoml_body(frame: pd.DataFrame) -> dict[str, Any]:
    """The rows for the BentoML service's ``data: np.ndarray`` parameter."""
    return {"data": frame.values.tolist()}


# -- the servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(times.get(pid, 0.0) for pid in tree)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready: str
    # Where and how the server takes rows: MLflow's protocol unless it has its own.
    path: str = "/invocations"
    body: Callable[[pd.DataFrame], Any] = split_body

    def request(self, frame: pd.DataFrame) -> bytes:
        return encode(self.port, self.path, self.body(frame))

    def wait_ready(self, timeout: float = 180) -> Server:
        """Wait until ``GET ready`` answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited ({self.process.returncode}):\n"
                    + self.log.read_text()[-3000:]
                )
            try:
                with urllib.request.urlopen(self.url(self.ready), timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(
            f"{self.name} not ready in {timeout:.0f} s:\n{self.log.read_text()[-3000:]}"
        )

    def cpu_seconds(self) -> float:
        return _tree_cpu_seconds(self.process.pid)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(
            self.url(path),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.load(answer)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: workers too
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(
    name: str,
    cmd: list[str],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str],
    ready: str,
    path: str = "/invocations",
    body: Callable[[pd.DataFrame], Any] = split_body,
) -> Server:
    """Start ``cmd`` in its own session; :meth:`Server.wait_ready` waits for it."""
    log = WORK / f"server-{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name, process, port, log, ready, path, body)


def _environ() -> dict[str, str]:
    return {**os.environ, "PATHTOLIVE_USER": "bench"}


def pathtolive_can_serve() -> str:
    """'' if ``pathtolive serve`` exists here, else why not."""
    probe = subprocess.run(
        [str(BIN / "pathtolive"), "serve", "--help"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return (probe.stderr or probe.stdout).strip()[-300:]
    probe = subprocess.run(
        [sys.executable, "-c", "import pathtolive.serving.server"], capture_output=True, text=True
    )
    return "" if probe.returncode == 0 else probe.stderr.strip()[-300:]


def pathtolive_workspace(
    name: str, model: object, sample: pd.DataFrame, shadow: object | None = None
) -> tuple[Path, str]:
    """A fresh workspace with ``model`` registered and aliased live; with ``shadow``, a
    second version deployed as its shadow. Returns the folder and what went wrong with
    the shadow deployment, if anything."""
    from pathtolive import Workspace

    root = Path(tempfile.mkdtemp(prefix="ptl-serve-", dir=WORK))
    ws = Workspace.init(root, environ=_environ())
    try:
        version = ws.register_model(model, name=name, sample=sample)
        ws.set_alias(version.ref, "live", override="benchmark setup")
        if shadow is not None:
            second = ws.register_model(shadow, name=name, sample=sample)
    finally:
        ws.close()
    if shadow is None:
        return root, ""
    deploy = subprocess.run(
        # No gates ran on this throw-away version: the admin says why it goes out anyway.
        [
            *(str(BIN / "pathtolive"), "deploy", name, "--shadow", f"@{second.version}"),
            *("--override", "benchmark setup"),
        ],
        cwd=root,
        env=_environ(),
        capture_output=True,
        text=True,
    )
    if deploy.returncode != 0:
        return root, f"`pathtolive deploy --shadow` failed: {(deploy.stderr or deploy.stdout)}"
    return root, ""


def _workers(workers: int) -> list[str]:
    """The ``--workers`` option of a server, left out at 1 so the defaults stay defaults."""
    return [] if workers == 1 else ["--workers", str(workers)]


def _listen(port: int) -> list[str]:
    """The options of a server that listens on loopback at ``port``."""
    return ["--host", "127.0.0.1", "--port", str(port)]


def start_pathtolive(name: str, root: Path, workers: int = 1) -> Server:
    port = free_port()
    return start_server(
        name,
        [str(BIN / "pathtolive"), "serve", *_listen(port), *_workers(workers)],
        port=port,
        cwd=root,
        env=_environ(),
        ready="/health/ready",
    )


def _mlflow_environ(mlflow_bin: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{mlflow_bin}:{os.environ['PATH']}",  # `mlflow models serve` runs uvicorn
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def mlflow_models(mlflow_bin: Path, model: object, sample: pd.DataFrame) -> tuple[Path, Path, str]:
    """The fitted model saved as an MLflow model (predict_proba) with a signature, the
    same without one (then MLflow checks no input), and MLflow's version."""
    folder = Path(tempfile.mkdtemp(prefix="mlflow-serve-", dir=WORK))
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    (folder / "sample.json").write_text(json.dumps(split_body(sample)["dataframe_split"]))
    script = WORK / "mlflow_save.py"
    script.write_text(textwrap.dedent(MLFLOW_SAVE).lstrip())
    out, bare = folder / "model", folder / "model-bare"
    saved = subprocess.run(
        [
            str(mlflow_bin / "python"),
            str(script),
            "model.pkl",
            "sample.json",
            str(out),
            str(bare),
        ],
        cwd=folder,
        env=_mlflow_environ(mlflow_bin),
        capture_output=True,
        text=True,
    )
    if saved.returncode != 0:
        raise SystemExit(f"saving the MLflow model failed:\n{saved.stdout}\n{saved.stderr}")
    return out, bare, json.loads(saved.stdout.strip().splitlines()[-1])["version"]


def start_mlflow(mlflow_bin: Path, model: Path, name: str, workers: int = 1) -> Server:
    port = free_port()
    return start_server(
        name,
        [
            str(mlflow_bin / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *_workers(workers),
        ],
        port=port,
        cwd=model.parent,
        env=_mlflow_environ(mlflow_bin),
        ready="/ping",
    )


def peer_model_file(model: object) -> Path:
    """The fitted model pickled into a fresh folder under benchmarks/.work: how the
    BentoML peer and the floor get it (a pickle is their own convention, not pathtolive's)."""
    folder = Path(tempfile.mkdtemp(prefix="peer-model-", dir=WORK))
    path = folder / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


def start_bentoml(bentoml_bin: Path, model_file: Path, workers: int = 1) -> Server:
    port = free_port()
    return start_server(
        BENTOML,
        [str(bentoml_bin / "bentoml"), "serve", "bentoml_service:Classifier", *_listen(port)],
        port=port,
        cwd=PEERS_FOLDER,
        env={
            **os.environ,
            "BENTOML_PEER_MODEL": str(model_file),
            "BENTOML_PEER_WORKERS": str(workers),
            "BENTOML_HOME": str(WORK / "bentoml-home"),  # not the user's ~/bentoml
            "BENTOML_DO_NOT_TRACK": "True",
        },
        ready="/readyz",
        path="/predict",
        body=bentoml_body,
    )


def start_floor(model_file: Path, workers: int = 1) -> Server:
    port = free_port()
    return start_server(
        FLOOR,
        [
            sys.executable,
            str(PEERS_FOLDER / "fastapi_floor.py"),
            str(model_file),
            *_listen(port),
            "--workers",
            str(workers),
        ],
        port=port,
        cwd=model_file.parent,
        env=dict(os.environ),
        ready="/ping",
    )


def start_null() -> Server:
    script = WORK / "null_server.py"
    script.write_text(textwrap.dedent(NULL_SERVER).lstrip())
    port = free_port()
    return start_server(
        "null",
        [sys.executable, str(script), str(port)],
        port=port,
        cwd=WORK,
        env=dict(os.environ),
        ready="/",
    )


# -- models ------------------------------------------------------------------------------


def make_table(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(
        n_samples=ROWS, n_features=FEATURES, n_informative=10, random_state=seed
    )
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(FEATURES)]), y


def fit(kind: str, x: pd.DataFrame, y: np.ndarray, variant: int = 0) -> object:
    """The model of ``kind``; ``variant`` 1 is a second version (the shadow)."""
    if kind == "gbc":
        rate = 0.1 if variant == 0 else 0.05
        return GradientBoostingClassifier(
            n_estimators=TREES, learning_rate=rate, random_state=variant
        ).fit(x, y)
    return LogisticRegression(C=1.0 if variant == 0 else 0.5, max_iter=1000).fit(x, y)


def in_process_ms(model: Any, frame: pd.DataFrame, calls: int) -> float:
    """Median ms of ``model.predict_proba(frame)`` in this process."""
    for _ in range(min(50, calls)):
        model.predict_proba(frame)
    timings = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        model.predict_proba(frame)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(timings)


class _ArrayInput:
    """``model`` called on the frame's NumPy array: its cost without pandas' checks."""

    def __init__(self, model: Any):
        self.model = model

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fitted with feature names
            return self.model.predict_proba(frame.to_numpy())


def check_answers(server: Server, model: Any, rows: pd.DataFrame, path: str, body: Any) -> str:
    """'' if the server's probabilities for ``rows`` are the model's own, else what differs."""
    try:
        answer = server.post(path, body)
    except urllib.error.HTTPError as error:
        return f"{server.name} {path}: HTTP {error.code}: {error.read()[:500].decode('replace')}"
    predictions = answer.get("predictions") if isinstance(answer, dict) else answer
    try:
        got = np.asarray(predictions, dtype=float)
    except (TypeError, ValueError):
        return f"{server.name} {path}: not a list of probabilities: {str(answer)[:300]}"
    wanted = model.predict_proba(rows)
    if got.shape != wanted.shape or not np.allclose(got, wanted, atol=1e-9):
        return f"{server.name} {path}: {str(answer)[:300]} is not predict_proba {wanted[:2]}"
    return ""


# -- one model's run ---------------------------------------------------------------------


@dataclass
class Line:
    scenario: str
    server: str
    load: Load


@dataclass
class ModelRun:
    kind: str
    predict_ms: float
    batch_predict_ms: float
    predict_array_ms: float
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mlflow_version: str = ""

    def get(self, scenario: str, server: str) -> Load | None:
        for line in self.lines:
            if line.scenario == scenario and line.server == server:
                return line.load
        return None


C1, C16, BATCH = "single row, c=1", "single row, c=16", f"{BATCH_ROWS:,}-row batch, c=1"
NATIVE_C1, NATIVE_C16 = "single row `:predict`, c=1", "single row `:predict`, c=16"
SHADOW = "single row, c=1, shadow deployed"
SHADOW_PACED = f"single row, c=1 at {PACED_RPS} req/s, shadow deployed"
NO_SHADOW, WITH_SHADOW = "pathtolive (no shadow)", "pathtolive + shadow"
MLFLOW, MLFLOW_BARE = "mlflow", "mlflow, no signature"
BENTOML, FLOOR = "bentoml", "fastapi floor"


def alternate(
    servers: Sequence[tuple[Server, Sequence[bytes]]],
    concurrency: int,
    seconds: float,
    rounds: int,
    warmup: float,
    interval: float = 0.0,
) -> list[Load]:
    """Each server's load over ``rounds`` rounds, the servers taking turns (order reversed
    every round) so that a drift of the machine falls on both."""
    loads = [Load() for _ in servers]
    for round_ in range(rounds):
        order = list(range(len(servers)))
        if round_ % 2:
            order.reverse()
        for i in order:
            server, requests = servers[i]
            loads[i] = loads[i].merge(
                run_load(server, requests, concurrency, seconds / rounds, warmup, interval)
            )
    return loads


@dataclass(frozen=True)
class Peers:
    """The peers a run compares with: the bin folders of the MLflow and BentoML venvs
    (None: not compared), and whether the hand-written floor is."""

    mlflow_bin: Path | None = None
    bentoml_bin: Path | None = None
    floor: bool = False
    workers: int = 1  # of every server: pathtolive's, and each peer's


def measure_model(
    kind: str,
    x: pd.DataFrame,
    y: np.ndarray,
    peers: Peers,
    serve_missing: str,
    seconds: float,
    rounds: int,
    warmup: float,
) -> ModelRun:
    name = f"bench-{kind}"
    started = time.perf_counter()
    model = fit(kind, x, y)
    shadow_model = fit(kind, x, y, variant=1)
    print(f"[{kind}] fitted {MODELS[kind]} and its shadow in {time.perf_counter() - started:.1f} s")
    one = x.iloc[[0]]
    batch = x.iloc[:BATCH_ROWS]
    run = ModelRun(
        kind,
        in_process_ms(model, one, 2000 if kind == "gbc" else 5000),
        in_process_ms(model, batch, 50),
        in_process_ms(_ArrayInput(model), one, 2000),
    )
    print(
        f"[{kind}] in-process predict_proba: one-row frame {run.predict_ms:.3f} ms "
        f"(its NumPy array {run.predict_array_ms:.3f} ms), {BATCH_ROWS}-row frame "
        f"{run.batch_predict_ms:.2f} ms"
    )
    sample = x.head(200)
    workers = peers.workers
    folders: list[Path] = []  # removed at the end, with the servers' logs
    rows = [x.iloc[[i]] for i in range(DISTINCT_REQUESTS)]
    servers: list[Server] = []
    try:
        compared: list[Server] = []  # the servers of the main scenarios, peers first
        if peers.mlflow_bin is not None:
            model_dir, bare_dir, run.mlflow_version = mlflow_models(peers.mlflow_bin, model, sample)
            folders.append(model_dir.parent)
            compared.append(start_mlflow(peers.mlflow_bin, model_dir, MLFLOW, workers))
            compared.append(start_mlflow(peers.mlflow_bin, bare_dir, MLFLOW_BARE, workers))
        if peers.bentoml_bin is not None or peers.floor:
            model_file = peer_model_file(model)
            folders.append(model_file.parent)
            if peers.bentoml_bin is not None:
                compared.append(start_bentoml(peers.bentoml_bin, model_file, workers))
            if peers.floor:
                compared.append(start_floor(model_file, workers))
        servers.extend(compared)
        ptl = shadowed = None
        if not serve_missing:
            root, _ = pathtolive_workspace(name, model, sample)
            folders.append(root)
            ptl = start_pathtolive("pathtolive", root, workers)
            servers.append(ptl)
            compared.append(ptl)
            shadow_root, shadow_problem = pathtolive_workspace(name, model, sample, shadow_model)
            folders.append(shadow_root)
            if shadow_problem:
                run.notes.append(f"shadow scenario not run: {shadow_problem.strip()[-400:]}")
            else:
                shadowed = start_pathtolive("pathtolive+shadow", shadow_root, workers)
                servers.append(shadowed)
        for server in servers:
            server.wait_ready()
        for server in servers:
            problem = check_answers(server, model, x.iloc[:5], server.path, server.body(x[:5]))
            if problem:
                raise SystemExit(f"answers differ: {problem}")
        if ptl is not None:
            native = f"/v1/models/{name}:predict"
            problem = check_answers(ptl, model, x.iloc[:5], native, instances_body(x[:5]))
            if problem:
                run.notes.append(f"`:predict` answers: {problem}")
        print(f"[{kind}] servers up; answers checked against predict_proba")

        def requests(
            server: Server, frames: Sequence[pd.DataFrame], native: bool = False
        ) -> list[bytes]:
            if native:
                path = f"/v1/models/{name}:predict"
                return [encode(server.port, path, instances_body(f)) for f in frames]
            return [server.request(f) for f in frames]

        for scenario, frames, concurrency in (
            (C1, rows, 1),
            (C16, rows, 16),
            (BATCH, [batch], 1),
        ):
            loads = alternate(
                [(s, requests(s, frames)) for s in compared], concurrency, seconds, rounds, warmup
            )
            for server, load in zip(compared, loads, strict=True):
                run.lines.append(Line(scenario, server.name, load))
                _progress(kind, scenario, server.name, load)
        if ptl is not None:
            for scenario, concurrency in ((NATIVE_C1, 1), (NATIVE_C16, 16)):
                (load,) = alternate(
                    [(ptl, requests(ptl, rows, native=True))], concurrency, seconds, 1, warmup
                )
                run.lines.append(Line(scenario, "pathtolive", load))
                _progress(kind, scenario, "pathtolive", load)
        if ptl is not None and shadowed is not None:
            without, with_shadow = alternate(
                [(ptl, requests(ptl, rows)), (shadowed, requests(shadowed, rows))],
                1,
                seconds,
                max(rounds, 2),
                warmup,
            )
            run.lines.append(Line(SHADOW, NO_SHADOW, without))
            run.lines.append(Line(SHADOW, WITH_SHADOW, with_shadow))
            _progress(kind, SHADOW, "without", without)
            _progress(kind, SHADOW, "with", with_shadow)
            # The same at a steady PACED_RPS, leaving the server idle between requests.
            without, with_shadow = alternate(
                [(ptl, requests(ptl, rows)), (shadowed, requests(shadowed, rows))],
                1,
                seconds,
                max(rounds, 2),
                warmup,
                interval=1 / PACED_RPS,
            )
            run.lines.append(Line(SHADOW_PACED, NO_SHADOW, without))
            run.lines.append(Line(SHADOW_PACED, WITH_SHADOW, with_shadow))
            _progress(kind, SHADOW_PACED, "without", without)
            _progress(kind, SHADOW_PACED, "with", with_shadow)
    finally:
        for server in servers:
            server.stop()
            server.log.unlink(missing_ok=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return run


def _progress(kind: str, scenario: str, server: str, load: Load) -> None:
    print(
        f"[{kind}] {scenario:<32} {server:<22} {load.rps:8.0f} req/s  p50 {load.p50:7.2f} ms  "
        f"p99 {load.p99:7.2f} ms  failures {load.failures}"
        + (f" (first: {load.first_failure[:200]!r})" if load.first_failure else "")
    )


# -- the report --------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b and a == a and b == b else "-"


def _verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def _against_peers(run: ModelRun) -> list[tuple[str, Load, Load, float]]:
    """For each peer with a throughput target that was measured: its label,
    pathtolive's load at c=16, the peer's, and the least ratio asked for."""
    ptl16 = run.get(C16, "pathtolive")
    found = []
    for peer, label, target in (
        (BENTOML, "BentoML", BENTOML_TARGET),
        (FLOOR, "the FastAPI floor", FLOOR_TARGET),
    ):
        theirs = run.get(C16, peer)
        if ptl16 is not None and theirs is not None:
            found.append((label, ptl16, theirs, target))
    return found


def peer_targets(run: ModelRun) -> list[str]:
    """The lines of the targets against BentoML and the floor, and of pathtolive's own
    tails: throughput at c=16 against each peer, p99 at c=16, the batches' p99 / p50."""
    lines: list[str] = []
    for label, mine, theirs, target in _against_peers(run):
        ratio = mine.rps / theirs.rps if theirs.rps else float("inf")
        lines.append(
            f"- throughput at c=16: {mine.rps:,.0f} vs {theirs.rps:,.0f} req/s, "
            f"**{ratio:.2f}x** {label}'s (target ≥ {target:g}x: {_verdict(ratio >= target)}); "
            f"p99 {mine.p99:.2f} vs {theirs.p99:.2f} ms"
        )
    ptl16, ptlb = run.get(C16, "pathtolive"), run.get(BATCH, "pathtolive")
    if ptl16 is None:
        return lines
    ceiling = C16_P99_TARGET_MS.get(run.kind)
    lines.append(
        f"- p99 at c=16: **{ptl16.p99:.2f} ms**"
        + (
            f" (target ≤ {ceiling:g} ms: {_verdict(ptl16.p99 <= ceiling)})"
            if ceiling is not None
            else " (no target for this model)"
        )
        + _peers_figure(run, C16, lambda load: f"{load.p99:.2f} ms")
    )
    if ptlb is not None:
        tail = ptlb.p99 / ptlb.p50
        lines.append(
            f"- {BATCH_ROWS:,}-row batches: p99 {ptlb.p99:.1f} ms / p50 {ptlb.p50:.1f} ms = "
            f"**{tail:.1f}x** (target ≤ {BATCH_TAIL_TARGET:g}x: "
            f"{_verdict(tail <= BATCH_TAIL_TARGET)})"
            + _peers_figure(run, BATCH, lambda load: f"{load.p99 / load.p50:.1f}x")
        )
    return lines


def _peers_figure(run: ModelRun, scenario: str, figure: Callable[[Load], str]) -> str:
    """``; peer figure, ...`` for the peers measured in ``scenario``, or ''."""
    shown = [
        f"{peer} {figure(load)}"
        for peer in (FLOOR, BENTOML, MLFLOW)
        if (load := run.get(scenario, peer)) is not None
    ]
    return f"; {', '.join(shown)}" if shown else ""


def report(run: ModelRun) -> tuple[list[str], list[str]]:
    """The table's lines and the targets' lines of one model."""
    table = [
        f"| {MODELS[run.kind]}: scenario | server | req/s | p50 ms | p99 ms | failures "
        "| server CPU ms/req |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for line in run.lines:
        load = line.load
        table.append(
            f"| {line.scenario} | {line.server} | {load.rps:,.0f} | {load.p50:.2f} | "
            f"{load.p99:.2f} | {load.failures} | {load.cpu_ms_per_request:.2f} |"
        )
    targets: list[str] = []
    ptl1, ptl16, ptlb = (run.get(scenario, "pathtolive") for scenario in (C1, C16, BATCH))
    mlf1, mlf16, mlfb = (run.get(scenario, MLFLOW) for scenario in (C1, C16, BATCH))
    if ptl1 and mlf1 and ptl16 and mlf16 and ptlb and mlfb:
        throughput = ptl16.rps / mlf16.rps
        p50 = mlf1.p50 / ptl1.p50
        overhead = ptl1.p50 - run.predict_ms
        targets += [
            f"- throughput at c=16: {ptl16.rps:,.0f} vs {mlf16.rps:,.0f} req/s, "
            f"**{throughput:.1f}x** MLflow's (target ≥ {THROUGHPUT_TARGET:.0f}x: "
            f"{_verdict(throughput >= THROUGHPUT_TARGET)})",
            f"- p50 at c=1: {ptl1.p50:.2f} vs {mlf1.p50:.2f} ms, MLflow's is **{p50:.1f}x** "
            f"pathtolive's (target ≥ 3x: {_verdict(p50 >= 1 / P50_TARGET)})",
            f"- server-side overhead at c=1: p50 {ptl1.p50:.2f} ms - in-process predict_proba "
            f"of a one-row frame {run.predict_ms:.3f} ms = **{overhead:.2f} ms** (target < "
            f"{OVERHEAD_TARGET_MS:.0f} ms: {_verdict(overhead < OVERHEAD_TARGET_MS)}); "
            f"MLflow's: {mlf1.p50 - run.predict_ms:.2f} ms. (predict_proba of the same row as "
            f"a NumPy array: {run.predict_array_ms:.3f} ms)",
            f"- p99 at c=1: **{ptl1.p99:.2f} ms** (target < {P99_TARGET_MS:.0f} ms: "
            f"{_verdict(ptl1.p99 < P99_TARGET_MS)}); MLflow's {mlf1.p99:.2f} ms",
            f"- {BATCH_ROWS:,}-row batches: {ptlb.rps:.1f} vs {mlfb.rps:.1f} req/s "
            f"({_ratio(ptlb.rps, mlfb.rps)}), p50 {ptlb.p50:.1f} vs {mlfb.p50:.1f} ms; "
            f"in-process predict_proba {run.batch_predict_ms:.1f} ms",
        ]
    bare1, bare16 = run.get(C1, MLFLOW_BARE), run.get(C16, MLFLOW_BARE)
    if ptl1 and ptl16 and bare1 and bare16:
        throughput, p50 = ptl16.rps / bare16.rps, bare1.p50 / ptl1.p50
        targets.append(
            f"- against MLflow serving the model saved without a signature (no input "
            f"check): c=16 throughput {throughput:.1f}x "
            f"({_verdict(throughput >= THROUGHPUT_TARGET)}), c=1 p50 {p50:.1f}x "
            f"({_verdict(p50 >= 1 / P50_TARGET)})"
        )
    for scenario, label in ((SHADOW, "back to back"), (SHADOW_PACED, f"{PACED_RPS} req/s")):
        without, shadowed = run.get(scenario, NO_SHADOW), run.get(scenario, WITH_SHADOW)
        if without and shadowed:
            targets.append(
                f"- shadow deployed, c=1 {label}: p50 {shadowed.p50:.2f} vs {without.p50:.2f} ms"
                f" without ({shadowed.p50 - without.p50:+.2f} ms), p99 {shadowed.p99:.2f} vs "
                f"{without.p99:.2f} ms ({shadowed.p99 - without.p99:+.2f} ms); server CPU "
                f"{shadowed.cpu_ms_per_request:.2f} vs {without.cpu_ms_per_request:.2f} ms/req"
            )
    targets += peer_targets(run)
    targets += [f"- {note}" for note in run.notes]
    return table, targets


def ratios(run: ModelRun) -> list[Ratio]:
    """The figures of one model against MLflow's (its model saved with a signature)."""
    found: list[Ratio] = []
    for scenario, figure, target in (
        (C16, "req/s", THROUGHPUT_TARGET),
        (C1, "p50", 1 / P50_TARGET),
        (BATCH, "req/s", None),
    ):
        mine, theirs = run.get(scenario, "pathtolive"), run.get(scenario, MLFLOW)
        if mine is None or theirs is None:
            continue
        throughput = figure == "req/s"
        found.append(
            Ratio.of(
                f"{MODELS[run.kind]}: {figure}, {scenario}",
                mine.rps if throughput else mine.p50,
                theirs.rps if throughput else theirs.p50,
                unit=figure if throughput else "ms",
                target=target,
                higher_is_better=throughput,
            )
        )
    found += [
        Ratio.of(
            f"{MODELS[run.kind]}: req/s, {C16}, vs {label}",
            mine.rps,
            theirs.rps,
            unit="req/s",
            target=target,
            higher_is_better=True,
        )
        for label, mine, theirs, target in _against_peers(run)
    ]
    ptl16, ptlb = run.get(C16, "pathtolive"), run.get(BATCH, "pathtolive")
    if ptl16 is None:
        return found
    # Ceilings rather than peers: the ratio is the ceiling over the figure, met at >= 1.
    ceiling = C16_P99_TARGET_MS.get(run.kind)
    if ceiling is not None:
        found.append(
            Ratio.of(
                f"{MODELS[run.kind]}: p99, {C16}, vs its {ceiling:g} ms ceiling",
                ptl16.p99,
                ceiling,
                unit="ms",
                target=1.0,
            )
        )
    if ptlb is not None and ptlb.p50 > 0:
        found.append(
            Ratio.of(
                f"{MODELS[run.kind]}: p99 / p50, {BATCH}, vs its {BATCH_TAIL_TARGET:g}x ceiling",
                ptlb.p99 / ptlb.p50,
                BATCH_TAIL_TARGET,
                unit="x",
                target=1.0,
            )
        )
    return found


def chosen_peers(text: str) -> list[str]:
    """The peers named in ``--peers`` (comma-separated), in the order of PEERS."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(PEERS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown peer {unknown[0]!r}; choose among {', '.join(PEERS)}"
        )
    return [name for name in PEERS if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["gbc", "logreg", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=6.0, help="per scenario and server")
    parser.add_argument("--rounds", type=int, default=2, help="turns the servers take")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds dropped per turn")
    parser.add_argument(
        "--peers",
        type=chosen_peers,
        default=list(PEERS),
        help=f"comma-separated peers to compare with (default: {','.join(PEERS)})",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes of pathtolive and each peer"
    )
    parser.add_argument("--quick", action="store_true", help="2 s per scenario, 0.3 s warm-up")
    parser.add_argument("--json-out", type=Path, help="write the ratios here (pathtolive bench)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup = 2.0, 0.3
    if args.workers < 1:
        parser.error("--workers must be at least 1")

    WORK.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    print(f"machine: {machine()}, Python {sys.version.split()[0]}")
    load_before = os.getloadavg()[0]
    print(f"load average (1 min) before: {load_before:.2f}")
    import sklearn

    same_sklearn = f"scikit-learn=={sklearn.__version__}"
    peers = Peers(
        mlflow_bin=peer_venv("mlflow-serve", [f"mlflow=={MLFLOW_VERSION}", same_sklearn, "uvicorn"])
        if "mlflow" in args.peers
        else None,
        bentoml_bin=peer_venv("bentoml-serve", [f"bentoml=={BENTOML_VERSION}", same_sklearn])
        if "bentoml" in args.peers
        else None,
        floor="floor" in args.peers,
        workers=args.workers,
    )
    serve_missing = pathtolive_can_serve()
    if serve_missing:
        print(f"`pathtolive serve` is not available, peers only: {serve_missing}")
    x, y = make_table()

    null = start_null().wait_ready()
    try:
        floor = {
            c: alternate(
                [(null, [encode(null.port, "/invocations", split_body(x.iloc[[0]]))])],
                c,
                min(args.seconds, 4),
                1,
                args.warmup,
            )[0]
            for c in (1, 16)
        }
    finally:
        null.stop()
        null.log.unlink(missing_ok=True)
    for c, load in floor.items():
        print(
            f"null server (constant answer), c={c}: {load.rps:,.0f} req/s, p50 {load.p50:.3f} ms,"
            f" p99 {load.p99:.3f} ms: the client and loopback floor"
        )

    kinds = ["gbc", "logreg"] if args.model == "both" else [args.model]
    runs = [
        measure_model(kind, x, y, peers, serve_missing, args.seconds, args.rounds, args.warmup)
        for kind in kinds
    ]

    print()
    print("---- for benchmarks/RESULTS.md ----")
    print()
    names = {
        "mlflow": "`mlflow models serve`",
        "bentoml": "`bentoml serve`",
        "floor": "a FastAPI floor",
    }
    print(
        f"### Serving: `pathtolive serve` vs {', '.join(names[p] for p in args.peers) or 'no peer'}"
        f" ({datetime.now(UTC):%Y-%m-%d})"
    )
    print()
    options = [" --quick"] if args.quick else []
    if args.peers != list(PEERS):
        options.append(f" --peers {','.join(args.peers)}")
    if args.workers != 1:
        options.append(f" --workers {args.workers}")
    versions = []
    if peers.mlflow_bin is not None:
        versions.append(
            f"MLflow {runs[0].mlflow_version} (`mlflow models serve --env-manager local`, its "
            "defaults)"
        )
    if peers.bentoml_bin is not None:
        versions.append(
            f"BentoML {BENTOML_VERSION} (`bentoml serve`, `@bentoml.api(batchable=True)` with "
            "its default batch bounds, no access log)"
        )
    if peers.floor:
        versions.append("the FastAPI + NumPy floor (`benchmarks/peers/fastapi_floor.py`)")
    print(
        f"`.venv/bin/python benchmarks/serving.py{''.join(options)}` on {machine()}, Python "
        f"{sys.version.split()[0]}; {'; '.join(versions) or 'no peer'}; scikit-learn "
        f"{sklearn.__version__} on every side; pathtolive with its defaults; "
        f"{args.workers} worker process{'es' if args.workers > 1 else ''} each. "
        f"{args.seconds:g} s of load per scenario and "
        f"server, in {args.rounds} alternating turns each after {args.warmup:g} s of warm-up; "
        f"client and servers share the machine. The same rows to every server: "
        f"`POST /invocations` with a `dataframe_split` body (MLflow's protocol), except "
        f'`POST /predict` with `{{"data": rows}}` to BentoML; all answer class '
        f"probabilities."
    )
    print()
    print(
        f"Load-generator floor (a server answering a constant): c=1 p50 "
        f"{floor[1].p50:.3f} ms, c=16 {floor[16].rps:,.0f} req/s."
    )
    for run in runs:
        table, targets = report(run)
        print()
        print("\n".join(table))
        print()
        print("\n".join(targets))
    print()
    print(
        f"(whole run {time.perf_counter() - began:.0f} s; 1-minute load average before it "
        f"{load_before:.2f})"
    )
    if args.json_out:
        found = [ratio for run in runs for ratio in ratios(run)]
        write_results(args.json_out, "serving", found, machine=machine(), quick=args.quick)


if __name__ == "__main__":
    main()
