"""Small helpers shared by the benchmark scripts: timing a command, its peak memory,
throw-away virtual environments for peers, and the machine description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_mb: float
    stdout: str = ""


# The command runs under a small launcher that reports its wall time and peak RSS. The
# peak comes from the launcher's RUSAGE_CHILDREN, not from wait4 on the command: Linux
# keeps a process's peak RSS across exec, and a child spawned (vfork) by this process
# would start with this process's peak; the launcher is small, so its child starts from
# almost nothing.
_MARK = "__pathtolive_measure__"
_LAUNCHER = f"""
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[1:])
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write("\\n{_MARK} %r %d\\n" % (elapsed, peak))
sys.exit(code)
"""


def measure(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Measurement:
    """Wall time and peak resident memory (KiB-exact, in MB) of one command: its own
    process tree, not this one's."""
    completed = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    stderr, _, report = completed.stderr.rpartition(f"\n{_MARK} ")
    if completed.returncode != 0 or not report:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({completed.returncode}):\n{completed.stdout}\n{stderr}"
        )
    elapsed, peak_kib = report.split()
    return Measurement(float(elapsed), int(peak_kib) / 1024, completed.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


def peer_venv(name: str, requirements: list[str]) -> Path:
    """A virtual environment with ``requirements`` under benchmarks/.work, made once."""
    venv = WORK / f"venv-{name}"
    marker = venv / ".ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            check=True,
        )
        marker.write_text(" ".join(requirements))
    return venv / "bin"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}"


def fsync_ms(folder: Path, writes: int = 50) -> float:
    """Median milliseconds of one small write + fsync in ``folder``: what a database
    that syncs each commit waits for, so figures of such peers depend on it."""
    path = folder / ".fsync-probe"
    timings = []
    try:
        with path.open("wb") as file:
            for _ in range(writes):
                started = time.perf_counter()
                file.write(b"x" * 128)
                file.flush()
                os.fsync(file.fileno())
                timings.append(time.perf_counter() - started)
    finally:
        path.unlink(missing_ok=True)
    return statistics.median(timings) * 1000
