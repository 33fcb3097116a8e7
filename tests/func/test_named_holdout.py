"""Models from outside a pipeline go through the gates on a named holdout: the leakage
guard, an unknown training set said plainly, cross-fitted baselines, the comparison with
live, and four-eyes promotion, serving and monitoring of a notebook's and an MLflow
folder's model.

One workspace serves the module: ``tumours-train`` (the rows models are fitted on),
``tumours-holdout`` (rows none saw) and ``patients`` (the same rows with an ``id``
column), and a ``tumours`` model whose gates name ``tumours-holdout@latest``."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive import Workspace, env
from pathtolive.errors import DataErasedError, InvalidInputError
from pathtolive.ui import model_card_markdown
from tests.support.cli import Result, run_in_process
from tests.support.environ import without_settings
from tests.support.live_path import cancer_frame, check_served_and_monitored
from tests.support.mlflow import write_mlflow3_folder
from tests.support.pipelines import RISK, write_pipelines
from tests.support.serving import serving_in_thread

TRAIN_ROWS = 400
SETTINGS = """
[models.tumours]
target = "target"
metric = "roc_auc"
[models.tumours.gates]
holdout = "tumours-holdout@latest"
min_metric = 0.9
baseline = "logistic"
beat_baseline_by = -0.05
beat_live_by = -0.05
[models.tumours.promotion]
live = "four-eyes"
[models.leaky]
target = "target"
"""


def _environ() -> dict[str, str]:
    environ = without_settings()
    environ[env.USER] = "ada"
    environ["COLUMNS"] = "200"
    return environ


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("named-holdout") / "ws"
    workspace = Workspace.init(root, environ=_environ())
    with (root / "pathtolive.toml").open("a") as toml:
        toml.write(SETTINGS)
    workspace.close()
    workspace = Workspace.open(root, environ=_environ())
    frame = cancer_frame()
    tags = {"target": ["target"]}
    workspace.add_dataset(frame.iloc[:TRAIN_ROWS], "tumours-train", tags=tags)
    workspace.add_dataset(
        frame.iloc[TRAIN_ROWS:].reset_index(drop=True), "tumours-holdout", tags=tags
    )
    patients = frame.assign(patient=[f"p{i}" for i in range(len(frame))])
    workspace.add_dataset(patients.iloc[:TRAIN_ROWS], "patients", tags={**tags, "patient": ["id"]})
    yield workspace
    workspace.close()


def _cli(ws: Workspace, *args: str, token: str | None = None) -> Result:
    extra = {} if token is None else {env.TOKEN: token}
    return run_in_process(args, cwd=ws.root, environ={**_environ(), **extra})


def _train() -> tuple[pd.DataFrame, pd.Series]:
    train = cancer_frame().iloc[:TRAIN_ROWS]
    return train.drop(columns="target"), train["target"]


def _approver(ws: Workspace, user: str) -> str:
    made = _cli(ws, "tokens", "create", "--user", user, "--role", "approver", "--json")
    assert made.code == 0, made.stderr
    return str(made.json()["secret"])


def test_a_holdout_the_model_trained_on_is_refused(ws: Workspace) -> None:
    features, target = _train()
    model = LogisticRegression(max_iter=5000).fit(features, target)
    leaky = ws.register_model(model, name="leaky", data="tumours-train@1")
    # A second holdout version that repeats the last 50 training rows.
    overlapping = cancer_frame().iloc[TRAIN_ROWS - 50 :].reset_index(drop=True)
    ws.add_dataset(overlapping, "tumours-overlap", tags={"target": ["target"]})

    same = _cli(ws, "gates", "check", leaky.ref, "--holdout", "tumours-train@latest")
    with pytest.raises(InvalidInputError) as shared:
        ws.check_gates(leaky.ref, holdout="tumours-overlap@1")

    assert same.code == InvalidInputError.exit_code
    assert same.stderr.strip().splitlines() == [
        f"error: {leaky.ref} was trained on tumours-train@1, so it cannot be judged on it; "
        "name a dataset version it was not trained on: --holdout DATASET@N"
    ]
    assert shared.value.message == (
        "the holdout tumours-overlap@1 shares 50 of its 219 rows with tumours-train@1, which "
        f"{leaky.ref} was trained on (matched by row content); name a dataset version it was "
        "not trained on: --holdout DATASET@N"
    )
    with ws.context.metadata.read() as session:  # refused before anything was judged
        assert session.latest_gate_report("leaky", leaky.version) is None


def test_rows_are_matched_by_their_id_column_where_the_data_has_one(ws: Workspace) -> None:
    features, target = _train()
    model = LogisticRegression(max_iter=5000).fit(features, target)
    version = ws.register_model(model, name="leaky", data="patients@1")
    # Rows whose features were corrected since, but that are the same patients: a
    # content hash would miss them; the id column does not.
    later = cancer_frame().assign(patient=[f"p{i}" for i in range(len(cancer_frame()))])
    later = later.iloc[TRAIN_ROWS - 10 :].reset_index(drop=True)
    later["mean_radius"] += 0.01
    ws.add_dataset(later, "patients", tags={"target": ["target"], "patient": ["id"]})

    with pytest.raises(InvalidInputError) as caught:
        ws.check_gates(version.ref, holdout="patients@2")

    assert caught.value.message.startswith(
        f"the holdout patients@2 shares 10 of its 179 rows with patients@1, which "
        f"{version.ref} was trained on (matched by the id column patient)"
    )
    # Once its training rows are erased, nothing shows the holdout unseen: it is not
    # released again, as for a run's own split.
    ws.forget("patients@1", reason="a request to erase")
    with pytest.raises(DataErasedError, match="trained on erased data patients@1; train a new"):
        ws.check_gates(version.ref, holdout="patients@2")


def test_a_model_without_a_holdout_is_told_how_to_name_one(ws: Workspace) -> None:
    features, target = _train()
    bare = ws.register_model(LogisticRegression(max_iter=5000).fit(features, target), name="leaky")

    result = _cli(ws, "gates", "check", bare.ref)
    wrong = _cli(ws, "gates", "check", bare.ref, "--holdout", "tumours-holdout@1", "--target", "y")

    assert result.code == InvalidInputError.exit_code
    assert "(a model registered by hand)" in result.stderr
    assert "gate it on a named holdout: --holdout DATASET@N" in result.stderr
    assert wrong.code == InvalidInputError.exit_code
    assert "the holdout tumours-holdout@1 has no column 'y'" in wrong.stderr


@pytest.mark.slow
def test_a_notebook_model_of_unknown_training_data_goes_live_on_the_named_holdout(
    ws: Workspace,
) -> None:
    features, target = _train()
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(features, target)
    # No data=: what it was trained on is not known; a sample of its input gives the
    # signature the server checks requests against.
    version = ws.register_model(forest, name="tumours", sample=features.head())

    outcome = ws.promote(version.ref, reason="from the notebook")

    report = outcome.report
    lines = report.lines()
    assert lines[0].startswith(
        f"Training data unknown: {version.ref} was registered without the data it was trained on"
    )
    assert "judged on tumours-holdout@1 (169 rows), named as tumours-holdout@latest by " in (
        "\n".join(lines)
    )
    assert "[models.tumours.gates] holdout" in report.holdout["chosen_by"]
    assert report.holdout["training"] is None
    baseline = report.result("beat_baseline")
    assert "(cross-fitted on the holdout)" in baseline.detail
    assert baseline.data["fit"].startswith("cross-fitted on the holdout (5 folds")
    assert report.passed, lines
    assert report.result("data_contract").detail == "the holdout met its contract (inferred)"
    assert (outcome.applied, outcome.promotion.policy) == (False, "four-eyes")

    approved = _cli(ws, "approve", version.ref, "--to", "live", token=_approver(ws, "bob"))
    assert approved.code == 0, approved.stderr
    card = model_card_markdown(ws.model_card(version.ref))
    assert f"Training data unknown: {version.ref} was registered without" in card
    assert "Judged on tumours-holdout@1 (169 rows), named as tumours-holdout@latest" in card
    lineage = _cli(ws, "lineage", version.ref).stdout
    assert "judged-on tumours-holdout@1" in lineage
    assert "training data unknown" in lineage

    # Served and monitored: drift against the holdout's profile, the only data known.
    rows = cancer_frame().drop(columns="target").iloc[TRAIN_ROWS : TRAIN_ROWS + 3]
    with serving_in_thread(ws.root, environ=_environ()) as server:
        check_served_and_monitored(
            ws,
            server.url,
            version.ref,
            rows,
            explainer="shap.TreeExplainer",
            atol=1e-9,
            reference="tumours-holdout@1",
        )

    # An MLflow folder of a model trained on known data, against that live version.
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folder = write_mlflow3_folder(ws.root / "tumour_mlflow", scaled.fit(features, target), features)
    imported = _cli(
        ws,
        "models",
        "import-mlflow",
        str(folder),
        "--name",
        "tumours",
        "--data",
        "tumours-train@1",
        "--json",
    )
    assert imported.code == 0, imported.stderr
    ref = f"tumours@{imported.json()['version']}"
    promoted = _cli(ws, "promote", ref, "--reason", "migrated from MLflow", "--json")
    assert promoted.code == 0, promoted.stderr
    judged = promoted.json()["report"]
    assert judged["holdout"]["training"] == ["tumours-train@1"]
    assert judged["holdout"]["leakage"] == "no row shared with tumours-train@1 (by row content)"
    assert judged["holdout"]["baseline_fit"] == "trained on tumours-train@1"
    live = next(r for r in judged["results"] if r["gate"] == "beat_live")
    assert live["data"]["against"] == "live"
    assert "vs live" in live["detail"]
    assert "interval" in live["detail"]
    approved = _cli(ws, "approve", ref, "--to", "live", token=_approver(ws, "cy"))
    assert approved.code == 0, approved.stderr
    assert ws.model("tumours@live").ref == ref


def test_a_pipeline_model_keeps_its_own_split_unless_a_holdout_is_named(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws.root)
    write_pipelines(ws.root, risk=RISK)
    result = ws.run("risk", data="tumours-train@1", params={"n_estimators": 10}, register="tumours")
    assert result.model_version is not None
    ref = result.model_version.ref

    own = ws.check_gates(ref)  # [models.tumours.gates] holdout does not apply
    named = ws.check_gates(ref, holdout="tumours-holdout@1")

    assert own.holdout["named"] is None
    assert own.judged_lines()[0] == "judged on tumours-train@1 (100 rows): the run's own test split"
    assert named.judged_lines()[:2] == [
        "judged on tumours-holdout@1 (169 rows), named by ada",
        "unseen by the model: no row shared with tumours-train@1 (by row content)",
    ]
    events = [e for e in ws.audit_log(subject=f"model:{ref}") if e.action == "gates.checked"]
    assert sorted(
        (e.details["holdout"]["dataset"], e.details["holdout"]["named"]) for e in events
    ) == [
        ("tumours-holdout@1", "tumours-holdout@1"),
        ("tumours-train@1", None),
    ]
