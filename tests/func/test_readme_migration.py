"""The README's migration section runs as written, in this process: an MLflow model folder
and a notebook's model are imported, gated on a named holdout against live and a
cross-fitted baseline, promoted under four-eyes, served and monitored.

The test brings what the section says the team brings (the MLflow folder, the training
and holdout files) and does only what a reader would between the lines: read ann's token
off the screen. ``pathtolive`` lines run through the in-process CLI, ``serve`` on a
thread of this process (stopped by the ``kill`` line), ``curl`` and ``python -c`` in bash.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive import Workspace
from tests.func.test_readme_reference import blocks, shell_commands
from tests.support.environ import as_ada_in
from tests.support.live_path import cancer_frame
from tests.support.mlflow import write_mlflow3_folder
from tests.support.serving import serving_in_thread

from .conftest import CLI

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

SECTION = "Migrating from MLflow: models trained outside a pipeline"
TRAIN_ROWS = 400


def test_the_migration_section_runs_as_written(
    cli: CLI,
    workspace: Path,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (settings,) = blocks(SECTION, "toml")
    first, second = blocks(SECTION, "sh")
    (notebook,) = blocks(SECTION, "python")
    with (workspace / "pathtolive.toml").open("a") as toml:
        toml.write("\n" + settings.removeprefix("# pathtolive.toml\n"))
    # What the team brings: an MLflow folder, the notebook's training rows, a holdout.
    frame = cancer_frame()
    train, holdout = frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS:]
    train.to_csv(workspace / "tumours-train.csv", index=False)
    holdout.to_csv(workspace / "tumours-holdout.csv", index=False)
    features = train.drop(columns="target")
    legacy = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    write_mlflow3_folder(
        workspace / "tumour_mlflow", legacy.fit(features, train["target"]), features
    )

    outputs: dict[str, str] = {}
    tokens: dict[str, str] = {}
    with ExitStack() as server:
        port = ""
        for command in [*shell_commands(first)]:
            if command.startswith("pathtolive serve"):
                running = server.enter_context(serving_in_thread(workspace, environ=cli_env))
                port = str(urlparse(running.url).port)
            elif command.startswith("kill $!"):
                server.close()  # Ctrl-C: the prediction log is written out
            elif command.startswith(("curl", "python")):
                outputs[command] = _bash(command.replace("8080", port), workspace, cli_env)
            else:
                outputs[command] = _pathtolive(cli, command, tokens)

    gated = _output(outputs, "pathtolive gates check tumour-risk@1 --holdout tumours-holdout@1")
    assert gated.splitlines()[0].startswith("Training data unknown: tumour-risk@1 was registered")
    for line in _comments(first):
        assert line.split("…")[0].strip() in gated, (line, gated)
    served = _output(outputs, "curl -s localhost:8080/v1/models/tumour-risk:predict")
    assert '"predictions":[[' in served.replace(" ", "")
    monitored = _output(outputs, "pathtolive monitor tumour-risk --last 100")
    assert "reference tumours-holdout@1" in monitored

    # The notebook, in the workspace, as ada.
    as_ada_in(monkeypatch, workspace)
    capsys.readouterr()
    namespace = {"__name__": "__main__"}
    exec(compile(notebook, "README migration notebook", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    expected = [line.removeprefix("# ") for line in _comments(notebook)]
    assert printed[:4] == expected[:4]
    assert printed[4] == "pending"

    for command in shell_commands(second):
        outputs[command] = _pathtolive(cli, command, tokens)
    with Workspace.open(workspace, environ=cli_env) as ws:
        assert ws.model("tumour-risk@live").version == 2
    # The notebook's model was judged against live (the MLflow model) on the same rows,
    # with an interval from the paired bootstrap.
    beat_live = namespace["outcome"].report.result("beat_live")
    assert beat_live.verdict == "pass"
    assert beat_live.data["against"] == "live"
    assert "vs live" in beat_live.detail
    assert "interval" in beat_live.detail
    lineage = _output(outputs, "pathtolive lineage tumour-risk@1")
    assert "judged-on tumours-holdout@1" in lineage
    assert "chosen by ada" in lineage
    card = (workspace / "cards" / "tumour-risk-v1.md").read_text()
    assert "Training data unknown: tumour-risk@1" in card


def _output(outputs: dict[str, str], command: str) -> str:
    """What the README's line that starts with ``command`` printed."""
    (found,) = [text for line, text in outputs.items() if line.startswith(command)]
    return found


def _comments(block: str) -> list[str]:
    """The example output a block shows: the text of its comment-only lines."""
    found = [line.split("# ", 1)[1] for line in block.splitlines() if line.startswith("# ")]
    # A comment after code on its line is a note, not output; these are whole lines.
    return [line for line in found if not line.startswith("pathtolive.toml")]


def _pathtolive(cli: CLI, command: str, tokens: dict[str, str]) -> str:
    words = shlex.split(command, comments=True)
    extra: dict[str, str] = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        extra[name] = tokens["ann"] if value == "$ANN_TOKEN" else value
    assert words[0] == "pathtolive", command
    result = cli(*words[1:], extra_env=extra)
    assert result.code == 0, (command, result.stdout, result.stderr)
    if words[1:3] == ["tokens", "create"]:
        found = re.search(r"\bptl_[A-Za-z0-9_\-]+", result.stdout)
        assert found is not None, result.stdout
        tokens[words[words.index("--user") + 1]] = found.group()
    return result.stdout


def _bash(command: str, cwd: Path, environ: dict[str, str]) -> str:
    path = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    completed = subprocess.run(
        ["bash", "-e", "-c", command],
        cwd=cwd,
        env={**environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, (command, completed.stdout, completed.stderr)
    return completed.stdout
