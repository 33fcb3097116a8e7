"""The benchmark harness measures the command's own peak memory, not its parent's."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.support.benchmarks import load_script


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load_script("_harness", "benchmark_harness")


def test_peak_memory_is_the_commands_own(harness: ModuleType, tmp_path: Path) -> None:
    held = np.ones(600 * 2**20 // 8)  # this process holds 600 MB while the command runs
    allocate = "import numpy as np; a = np.ones(150 * 2**20 // 8); a.sum()"
    big = harness.measure([sys.executable, "-c", allocate], cwd=tmp_path)
    small = harness.measure([sys.executable, "-c", "pass"], cwd=tmp_path)
    assert held.sum() > 0
    assert small.peak_rss_mb < 100  # a bare interpreter, not this process's 600 MB
    assert 150 < big.peak_rss_mb < 400  # the 150 MB it allocated, and numpy, not 600 more


def test_a_failing_command_raises_with_its_output(harness: ModuleType, tmp_path: Path) -> None:
    failing = "import sys; print('went wrong', file=sys.stderr); sys.exit(3)"
    with pytest.raises(RuntimeError, match=r"failed \(3\):\n\nwent wrong"):
        harness.measure([sys.executable, "-c", failing], cwd=tmp_path)
