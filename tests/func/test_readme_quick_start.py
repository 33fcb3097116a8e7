"""The README's quick start works as written, command by command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from .conftest import CLI

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    commands = []
    for line in block.group(1).splitlines():
        command = shlex.split(line, comments=True)
        if command:
            commands.append(command)
    return commands


def loans(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "loan_id": np.arange(rows) + seed * 100_000,
            "age": rng.integers(18, 80, rows),
            "region": rng.choice(["NW", "NE", "SW", "SE"], rows),
            "income": rng.normal(3000, 600, rows).round(2),
            "at_risk": rng.integers(0, 2, rows),
        }
    )


def test_quick_start_runs_as_written(cli: CLI, tmp_path: Path) -> None:
    workdir = tmp_path / "ws"
    first = loans(2000, seed=1)
    first.to_csv(workdir / "loans.csv", index=False)
    march = loans(2000, seed=2)
    # March stays inside January's contract (ranges, categories), as a real batch would.
    march = march[march["age"].between(first["age"].min(), first["age"].max())]
    march = march[march["income"].between(first["income"].min(), first["income"].max())]
    march = march.assign(loan_id=np.arange(len(march)))
    march.to_parquet(workdir / "loans-march.parquet", index=False)
    march.head(100).to_csv(workdir / "some.csv", index=False)

    commands = quick_start_commands()
    assert commands[0] == ["pathtolive", "init"]
    for command in commands:
        assert command[0] == "pathtolive"
        result = cli(*command[1:])
        assert result.code == 0, f"{' '.join(command)}: {result.stderr}"
    versions = cli("data", "list", "loans", "--json").json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["validation_status"] == "passed"
