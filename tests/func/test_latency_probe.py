"""The gates' latency probe runs in children of a probe server kept by the calling
process: each probe reads the store and environment it is given, and neither an
interrupted probe, a dead server nor a probe over its time limit leaves the next one
wrong."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace, env
from pathtolive.entities import ModelVersion
from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.service import latency
from pathtolive.service.latency import measure_latency
from pathtolive.service.latency_probe import MIN_BATCH_CALLS, MIN_SINGLE_ROW_CALLS
from tests.support.cli import run_in_process

pytestmark = pytest.mark.subprocess  # the probe server and its children


@pytest.fixture
def registered(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, ModelVersion, pd.DataFrame]]:
    frame = load_breast_cancer(as_frame=True).frame
    features = frame.drop(columns=["target"])
    ws = Workspace.init(tmp_path / "ws", environ=clean_environ)
    monkeypatch.chdir(ws.root)
    ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
    model = LogisticRegression(max_iter=5000).fit(features, frame["target"])
    yield ws, ws.register_model(model, name="m", data="cancer@1"), features.head(5)
    ws.close()


def probe_servers() -> list[int]:
    """The pids of this process's probe servers (Linux)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = next(line for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent.split()[1]) == os.getpid() and b"--serve" in command:
            found.append(int(entry))
    return found


def test_an_interrupted_probe_leaves_the_next_one_right(
    registered: tuple[Workspace, ModelVersion, pd.DataFrame],
) -> None:
    ws, version, sample = registered
    measure_latency(ws.context, version, sample)  # the server is up

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            measure_latency(ws.context, version, sample)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    for _ in range(2):
        assert measure_latency(ws.context, version, sample)["model"] == "m@1"


def test_a_dead_server_is_replaced_and_the_probe_tried_again(
    registered: tuple[Workspace, ModelVersion, pd.DataFrame],
) -> None:
    ws, version, sample = registered
    measure_latency(ws.context, version, sample)
    (server,) = probe_servers()
    os.kill(server, signal.SIGKILL)
    assert measure_latency(ws.context, version, sample)["model"] == "m@1"
    assert probe_servers() != [server]


def test_a_probe_over_its_limit_is_stopped_and_named(
    registered: tuple[Workspace, ModelVersion, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, version, sample = registered
    monkeypatch.setattr(latency, "_TIMEOUT_SECONDS", 0.01)
    with pytest.raises(InvalidInputError, match=r"did not load and answer .* no answer within"):
        measure_latency(ws.context, version, sample)
    monkeypatch.undo()
    assert measure_latency(ws.context, version, sample)["model"] == "m@1"


def test_latency_probes_in_one_process_each_read_the_store_they_are_given(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe processes come from one fork server, started under the first workspace: a
    later probe still reads its own workspace's store and environment."""
    from pathtolive.service.latency import measure_latency

    frame = load_breast_cancer(as_frame=True).frame
    features = frame.drop(columns=["target"])
    model = LogisticRegression(max_iter=5000).fit(features, frame["target"])
    measured = []
    for name in ("first", "second"):
        ws = Workspace.init(tmp_path / name, environ=clean_environ)
        monkeypatch.chdir(ws.root)
        ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
        for _ in range(1 if name == "first" else 2):
            version = ws.register_model(model, name=name, data="cancer@1")
        measured.append(measure_latency(ws.context, version, features.head(5))["model"])
        ws.close()
    assert measured == ["first@1", "second@2"]


def test_the_probe_sizes_thread_pools_from_the_callers_environment(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe server loaded OpenMP and BLAS under its own environment; a probe for a
    caller that asks for one thread (as the demo does beside its server) gets one, and a
    caller that does not gets the machine's cores, as a new interpreter would."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from pathtolive.service.latency import measure_latency

    frame = load_breast_cancer(as_frame=True).frame
    features = frame.drop(columns=["target"])
    model = HistGradientBoostingClassifier(max_iter=5).fit(features, frame["target"])
    cores = len(os.sched_getaffinity(0))
    seen = []
    for name, threads in (("one", "1"), ("all", None)):
        environ = dict(clean_environ)
        environ.pop("OMP_NUM_THREADS", None)
        environ.pop("OPENBLAS_NUM_THREADS", None)
        if threads is not None:
            environ["OMP_NUM_THREADS"] = threads
        ws = Workspace.init(tmp_path / name, environ=environ)
        monkeypatch.chdir(ws.root)
        ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
        version = ws.register_model(model, name="m", data="cancer@1")
        seen.append(measure_latency(ws.context, version, features.head(5))["threads"])
        ws.close()
    assert seen[0]["openmp"] == 1
    assert seen[1]["openmp"] == cores


def test_the_budget_variable_times_only_the_fewest_calls(
    registered: tuple[Workspace, ModelVersion, pd.DataFrame], clean_environ: dict[str, str]
) -> None:
    ws, version, sample = registered
    quick = Workspace.open(ws.root, environ={**clean_environ, env.LATENCY_BUDGET: "0"})
    with quick:
        figures = measure_latency(quick.context, version, sample)
    # A fast model gets the full series by default (test_holdout); with no budget it gets
    # the fewest calls that still put three above the 95th percentile.
    assert figures["single_row"]["calls"] == MIN_SINGLE_ROW_CALLS
    assert figures["batch_1000"]["calls"] == MIN_BATCH_CALLS
    assert 0 < figures["single_row"]["p50_ms"] <= figures["single_row"]["p99_ms"]


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_budget_that_is_not_seconds_is_a_config_error_and_stores_no_report(
    registered: tuple[Workspace, ModelVersion, pd.DataFrame],
    clean_environ: dict[str, str],
    value: str,
) -> None:
    ws, version, _ = registered
    environ = {**clean_environ, env.LATENCY_BUDGET: value}
    done = run_in_process(["gates", "check", version.ref], cwd=ws.root, environ=environ)
    assert done.code == ConfigError.exit_code, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"{env.LATENCY_BUDGET}={value!r} is not a number of seconds" in line
    same = Workspace.open(ws.root, environ=clean_environ)
    with same, same.context.metadata.read() as session:
        stored = session.latest_gate_report(version.model, version.version)
    assert stored is None
