"""Start-up of the command line: `pathtolive --help` and the read-only listings, beside
`dvc --help` and `mlflow --help`.

Usage:  .venv/bin/python benchmarks/startup.py [--rounds 15] [--peers]

Builds a small workspace in benchmarks/.work once (two versions of a dataset, a registered
model, their audit trail), then runs each command in a new process, round after round
with the commands interleaved, after one warm-up round that is not counted. It prints each
command's median, fastest and slowest wall time, its median CPU time (user + system:
what a busy machine inflates least), and the target where there is one
(--help under 0.3 s; data list, models list and audit log under 0.6 s). The interpreter
alone (`python -c pass`) is timed too, as the floor every command stands on.

Peers: `dvc --help` and `mlflow --help`, each from its own throw-away virtual environment
in benchmarks/.work; a peer is timed when its environment is there already (data_add.py
and serving.py make them), or made first with --peers.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, peer_venv

# The targets, in seconds of wall time.
HELP_TARGET = 0.3
LISTING_TARGET = 0.6
PEERS = {"dvc": ["dvc"], "mlflow": ["mlflow"]}


@dataclass(frozen=True)
class Command:
    label: str
    argv: list[str]
    target: float | None = None


def build_workspace(root: Path) -> Path:
    """A workspace with ``loans@1`` and ``loans@2`` and ``risk@1`` registered on them,
    made once; the listings then have something to show."""
    marker = root / ".built"
    if marker.exists():
        return root
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from pathtolive import Workspace

    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    frames = []
    for month in range(2):
        income = rng.lognormal(10, 0.5, 5_000)
        frame = pd.DataFrame(
            {
                "income": income,
                "age": rng.integers(18, 90, 5_000),
                "region": rng.choice(["north", "south", "east", "west"], 5_000),
                "default": (rng.random(5_000) < 0.1 + month * 0.01).astype(int),
            }
        )
        frames.append(frame)
    with Workspace.init(root, environ={**os.environ, "PATHTOLIVE_USER": "bench"}) as ws:
        ws.add_dataset(frames[0], "loans")
        ws.add_dataset(frames[1], "loans", policy="warn")
        features, target = frames[1][["income", "age"]], frames[1]["default"]
        model = LogisticRegression(max_iter=200).fit(features, target)
        ws.register_model(model, name="risk", data="loans@2", metrics={"accuracy": 0.9})
    marker.write_text("built\n")
    return root


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv``. CPU time is the
    figure that a busy machine inflates least: it leaves out the time spent waiting for
    a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({completed.returncode}): {completed.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def peer_bins(install: bool) -> dict[str, Path]:
    found = {}
    for name, requirements in PEERS.items():
        ready = (WORK / f"venv-{name}" / ".ready").exists()
        if ready or install:
            found[name] = peer_venv(name, requirements)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--peers", action="store_true", help="make the peers' environments")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    # Byte-compiled as an installed package is (PYTHONDONTWRITEBYTECODE would otherwise
    # leave a source checkout compiling every module at each start).
    import pathtolive

    compileall.compile_dir(Path(pathtolive.__file__).parent, quiet=1)
    workspace = build_workspace(WORK / "startup-ws")
    bin_dir = Path(sys.executable).parent
    ptl = str(bin_dir / "pathtolive")
    commands = [
        Command("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
        Command("pathtolive --help", [ptl, "--help"], HELP_TARGET),
        Command("pathtolive data list", [ptl, "data", "list"], LISTING_TARGET),
        Command("pathtolive models list", [ptl, "models", "list"], LISTING_TARGET),
        Command("pathtolive audit log", [ptl, "audit", "log"], LISTING_TARGET),
    ]
    for name, peer_bin in peer_bins(args.peers).items():
        commands.append(Command(f"{name} --help (peer)", [str(peer_bin / name), "--help"]))

    env = {**os.environ, "PATHTOLIVE_USER": "bench", "DVC_NO_ANALYTICS": "1", "COLUMNS": "100"}
    walls: dict[str, list[float]] = {command.label: [] for command in commands}
    cpus: dict[str, list[float]] = {command.label: [] for command in commands}
    for round_ in range(args.rounds + 1):
        for command in commands:
            wall, cpu = run_once(command.argv, workspace, env)
            if round_ > 0:  # the first round warms the page cache and is not counted
                walls[command.label].append(wall)
                cpus[command.label].append(cpu)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{args.rounds} rounds, each command in a new process, rounds interleaved")
    print("wall s: median, fastest, slowest; cpu s: median user + system time")
    print(f"{'command':40} {'wall s':>7} {'min':>6} {'max':>6} {'cpu s':>6}  target (median wall)")
    for command in commands:
        values = walls[command.label]
        median = statistics.median(values)
        cpu = statistics.median(cpus[command.label])
        target = ""
        if command.target is not None:
            verdict = "met" if median < command.target else "NOT met"
            target = f"< {command.target:g} s: {verdict}"
        print(
            f"{command.label:40} {median:7.3f} {min(values):6.3f} {max(values):6.3f} "
            f"{cpu:6.3f}  {target}"
        )


if __name__ == "__main__":
    main()
