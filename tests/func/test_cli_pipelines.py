"""Pipelines as code, tracked runs, the registry and lineage, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive.errors import IntegrityError
from tests.support.mlflow import write_mlflow2_folder
from tests.support.pipelines import BROKEN, RISK, write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer


def build_cancer(cli: CLI, workspace: Path, scratch: Path) -> None:
    """A new workspace with the breast-cancer data as cancer@1 and the test pipelines."""
    initialise_with_cancer(cli, workspace, scratch)
    write_pipelines(workspace, risk=RISK, broken=BROKEN)


@pytest.fixture
def cancer_workspace(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """The ``cli``'s workspace, from :func:`build_cancer` (prepared once per process)."""
    return workspace_templates.copy("cancer", build_cancer, tmp_path / "ws")


def test_run_register_inspect_and_trace_a_model(
    cli: CLI, cancer_workspace: Path, tmp_path: Path
) -> None:
    ran = cli(
        "run",
        "risk",
        "--data",
        "cancer@latest",
        "--param",
        "n_estimators=25",
        "--register",
        "risk-model",
        "--json",
    )
    assert ran.code == 0, ran.stderr
    result = ran.json()
    run_id = result["run"]["run_id"]
    assert result["executed"] == ["split", "train", "evaluate"]
    assert result["run"]["status"] == "succeeded"
    assert result["run"]["inputs"] == {"data": "cancer@1"}
    assert result["run"]["params"] == {"n_estimators": 25}
    assert result["metrics"]["roc_auc"] > 0.9
    assert result["model_version"]["version"] == 1
    assert result["model_version"]["flavor"] == "sklearn"

    details = cli("runs", "show", run_id[:10], "--json").json()
    assert [s["name"] for s in details["steps"]] == ["split", "train", "evaluate"]
    assert all(s["status"] == "succeeded" and s["seconds"] >= 0 for s in details["steps"])
    assert "trained 25 trees" in details["steps"][1]["logs"]
    progress = [m["value"] for m in details["metrics"] if m["key"] == "progress"]
    assert progress == [0.0, 1.0, 2.0]
    assert details["environment"]["python"].startswith("3.")
    assert any(p.startswith("scikit-learn==") for p in details["environment"]["packages"])
    assert details["run"]["pipelines_hash"]
    assert details["run"]["graph"]["edges"]
    human = cli("runs", "show", run_id[:10])
    assert "train" in human.stdout
    assert "split[0]" in human.stdout  # the call graph: train's input came from split

    shown = cli("models", "show", "risk-model@1", "--json").json()["version"]
    assert shown["run_id"] == run_id
    assert [i["name"] for i in shown["signature"]["inputs"]][:2] == ["mean radius", "mean texture"]
    assert "target" not in [i["name"] for i in shown["signature"]["inputs"]]
    assert shown["signature"]["output"]["kind"] == "probability"
    assert cli("models", "list", "--json").json()[0]["latest_version"] == 1

    forward = cli(
        "lineage", "risk-model@1", "--json", "--openlineage", tmp_path / "events.jsonl"
    ).json()
    run_node = forward["children"][0]
    kinds = {child["kind"]: child for child in run_node["children"]}
    assert kinds["data"]["label"] == "cancer@1"
    assert kinds["params"]["label"] == "n_estimators=25"
    assert kinds["environment"]["attributes"]["python"].startswith("3.")
    assert "code" in kinds
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[0]["inputs"][0]["name"] == "cancer"
    assert events[1]["outputs"][0]["name"] == "model/risk-model"
    assert "└──" in cli("lineage", "risk-model@1").stdout

    reverse = cli("lineage", "cancer@1", "--reverse", "--json").json()
    assert [child["label"] for child in reverse["children"]] == [run_id[:12]]
    assert reverse["children"][0]["children"][0]["label"] == "risk-model@1"

    actions = [e["action"] for e in cli("audit", "log", "--json").json()]
    for action in ("run.started", "run.finished", "model.created", "model.registered"):
        assert action in actions
    assert cli("audit", "verify").code == 0


def test_steps_are_cached_by_code_params_and_inputs(cli: CLI, cancer_workspace: Path) -> None:
    def run(*extra: str) -> dict[str, list[str]]:
        result = cli("run", "risk", "--data", "cancer@1", "--json", *extra)
        assert result.code == 0, result.stderr
        return result.json()

    first = run("--param", "n_estimators=10")
    assert first["cached"] == []
    again = run("--param", "n_estimators=10")
    assert again["cached"] == ["split", "train", "evaluate"]
    assert again["executed"] == []
    assert again["metrics"] == first["metrics"]
    changed = run("--param", "n_estimators=11")
    assert changed["cached"] == ["split"]
    assert changed["executed"] == ["train", "evaluate"]
    forced = run("--param", "n_estimators=10", "--no-cache")
    assert forced["executed"] == ["split", "train", "evaluate"]
    # Editing a step's code invalidates that step and what depends on its output.
    module = cancer_workspace / "pipelines" / "risk.py"
    module.write_text(module.read_text().replace("n_jobs=1)", "n_jobs=1, max_depth=3)"))
    edited = run("--param", "n_estimators=10")
    assert edited["cached"] == ["split"]


def test_reproduce_matches_bit_for_bit_and_refuses_other_code(
    cli: CLI, cancer_workspace: Path
) -> None:
    git = ["git", "-C", str(cancer_workspace)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "config", "user.email", "ada@example.org"], check=True)
    subprocess.run([*git, "config", "user.name", "Ada"], check=True)
    subprocess.run([*git, "add", "pipelines", "pathtolive.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "pipelines"], check=True)

    ran = cli("run", "risk", "--data", "cancer@1", "--param", "n_estimators=15", "--json").json()
    run_id = ran["run"]["run_id"]
    assert ran["run"]["code_commit"]
    assert ran["run"]["code_dirty"] is False

    same = cli("runs", "reproduce", run_id, "--json")
    assert same.code == 0, same.stderr + same.stdout
    report = same.json()
    assert report["matches"] is True
    assert report["model_matches"] is True
    assert report["differences"] == []
    rerun = cli("runs", "show", report["rerun"], "--json").json()["run"]
    assert rerun["reproduces"] == run_id
    assert rerun["outputs"]["executed"] == ["split", "train", "evaluate"]

    module = cancer_workspace / "pipelines" / "risk.py"
    module.write_text(module.read_text() + "\n# an uncommitted edit\n")
    refused = cli("runs", "reproduce", run_id)
    assert refused.code == 6
    assert "clean checkout" in refused.stderr
    subprocess.run([*git, "checkout", "-q", "--", "pipelines"], check=True)
    (cancer_workspace / "pipelines" / "extra.py").write_text("X = 1\n")
    subprocess.run([*git, "add", "pipelines"], check=True)
    subprocess.run([*git, "commit", "-qm", "more"], check=True)
    moved = cli("runs", "reproduce", run_id)
    assert moved.code == 6
    assert "git checkout" in moved.stderr


def test_a_failing_step_fails_the_run_and_registers_nothing(
    cli: CLI, cancer_workspace: Path
) -> None:
    failed = cli("run", "fails", "--data", "cancer@1", "--register", "never")
    assert failed.code == 11
    assert "step 'explode' failed: ZeroDivisionError" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    run = cli("runs", "list", "--status", "failed", "--json").json()[0]
    assert "ZeroDivisionError" in run["error"]
    assert "Traceback" in run["error"]
    steps = cli("runs", "show", run["run_id"], "--json").json()["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("prepare", "succeeded"),
        ("explode", "failed"),
    ]
    assert cli("models", "list", "--json").json() == []
    assert "run.failed" in [e["action"] for e in cli("audit", "log", "--json").json()]

    unstorable = cli("run", "returns_a_file", "--data", "cancer@1")
    assert unstorable.code == 4
    assert "cannot store" in unstorable.stderr
    weird = cli("run", "not_a_model", "--data", "cancer@1", "--register", "x")
    assert weird.code == 4
    assert "cannot store a model of type" in weird.stderr
    assert cli("runs", "list", "--json").json()[0]["status"] == "failed"
    no_model = cli("run", "no_model", "--data", "cancer@1", "--register", "x")
    assert no_model.code == 4
    assert "returned no model" in no_model.stderr
    assert cli("models", "list", "--json").json() == []


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["run", "nope", "--data", "cancer@1"], 3, "risk"),
        (["run", "risk", "--data", "cancer@1", "--param", "trees=3"], 4, "n_estimators"),
        (["run", "risk", "--data", "cancer@1", "--param", "n_estimators=many"], 4, "not an int"),
        (["run", "risk", "--data", "cancer@9"], 3, "no version 9"),
        (["run", "risk", "--data", "other@1"], 3, "no dataset 'other'"),
        (["run", "risk"], 4, "--data"),
        (["run", "risk", "--data", "cancer@1", "--register", "bad name"], 4, "model name"),
        (["models", "show", "risk-model@1"], 3, "no model"),
        (["runs", "show", "0123456789"], 3, "no run"),
    ],
)
def test_bad_input_is_one_clear_line(
    cli: CLI, cancer_workspace: Path, args: list[str], code: int, words: str
) -> None:
    result = cli(*args)
    assert result.code == code, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert cli("runs", "list", "--json").json() == []


def test_params_from_the_workspace_file(cli: CLI, cancer_workspace: Path) -> None:
    config = cancer_workspace / "pathtolive.toml"
    config.write_text(config.read_text() + "\n[pipelines.risk.params]\nn_estimators = 7\n")
    from_file = cli("run", "risk", "--data", "cancer@1", "--json").json()
    assert from_file["run"]["params"] == {"n_estimators": 7}
    from_flag = cli("run", "risk", "--data", "cancer@1", "--param", "n_estimators=8", "--json")
    assert from_flag.json()["run"]["params"] == {"n_estimators": 8}


def test_a_pipeline_module_with_a_syntax_error_is_named(cli: CLI, cancer_workspace: Path) -> None:
    (cancer_workspace / "pipelines" / "typo.py").write_text("def oops(:\n    pass\n")
    result = cli("run", "risk", "--data", "cancer@1")
    assert result.code == 4
    assert "typo.py" in result.stderr
    assert "typo.py:1: syntax error" in result.stderr


@pytest.mark.subprocess  # a real Ctrl-C
def test_ctrl_c_marks_the_run_cancelled(cancer_workspace: Path, cli_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pathtolive", "run", "sleeps", "--data", "cancer@1"],
        cwd=cancer_workspace,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell runs background jobs with Ctrl-C ignored, and children inherit that:
        # the run must see Ctrl-C as a terminal would send it, whoever started pytest.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    db = cancer_workspace / ".pathtolive" / "meta.db"
    import sqlite3

    for _ in range(600):
        connection = sqlite3.connect(db)
        steps = connection.execute("select count(*) from run_steps").fetchone()[0]
        connection.close()
        if steps >= 1:  # "prepare" is done: the run is inside the slow step
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    connection = sqlite3.connect(db)
    status = connection.execute("select status from runs").fetchone()[0]
    connection.close()
    assert status == "cancelled"


def test_aliases_move_with_history(cli: CLI, cancer_workspace: Path) -> None:
    for trees in ("5", "6"):
        assert (
            cli(
                "run",
                "risk",
                "--data",
                "cancer@1",
                "--param",
                f"n_estimators={trees}",
                "--register",
                "risk-model",
            ).code
            == 0
        )
    assert cli("alias", "set", "risk-model@1", "staging").code == 0
    moved = cli("alias", "set", "risk-model@2", "staging", "--reason", "more trees", "--json")
    assert moved.code == 0, moved.stderr
    assert moved.json()["from_version"] == 1
    assert cli("alias", "list", "--json").json() == [
        {"model": "risk-model", "alias": "staging", "version": 2}
    ]
    shown = cli("models", "show", "risk-model@staging", "--json").json()
    assert shown["version"]["version"] == 2
    history = [(h["from_version"], h["to_version"], h["reason"]) for h in shown["alias_history"]]
    assert history == [(None, 1, ""), (1, 2, "more trees")]
    assert cli("alias", "set", "risk-model@1", "Bad Alias").code == 4
    assert cli("alias", "set", "risk-model@7", "staging").code == 3
    viewer = cli("tokens", "create", "--user", "val", "--role", "viewer", "--json").json()
    denied = cli(
        "alias", "set", "risk-model@1", "staging", extra_env={"PATHTOLIVE_TOKEN": viewer["secret"]}
    )
    assert denied.code == 7
    events = cli("audit", "log", "--action", "alias.moved", "--json").json()
    assert len(events) == 2

    # live has a promotion policy (approval by default): a scientist cannot set it, an
    # admin only with a recorded override.
    scientist = cli("tokens", "create", "--user", "sam", "--role", "scientist", "--json").json()
    refused = cli(
        "alias",
        "set",
        "risk-model@2",
        "live",
        "--reason",
        "x",
        extra_env={"PATHTOLIVE_TOKEN": scientist["secret"]},
    )
    assert refused.code == 7
    assert "moves only through promotion" in refused.stderr
    assert "pathtolive promote risk-model@2 --to live" in refused.stderr
    assert cli("alias", "set", "risk-model@2", "live").code == 7  # an admin too, unasked
    forced = cli("alias", "set", "risk-model@2", "live", "--override", "hotfix", "--json")
    assert forced.code == 0, forced.stderr
    assert forced.json()["reason"] == "override: hotfix"
    (overridden,) = cli("audit", "log", "--action", "alias.overridden", "--json").json()
    assert (overridden["actor"], overridden["details"]["reason"]) == ("ada", "hotfix")


def test_import_an_mlflow_model_folder(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    features, target = frame.drop(columns=["target"]), frame["target"]
    model = LogisticRegression(max_iter=5000).fit(features, target)
    folder = write_mlflow2_folder(tmp_path / "mlflow-model", model, features)

    refused = cli("models", "import-mlflow", folder, "--name", "legacy")
    assert refused.code == 4
    assert "--trust-pickle" in refused.stderr
    assert cli("models", "list", "--json").json() == []

    imported = cli(
        "models", "import-mlflow", folder, "--name", "legacy", "--trust-pickle", "--json"
    )
    assert imported.code == 0, imported.stderr
    version = imported.json()
    assert version["source"] == "imported"
    assert version["signature"]["inputs"][0]["name"] == "mean radius"
    lineage = cli("lineage", "legacy@1", "--json").json()
    run_node = lineage["children"][0]
    assert run_node["attributes"]["kind"] == "imported"
    assert run_node["children"][0]["kind"] == "imported"
    assert run_node["children"][0]["attributes"]["mlflow run"]


def test_generated_data_notebook_api_and_loading(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathtolive import Workspace

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=400),
            "x2": rng.normal(size=400),
            "region": rng.choice(["N", "S", "E"], 400),
        }
    )
    frame["target"] = (frame["x1"] + 0.5 * frame["x2"] > 0).astype(int)
    ws = Workspace.init(tmp_path / "nb", environ=clean_environ)
    monkeypatch.chdir(ws.root)
    version = ws.add_dataset(frame, "generated", tags={"target": ["target"]})
    features = ["x1", "x2"]
    model = LogisticRegression().fit(frame[features], frame["target"])
    registered = ws.register_model(
        model, name="by-hand", data="generated@latest", metrics={"accuracy": 0.97}
    )
    assert registered.source == "notebook"
    run = ws.runs().iloc[0]
    assert run["kind"] == "notebook"
    assert run["data.data"] == version.ref
    assert [f["name"] for f in registered.signature["inputs"]] == features
    loaded = ws.load_model("by-hand@1")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame[features]))
    # The artifact is checked against the registry's hash before it is loaded.
    artifact = ws.root / ".pathtolive" / "objects" / registered.artifact_digest[:2]
    path = artifact / registered.artifact_digest[2:]
    path.chmod(0o644)
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        ws.load_model("by-hand@1")
    path.write_bytes(original)
    tree = ws.lineage("by-hand@1")
    assert any(node.kind == "data" and node.label == "generated@1" for node in tree.walk())
    reverse = ws.lineage("generated@1", reverse=True)
    assert [node.label for node in reverse.walk() if node.kind == "model"] == ["by-hand@1"]

    write_pipelines(ws.root, risk=RISK)
    result = ws.run("risk", data="generated@1", params={"n_estimators": 5}, register="gen")
    assert result.model_version is not None
    assert result.run.params == {"n_estimators": 5}
    ws.close()
    assert os.environ.get("PATHTOLIVE_TOKEN") is None


def test_registering_a_model_trusts_only_safe_types_unless_told(
    tmp_path: Path, clean_environ: dict[str, str]
) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from pathtolive import Workspace
    from pathtolive.errors import UntrustedModelError

    frame = load_breast_cancer(as_frame=True).frame.head(60)
    features = frame.drop(columns="target")
    # Its steps fitted apart, so nothing runs os.system here: it would run on predict.
    dangerous = Pipeline(
        [
            ("shell", FunctionTransformer(os.system).fit(features)),
            ("model", DummyClassifier().fit(features, frame["target"])),
        ]
    )
    system = f"{os.system.__module__}.system"  # posix.system
    ws = Workspace.init(tmp_path / "nb", environ=clean_environ)

    # Before, registration recorded posix.system as trusted without being asked.
    with pytest.raises(UntrustedModelError) as refused:
        ws.register_model(dangerous, name="evil")
    assert system in refused.value.message
    assert f"trusted=[{system!r}]" in refused.value.message
    assert "--trust" not in refused.value.message  # Python's words, not a flag
    assert refused.value.exit_code == 4
    assert ws.models() == []
    assert [e for e in ws.audit_log(limit=None) if e.action.startswith("model.")] == []
    with pytest.raises(UntrustedModelError):
        ws.register_model(dangerous, name="evil", trusted=["os.popen"])

    trusted = ws.register_model(dangerous, name="evil", trusted=[system])
    assert trusted.trusted_types == (system,)
    (event,) = [e for e in ws.audit_log(limit=None) if e.action == "model.registered"]
    assert event.details["trusted_types"] == [system]
    assert event.details["trusted_explicitly"] == [system]
    # What scikit-learn builds in this process needs no word: a forest's trees.
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, frame["target"])
    registered = ws.register_model(forest, name="forest")
    assert registered.trusted_types == ("sklearn.tree._tree.Tree",)
    ws.close()


CUSTOM_STEP = """
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from pathtolive import Dataset, pipeline, step


def clip(values):
    return np.clip(values, -1e6, 1e6)


@step
def train(data: Dataset):
    X, y = data.df.drop(columns=["target"]), data.df["target"]
    forest = RandomForestClassifier(n_estimators=3, random_state=0, n_jobs=1)
    return make_pipeline(FunctionTransformer(clip), forest).fit(X, y)


@pipeline
def custom(data: Dataset):
    return train(data)
"""


def test_run_register_needs_trust_for_a_custom_steps_function(
    cli: CLI, cancer_workspace: Path
) -> None:
    import re

    write_pipelines(cancer_workspace, custom=CUSTOM_STEP)
    refused = cli("run", "custom", "--data", "cancer@1", "--register", "clipped")
    assert refused.code == 4, refused.stdout + refused.stderr
    flags = re.findall(r"--trust (\S+\.clip)\b", refused.stderr)
    assert flags, refused.stderr
    assert cli("models", "list", "--json").json() == []

    trusted = cli(
        "run",
        "custom",
        "--data",
        "cancer@1",
        "--register",
        "clipped",
        "--trust",
        flags[0],
        "--no-cache",  # a cached step output naming pipeline code is not this test's matter
    )
    assert trusted.code == 0, trusted.stderr
    events = cli("audit", "log", "--action", "model.registered", "--json").json()
    assert [event["details"]["trusted_explicitly"] for event in events] == [[flags[0]]]
    assert set(events[0]["details"]["trusted_types"]) == {flags[0], "sklearn.tree._tree.Tree"}


GATE_IN_A_PIPELINE_MODULE = """
from pathtolive.gates import GateResult, gate, register_gate


@gate("from_the_workspace")
def _from_the_workspace(context):
    return GateResult("from_the_workspace", True, None, None, "pass", "registered on import")


register_gate(_from_the_workspace, replace=True)
"""


def test_a_gate_registered_by_a_pipeline_module_does_not_outlive_the_call(
    cli: CLI, cancer_workspace: Path
) -> None:
    """In-process CLI calls are separate processes as far as the gate catalog goes: a
    gate a workspace's module registers on import is gone after the call."""
    from pathtolive.gates import DEFAULT_CATALOG

    before = DEFAULT_CATALOG.names()
    write_pipelines(cancer_workspace, risk=RISK + GATE_IN_A_PIPELINE_MODULE)
    ran = cli("run", "risk", "--data", "cancer@1", "--param", "n_estimators=2")
    assert ran.code == 0, ran.stderr
    assert DEFAULT_CATALOG.names() == before
