"""``make test`` runs ``--dist loadgroup``: tests marked with one ``xdist_group`` share a
worker (one Dask cluster, one prepared console workspace, a README walk alone). A pytest
that pytest-xdist cannot rename items in would spread them silently, so this runs a small
suite the way ``make test`` does and checks where each test ran."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

GROUPED = """
import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("n", range(4))
def test_parametrized(n):
    pass


def test_plain():
    pass
"""

LOOSE = """
import pytest


@pytest.mark.parametrize("n", range(4))
def test_loose(n):
    pass
"""


def test_tests_of_one_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_loose.py").write_text(LOOSE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "--dist", "loadgroup",
         "-v", "-p", "no:cacheprovider", "test_grouped.py", "test_loose.py"],
        cwd=tmp_path,
        # Only xdist: the other installed plugins would load in all three processes.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.findall(r"\[(gw\d+)\] \[\s*\d+%\] PASSED (\S+)", done.stdout)
    grouped = {worker for worker, test in ran if test.startswith("test_grouped.py")}
    assert len([test for _, test in ran if test.startswith("test_grouped.py")]) == 5
    assert len(grouped) == 1, ran
