"""Running the repository's benchmark scripts in one go and collecting their ratios.

The scripts live in the source repository's ``benchmarks/`` folder, not in the installed
package: :func:`find_benchmarks` looks for that folder (given, here, or above). Each
script is run with this interpreter as ``SCRIPT [--quick] --json-out FILE`` and writes its
figures to FILE in the format of :func:`write_results` (the scripts call it)::

    {"benchmark": "data_add", "machine": "2 cores (...)", "quick": true,
     "ratios": [{"what": "...", "unit": "s", "pathtolive": 3.3, "peer": 4.5,
                 "ratio": 1.36, "target": 1.0, "met": true}]}

A ratio is always "how many times better pathtolive is": the peer's time over
pathtolive's, or pathtolive's throughput over the peer's; ``target`` is the least ratio
the issue asked for (``met`` is null without one).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pathtolive.errors import InvalidInputError, NotFoundError

__all__ = [
    "BENCHMARKS",
    "BenchmarkOutcome",
    "Ratio",
    "find_benchmarks",
    "read_results",
    "run_benchmark",
    "select_benchmarks",
    "write_results",
]

# The benchmarks against a peer, in the order they run: script stem -> what it compares.
BENCHMARKS: dict[str, str] = {
    "data_add": "pathtolive data add vs dvc add",
    "tracking_overhead": "metric tracking vs MLflow",
    "serving": "pathtolive serve vs mlflow models serve, bentoml serve and a FastAPI floor",
    "drift": "drift detection vs Evidently",
}
FOLDER = "benchmarks"
# What tells pathtolive's benchmarks folder from any other one called so.
MARKER = "_harness.py"
# After an interrupt or a timeout, how long the script's process group gets to clean up
# (stop its servers, remove its folders) before it is killed.
_GRACE_SECONDS = 10.0

NOT_FOUND_HINT = (
    "the benchmark scripts are in pathtolive's source repository, not in the installed "
    "package: run from a clone of the repository (or below it), or pass --benchmarks DIR"
)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Ratio:
    """One figure of a benchmark: pathtolive's value, the peer's, and how many times
    better pathtolive is."""

    what: str
    pathtolive: float | None
    peer: float | None
    ratio: float | None
    target: float | None = None
    met: bool | None = None
    unit: str = ""

    @classmethod
    def of(
        cls,
        what: str,
        pathtolive: float | None,
        peer: float | None,
        *,
        unit: str,
        target: float | None = None,
        higher_is_better: bool = False,
    ) -> Ratio:
        """The ratio of two measurements: ``peer / pathtolive`` for times and sizes,
        ``pathtolive / peer`` with ``higher_is_better`` (throughput). A value that is
        missing, zero or negative (a difference lost in noise) gives no ratio."""
        mine, theirs = _finite(pathtolive), _finite(peer)
        ratio: float | None = None
        if mine is not None and theirs is not None and mine > 0 and theirs > 0:
            ratio = mine / theirs if higher_is_better else theirs / mine
        met = None if target is None or ratio is None else ratio >= target
        return cls(what, mine, theirs, ratio, target, met, unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "unit": self.unit,
            "pathtolive": self.pathtolive,
            "peer": self.peer,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Ratio:
        if not isinstance(data, dict) or not isinstance(data.get("what"), str):
            raise ValueError(f"a ratio must be an object with a 'what' string, not {data!r}")
        met = data.get("met")
        if met is not None and not isinstance(met, bool):
            raise ValueError(f"'met' must be true, false or null, not {met!r}")
        unit = data.get("unit", "")
        return cls(
            what=data["what"],
            pathtolive=_finite(data.get("pathtolive")),
            peer=_finite(data.get("peer")),
            ratio=_finite(data.get("ratio")),
            target=_finite(data.get("target")),
            met=met,
            unit=unit if isinstance(unit, str) else "",
        )


def write_results(
    path: str | os.PathLike[str],
    benchmark: str,
    ratios: Sequence[Ratio],
    *,
    machine: str,
    quick: bool = False,
) -> None:
    """Write a benchmark's ratios for ``pathtolive bench`` (a script's ``--json-out``)."""
    body = {
        "benchmark": benchmark,
        "machine": machine,
        "quick": quick,
        "ratios": [ratio.to_dict() for ratio in ratios],
    }
    Path(path).write_text(json.dumps(body, indent=2) + "\n")


def read_results(path: Path) -> tuple[list[Ratio], str | None]:
    """The ratios and machine a script wrote; ValueError when the file is not that."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError("it wrote no --json-out file (does the script support it?)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"its --json-out file is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("ratios"), list):
        raise ValueError("its --json-out file has no 'ratios' list")
    machine = data.get("machine")
    return [Ratio.from_dict(item) for item in data["ratios"]], (
        machine if isinstance(machine, str) else None
    )


# -- finding the scripts -------------------------------------------------------------------


def _is_benchmarks_folder(folder: Path) -> bool:
    return (folder / MARKER).is_file() and any(
        (folder / f"{name}.py").is_file() for name in BENCHMARKS
    )


def find_benchmarks(given: Path | None = None, start: Path | None = None) -> Path:
    """The folder of benchmark scripts: ``given``, else the current folder if it is one,
    else ``benchmarks/`` in it or the nearest folder above that has one."""
    if given is not None:
        if not given.is_dir():
            raise NotFoundError(f"--benchmarks {given}: no such folder")
        return given.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_benchmarks_folder(folder):
            return folder
        if _is_benchmarks_folder(folder / FOLDER):
            return folder / FOLDER
    raise NotFoundError(f"no {FOLDER}/ folder in {here} or above: {NOT_FOUND_HINT}")


def select_benchmarks(folder: Path, only: str | None = None) -> list[tuple[str, Path]]:
    """The benchmarks to run, in order, with their scripts: all of them, or the
    comma-separated names in ``only``; each script must be in ``folder``."""
    names = list(BENCHMARKS)
    if only is not None:
        asked = [name.strip().removesuffix(".py") for name in only.split(",") if name.strip()]
        unknown = [name for name in asked if name not in BENCHMARKS]
        if unknown or not asked:
            raise InvalidInputError(
                f"--only {only!r}: unknown benchmark {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(BENCHMARKS)}"
            )
        names = [name for name in BENCHMARKS if name in asked]
    missing = [name for name in names if not (folder / f"{name}.py").is_file()]
    if missing:
        raise NotFoundError(
            f"no {', '.join(f'{name}.py' for name in missing)} in {folder}: pass --only "
            f"with the benchmarks it holds, or --benchmarks with the repository's "
            f"{FOLDER}/ folder"
        )
    return [(name, folder / f"{name}.py") for name in names]


# -- running one ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkOutcome:
    """How one benchmark script ran: its ratios, or why it failed."""

    benchmark: str
    script: Path
    seconds: float
    exit_code: int | None
    error: str | None = None
    log: Path | None = None
    machine: str | None = None
    ratios: list[Ratio] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "status": "ok" if self.ok else "failed",
            "script": str(self.script),
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "error": self.error,
            "log": None if self.log is None else str(self.log),
            "machine": self.machine,
            "ratios": [ratio.to_dict() for ratio in self.ratios],
        }


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Interrupt the script's whole process group (its servers and peers too), as Ctrl-C
    would, so its cleanup runs; kill what is left after a grace period."""
    for sig, wait in ((signal.SIGINT, _GRACE_SECONDS), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            # The group may outlive its leader; take the stragglers down too.
            if sig == signal.SIGINT:
                os.killpg(process.pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


class _Terminated(KeyboardInterrupt):
    """SIGTERM while a script runs: stopped like an interrupt, so the script's process
    group is not left running."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _copy_output(
    stream: IO[bytes], log: IO[bytes], echo: IO[str] | None, on_line: Callable[[str], None] | None
) -> None:
    try:
        for raw in iter(stream.readline, b""):
            log.write(raw)
            log.flush()
            line = raw.decode(errors="replace").rstrip()
            if echo is not None:
                echo.write(line + "\n")
                echo.flush()
            if on_line is not None and line.strip():
                on_line(line)
    except (OSError, ValueError):
        # The log was closed under it: a process the script left behind still holds
        # the pipe after the script ended. Its output is not the script's.
        return


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    return next((line for line in reversed(lines) if line), "")


def run_benchmark(
    name: str,
    script: Path,
    *,
    quick: bool,
    log: Path,
    timeout: float | None = None,
    echo: IO[str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BenchmarkOutcome:
    """Run one script with this interpreter (``--quick`` passed through), its output to
    ``log`` (and ``echo``), and read the ratios it wrote. A failure is in the outcome,
    not raised; a KeyboardInterrupt stops the script's process group and is re-raised."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pathtolive-bench-") as tmp:
        json_out = Path(tmp) / f"{name}.json"
        command = [sys.executable, str(script), *(["--quick"] if quick else [])]
        command += ["--json-out", str(json_out)]
        started = time.perf_counter()
        with log.open("wb") as log_file:
            log_file.write(f"$ {' '.join(command)}\n".encode())
            log_file.flush()
            process = subprocess.Popen(
                command,
                cwd=script.parent.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to stop it whole
            )
            assert process.stdout is not None
            copier = threading.Thread(
                target=_copy_output, args=(process.stdout, log_file, echo, on_line), daemon=True
            )
            copier.start()
            timed_out = False
            in_main = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main else None
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(process)
            except KeyboardInterrupt:
                _stop(process)
                raise
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
                copier.join(timeout=_GRACE_SECONDS)
        seconds = time.perf_counter() - started
        code = process.returncode

        def failed(error: str) -> BenchmarkOutcome:
            return BenchmarkOutcome(name, script, seconds, code, error, log)

        if timed_out:
            return failed(f"timed out after {timeout:g} s")
        if code != 0:
            how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
            last = _last_line(log)
            return failed(f"{how}" + (f": {last}" if last else ""))
        try:
            ratios, machine = read_results(json_out)
        except ValueError as exc:
            return failed(str(exc))
    return BenchmarkOutcome(name, script, seconds, code, None, log, machine, ratios)
