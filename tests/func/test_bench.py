"""`pathtolive bench` through the real CLI, against fake benchmark scripts.

The real benchmarks take minutes and install their peers from the network; here
``--benchmarks`` points at a folder of tiny scripts that honour the same contract
(``[--quick] --json-out FILE``): one writes ratios, the others fail in the ways a script
can. This is the edge of the command, so this is where the fakes belong.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pathtolive.benchmarking import Ratio

from .conftest import CLI

# Writes two figures (one target met, one missed) and one without a target, and what it
# was run with, so the test can see --quick and the interpreter were passed through.
WRITES_RATIOS = """
import argparse, json, sys
from pathlib import Path
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--json-out", required=True)
args = parser.parse_args()
print("round 1: pathtolive 3.30 s, dvc 4.50 s")
Path(__file__).with_suffix(".argv").write_text(json.dumps([sys.executable, *sys.argv[1:]]))
Path(args.json_out).write_text(json.dumps({
    "benchmark": "data_add",
    "machine": "fake machine, 2 cores",
    "quick": args.quick,
    "ratios": [
        {"what": "data add vs dvc add", "unit": "s", "pathtolive": 3.3, "peer": 4.5,
         "ratio": 1.36, "target": 1.0, "met": True},
        {"what": "hash + store vs dvc add", "unit": "s", "pathtolive": 2.0, "peer": 4.5,
         "ratio": 2.25, "target": 3.0, "met": False},
        {"what": "log_batch per metric", "unit": "us", "pathtolive": 14.4, "peer": 108.6,
         "ratio": 7.54, "target": None, "met": None},
    ],
}))
"""

FAILS = """
import sys
print("starting the servers")
sys.stdout.flush()
raise RuntimeError("mlflow models serve did not answer within 60 s")
"""

WRITES_NOTHING = """
print("done, but no --json-out")
"""

HANGS = """
import os, time
from pathlib import Path
Path(__file__).with_suffix(".pid").write_text(str(os.getpid()))
time.sleep(120)
"""


def _fake_benchmarks(folder: Path, **scripts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_harness.py").write_text('"""The marker of a benchmarks folder."""\n')
    for name, body in scripts.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))
    return folder


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    return _fake_benchmarks(
        tmp_path / "repo" / "benchmarks",
        data_add=WRITES_RATIOS,
        serving=FAILS,
        drift=WRITES_NOTHING,
        tracking_overhead=HANGS,
    )


def test_one_table_of_ratios_with_quick_and_the_same_interpreter(cli: CLI, fakes: Path) -> None:
    result = cli("bench", "--benchmarks", fakes, "--only", "data_add", "--quick")

    assert result.code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "benchmark" in line)
    for column in ("benchmark", "figure", "pathtolive", "peer", "ratio", "target", "met"):
        assert column in header
    row = next(line for line in result.stdout.splitlines() if "data add vs dvc add" in line)
    for cell in ("data_add", "3.30 s", "4.50 s", "1.36x", "≥ 1x", "yes"):
        assert cell in row
    missed = next(line for line in result.stdout.splitlines() if "hash + store" in line)
    assert "2.25x" in missed
    assert "≥ 3x" in missed
    assert "no" in missed
    assert "1 of 1 benchmarks ran" in result.stdout
    assert "1 of 2 targets met (missed: data_add: hash + store vs dvc add)" in result.stdout
    assert "machine: fake machine, 2 cores" in result.stdout
    assert "[1/1] data_add" in result.stderr

    interpreter, *argv = json.loads((fakes / "data_add.argv").read_text())
    assert interpreter == sys.executable
    assert argv[0] == "--quick"
    assert argv[1] == "--json-out"
    log = (fakes / ".work" / "logs" / "data_add.log").read_text()
    assert "round 1: pathtolive 3.30 s" in log


def test_without_quick_the_scripts_get_their_full_size(cli: CLI, fakes: Path) -> None:
    result = cli("bench", "--benchmarks", fakes, "--only", "data_add", "--json")

    assert result.code == 0, result.stderr
    assert "--quick" not in json.loads((fakes / "data_add.argv").read_text())
    assert result.json()["quick"] is False


def test_json_for_machines(cli: CLI, fakes: Path) -> None:
    result = cli("bench", "--benchmarks", fakes, "--only", "data_add", "--quick", "--json")

    assert result.code == 0, result.stderr
    body = result.json()
    assert body["all_ran"] is True
    assert body["quick"] is True
    assert body["machine"] == "fake machine, 2 cores"
    assert body["benchmarks_folder"] == str(fakes)
    assert (body["targets_met"], body["targets_missed"]) == (1, 1)
    [outcome] = body["benchmarks"]
    assert outcome["benchmark"] == "data_add"
    assert outcome["status"] == "ok"
    assert outcome["exit_code"] == 0
    assert [r["what"] for r in outcome["ratios"]] == [
        "data add vs dvc add",
        "hash + store vs dvc add",
        "log_batch per metric",
    ]
    assert outcome["ratios"][0] == {
        "what": "data add vs dvc add",
        "unit": "s",
        "pathtolive": 3.3,
        "peer": 4.5,
        "ratio": 1.36,
        "target": 1.0,
        "met": True,
    }
    assert [r["met"] for r in outcome["ratios"]] == [True, False, None]


def test_a_failing_script_is_reported_and_the_others_still_shown(cli: CLI, fakes: Path) -> None:
    result = cli("bench", "--benchmarks", fakes, "--only", "serving,data_add")

    assert result.code == 1
    # Run in the fixed order, whatever the order asked.
    assert result.stderr.index("data_add") < result.stderr.index("serving")
    assert "data add vs dvc add" in result.stdout
    failed_row = next(line for line in result.stdout.splitlines() if "serving" in line)
    assert "failed" in failed_row
    assert "1 of 2 benchmarks ran" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 benchmarks failed: serving (exit 1: RuntimeError: ")
    assert "did not answer within 60 s" in last
    log = fakes / ".work" / "logs" / "serving.log"
    assert str(log) in last
    assert "Traceback" in log.read_text()


def test_a_failing_script_in_json_mode(cli: CLI, fakes: Path) -> None:
    result = cli("bench", "--benchmarks", fakes, "--only", "data_add,serving,drift", "--json")

    assert result.code == 1
    body = result.json()  # one JSON document on stdout, the error line on stderr
    assert body["all_ran"] is False
    outcomes = {outcome["benchmark"]: outcome for outcome in body["benchmarks"]}
    assert outcomes["data_add"]["status"] == "ok"
    assert outcomes["serving"]["status"] == "failed"
    assert outcomes["serving"]["exit_code"] == 1
    assert "RuntimeError" in outcomes["serving"]["error"]
    assert outcomes["serving"]["ratios"] == []
    # Exit 0 but no results is a failure too: the script does not keep the contract.
    assert outcomes["drift"]["status"] == "failed"
    assert outcomes["drift"]["exit_code"] == 0
    assert "no --json-out file" in outcomes["drift"]["error"]
    assert "2 of 3 benchmarks failed" in result.stderr


def test_a_script_over_the_timeout_is_stopped(cli: CLI, fakes: Path) -> None:
    result = cli(
        "bench", "--benchmarks", fakes, "--only", "tracking_overhead", "--timeout", "2", "--json"
    )

    assert result.code == 1
    [outcome] = result.json()["benchmarks"]
    assert outcome["error"] == "timed out after 2 s"
    pid = int((fakes / "tracking_overhead.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.subprocess  # Ctrl-C reaches the bench and its script
def test_stopping_bench_stops_the_running_script(
    cli_env: dict[str, str], fakes: Path, tmp_path: Path
) -> None:
    pid_file = fakes / "tracking_overhead.pid"
    bench = subprocess.Popen(
        [sys.executable, "-m", "pathtolive", "bench", "--benchmarks", str(fakes)],
        cwd=tmp_path,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists(), bench.communicate(timeout=30)
    bench.terminate()
    _, stderr = bench.communicate(timeout=60)

    assert bench.returncode == 130
    assert "interrupted: stopped [2/4] tracking_overhead" in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_found_from_the_repository_below_it(cli: CLI, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _fake_benchmarks(repo / "benchmarks", data_add=WRITES_RATIOS)
    below = repo / "src" / "deep"
    below.mkdir(parents=True)

    for where in (repo, below, repo / "benchmarks"):
        result = cli("bench", "--only", "data_add", "--json", cwd=where)
        assert result.code == 0, result.stderr
        assert result.json()["benchmarks_folder"] == str(repo / "benchmarks")


def test_without_the_repository_it_says_what_to_do(cli: CLI, tmp_path: Path) -> None:
    result = cli("bench", cwd=tmp_path)

    assert result.code == 3
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: no benchmarks/ folder in ")
    assert "not in the installed package" in line
    assert "--benchmarks DIR" in line

    as_json = cli("bench", "--json", cwd=tmp_path)
    assert as_json.code == 3
    assert as_json.json()["error_code"] == "not_found"

    # A folder called benchmarks that is not pathtolive's (no _harness.py) is not taken.
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "data_add.py").write_text("print('someone else')\n")
    assert cli("bench", cwd=tmp_path).code == 3

    missing = cli("bench", "--benchmarks", tmp_path / "nope")
    assert missing.code == 3
    assert "no such folder" in missing.stderr


def test_scripts_missing_from_the_folder_or_unknown_names(cli: CLI, tmp_path: Path) -> None:
    folder = _fake_benchmarks(tmp_path / "benchmarks", data_add=WRITES_RATIOS)

    everything = cli("bench", "--benchmarks", folder)
    assert everything.code == 3
    assert "no tracking_overhead.py, serving.py, drift.py in" in everything.stderr
    assert "--only" in everything.stderr

    unknown = cli("bench", "--benchmarks", folder, "--only", "data_add,gpu")
    assert unknown.code == 4
    assert "unknown benchmark gpu" in unknown.stderr
    assert "data_add, tracking_overhead, serving, drift" in unknown.stderr


def test_ratio_direction_and_figures_lost_in_noise() -> None:
    slower_peer = Ratio.of("time", 2.0, 5.0, unit="s", target=2.0)
    assert (slower_peer.ratio, slower_peer.met) == (2.5, True)
    throughput = Ratio.of("req/s", 900.0, 100.0, unit="req/s", target=10.0, higher_is_better=True)
    assert (throughput.ratio, throughput.met) == (9.0, False)
    noise = Ratio.of("overhead", -0.1, 5.0, unit="us", target=20.0)
    assert (noise.ratio, noise.met) == (None, None)
    assert Ratio.of("nan", float("nan"), 1.0, unit="s").pathtolive is None
    assert Ratio.from_dict(slower_peer.to_dict()) == slower_peer
