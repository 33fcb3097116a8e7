"""The README's ten-minute tutorial runs as written: its shell blocks in bash, its
pipeline module saved where it says, the server on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.serving import cli_environ, free_port

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.xdist_group("readme-tutorial")]

README = Path(__file__).resolve().parents[2] / "README.md"


def tutorial_blocks() -> tuple[str, str, str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Ten-minute tutorial")
    section = text[start : text.index("\n## ", start + 1)]
    shell = re.findall(r"```sh\n(.*?)```", section, re.S)
    python = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(shell) == 2
    assert len(python) == 1
    return shell[0], python[0], shell[1]


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    setup, pipeline, release = tutorial_blocks()
    port = str(free_port())
    environ = cli_environ()
    # The commands as a user types them: `pathtolive` and `python` from this environment.
    environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ["PATH"]])

    def bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            ["bash", "-e", "-c", script.replace("8080", port)],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return completed

    bash(setup, tmp_path)
    workspace = tmp_path / "tumours"
    path = workspace / pipeline.splitlines()[0].removeprefix("# ").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pipeline)
    out = bash(release, workspace).stdout
    assert "registered tumour-risk@1" in out
    assert "tumour-risk@1 is now live" in out
    assert '"predictions":[[' in out
    assert '"method":"shap.TreeExplainer"' in out
    assert "reference tumours@1" in out
    assert (workspace / "report.html").read_text().startswith("<!DOCTYPE html>")
