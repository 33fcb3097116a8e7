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


def measure(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Measurement:
    """Wall time and peak resident memory of one command (its own process only)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{out}\n{err}")
    return Measurement(elapsed, usage.ru_maxrss / 1024)


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
