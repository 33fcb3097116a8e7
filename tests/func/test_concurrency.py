"""Parallel writers: the same content added at once gives one version, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from tests.support.cli import run_in_process


@pytest.mark.subprocess  # parallel writers are real processes
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_parallel_adds_of_the_same_content_make_one_version(
    backend: str, tmp_path: Path, cli_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    environ = dict(cli_env)
    if backend == "postgres":
        environ[env.METADATA_URL] = request.getfixturevalue("postgres_url")
    root = tmp_path / "ws"
    pathtolive = [sys.executable, "-m", "pathtolive"]
    assert (
        run_in_process(
            ["init", str(root), "--local-role", "admin"], cwd=tmp_path, environ=environ
        ).code
        == 0
    )
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.choice(["x", "y"], 5000)})
    frame.to_csv(tmp_path / "same.csv", index=False)
    other = frame.iloc[::-1]  # other bytes, same values: either may come first
    other.to_csv(tmp_path / "other.csv", index=False)

    sources = ["same.csv"] * 4 + ["other.csv"] * 2
    processes = [
        subprocess.Popen(
            [*pathtolive, "data", "add", str(tmp_path / name), "--name", "shared", "--json"],
            cwd=root,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in sources
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        results.append((process.returncode, stdout, stderr))
    for code, _, stderr in results:
        assert code == 0, stderr

    listed = run_in_process(["data", "list", "shared", "--json"], cwd=root, environ=environ)
    assert listed.code == 0, listed.stderr
    versions = listed.json()
    assert sorted(v["version"] for v in versions) == [1, 2]
    assert len({v["content_hash"] for v in versions}) == 2
    objects = root / ".pathtolive" / "objects"
    assert sum(1 for p in objects.rglob("*") if p.is_file()) == 2
    verify = run_in_process(["audit", "verify"], cwd=root, environ=environ)
    assert verify.code == 0, verify.stdout + verify.stderr
    assert os.listdir(root / ".pathtolive" / "tmp") == []
