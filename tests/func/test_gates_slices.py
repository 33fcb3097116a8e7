"""The slice gate finds the one region where a candidate got worse than live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.support.pipelines import write_pipelines

from .conftest import CLI

SLICED = """
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from pathtolive import Dataset, pipeline, step


@step
def split(data: Dataset, seed: int = 0):
    train_df, test_df = train_test_split(data.df, test_size=0.3, random_state=seed)
    return train_df, test_df


@step
def train(train_df, sabotage: str = "", text_labels: bool = False):
    labels = train_df["at_risk"].copy()
    if sabotage:
        flip = train_df["region"] == sabotage
        labels[flip] = 1 - labels[flip]
    if text_labels:
        labels = labels.map({0: "no", 1: "yes"})
    encode = ColumnTransformer(
        [("region", OneHotEncoder(handle_unknown="ignore"), ["region"])],
        remainder="passthrough",
    )
    model = make_pipeline(encode, RandomForestClassifier(n_estimators=40, random_state=0))
    return model.fit(train_df[["x1", "x2", "region"]], labels)


@step
def evaluate(model, test_df) -> dict:
    scores = model.predict_proba(test_df[["x1", "x2", "region"]])[:, 1]
    return {"roc_auc": float(roc_auc_score(test_df["at_risk"], scores))}


@pipeline
def sliced(data: Dataset, sabotage: str = "", text_labels: bool = False):
    tr, te = split(data)
    model = train(tr, sabotage=sabotage, text_labels=text_labels)
    return model, evaluate(model, te)
"""

CONFIG = """
[models.garages]
metric = "roc_auc"
[models.garages.gates]
slices = ["region"]
max_slice_drop = 0.05
min_slice_rows = 30
[models.garages.promotion]
live = "auto"
"""


def garages(cli: CLI, workspace: Path, tmp_path: Path, config_text: str = CONFIG) -> pd.DataFrame:
    """``garages@1`` (``at_risk`` the target, ``ssn`` tagged pii), the ``sliced`` pipeline
    and ``config_text`` in the workspace; the data's frame."""
    rng = np.random.default_rng(11)
    rows = 2000
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
            "ssn": [f"SSN-{index % 40:03d}-{index:05d}" for index in range(rows)],
        }
    )
    frame["at_risk"] = ((frame["x1"] + frame["x2"] + rng.normal(0, 0.5, rows)) > 0).astype(int)
    frame.to_csv(tmp_path / "garages.csv", index=False)
    added = cli(
        "data",
        "add",
        tmp_path / "garages.csv",
        "--name",
        "garages",
        "--tag",
        "at_risk=target",
        "--tag",
        "ssn=pii",
    )
    assert added.code == 0, added.stderr
    write_pipelines(workspace, sliced=SLICED)
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + config_text)
    return frame


def test_a_regression_in_one_slice_is_named(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    garages(cli, workspace, tmp_path)
    assert cli("run", "sliced", "--data", "garages@1", "--register", "garages").code == 0
    assert cli("promote", "garages@1").code == 0
    assert (
        cli(
            "run",
            "sliced",
            "--data",
            "garages@1",
            "--param",
            "sabotage=east",
            "--register",
            "garages",
        ).code
        == 0
    )

    checked = cli("gates", "check", "garages@2", "--json")
    assert checked.code == 1, checked.stderr
    slices = next(r for r in checked.json()["results"] if r["gate"] == "slices")
    assert slices["verdict"] == "fail"
    assert "east" in slices["detail"]
    statuses = {row["value"]: row["status"] for row in slices["data"]["slices"]}
    assert statuses["east"] == "regressed"
    assert [value for value, status in statuses.items() if status == "regressed"] == ["east"]
    refused = cli("promote", "garages@2")
    assert refused.code == 1
    assert "slices" in refused.stderr


def _no_ssn(text: str, frame: pd.DataFrame) -> None:
    assert "SSN-" not in text
    assert not [value for value in frame["ssn"] if value in text]


def test_a_pii_column_is_refused_as_a_slice_and_never_printed(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    # Before, `gates check` printed "worst ssn=SSN-000-…" and the card kept every value.
    frame = garages(cli, workspace, tmp_path, CONFIG.replace('["region"]', '["region", "ssn"]'))
    assert cli("run", "sliced", "--data", "garages@1", "--register", "garages").code == 0

    for command in (("gates", "check", "garages@1"), ("gates", "check", "garages@1", "--json")):
        refused = cli(*command)
        assert refused.code == 8, refused.stdout + refused.stderr
        assert "'ssn'" in refused.stderr
        assert "pii" in refused.stderr
        _no_ssn(refused.stdout + refused.stderr, frame)
    promoted = cli("promote", "garages@1")
    assert promoted.code == 8
    _no_ssn(promoted.stdout + promoted.stderr, frame)
    assert cli("audit", "log", "--action", "gates.checked", "--json").json() == []


def test_a_card_withholds_pii_slice_values_of_a_report_stored_before(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from pathtolive import Workspace

    frame = garages(cli, workspace, tmp_path)
    assert cli("run", "sliced", "--data", "garages@1", "--register", "garages").code == 0
    leaked = [
        {"column": "ssn", "value": value, "rows": 1, "candidate": 0.5, "reference": None}
        for value in frame["ssn"].head(23)
    ]
    stored = {
        "metric": "roc_auc",
        "results": [
            {
                "gate": "slices",
                "verdict": "note",
                "figure": None,
                "threshold": 0.05,
                "detail": f"worst ssn={frame['ssn'][0]}: 0.1",
                "data": {"slices": leaked},
            }
        ],
    }
    with Workspace.open(workspace) as ws, ws.context.metadata.write() as session:
        session.insert_gate_report(
            "garages", 1, passed=True, report=stored, at=datetime.now(UTC), by="ada"
        )

    written = cli("models", "card", "garages@1", "--out", tmp_path / "cards", "--json")
    assert written.code == 0, written.stderr
    for kind in ("markdown", "html"):
        text = Path(written.json()[kind]).read_text()
        _no_ssn(text, frame)
        assert "withheld" in text


def test_model_classes_and_target_labels_of_different_types_are_a_clear_error(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    garages(cli, workspace, tmp_path, "")
    ran = cli(
        "run",
        "sliced",
        "--data",
        "garages@1",
        "--param",
        "text_labels=true",
        "--register",
        "garages",
    )
    assert ran.code == 0, ran.stderr

    checked = cli("gates", "check", "garages@1")

    # Before, an internal error (exit 70): TypeError from sorting 0, 1, 'no' and 'yes'.
    assert checked.code == 4, checked.stdout + checked.stderr
    assert "'no', 'yes'" in checked.stderr
    assert "0, 1" in checked.stderr
    assert "at_risk" in checked.stderr
