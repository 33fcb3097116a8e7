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
def train(train_df, sabotage: str = ""):
    labels = train_df["at_risk"].copy()
    if sabotage:
        flip = train_df["region"] == sabotage
        labels[flip] = 1 - labels[flip]
    encode = ColumnTransformer(
        [("region", OneHotEncoder(handle_unknown="ignore"), ["region"])],
        remainder="passthrough",
    )
    model = make_pipeline(encode, RandomForestClassifier(n_estimators=40, random_state=0))
    return model.fit(train_df[["x1", "x2", "region"]], labels)


@step
def evaluate(model, test_df) -> dict:
    scores = model.predict_proba(test_df[["x1", "x2", "region"]])[:, 1]
    return {"roc_auc": roc_auc_score(test_df["at_risk"], scores)}


@pipeline
def sliced(data: Dataset, sabotage: str = ""):
    tr, te = split(data)
    model = train(tr, sabotage=sabotage)
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


def test_a_regression_in_one_slice_is_named(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    rows = 2000
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "region": rng.choice(["north", "south", "east", "west"], rows),
        }
    )
    frame["at_risk"] = ((frame["x1"] + frame["x2"] + rng.normal(0, 0.5, rows)) > 0).astype(int)
    frame.to_csv(tmp_path / "garages.csv", index=False)
    assert (
        cli(
            "data", "add", tmp_path / "garages.csv", "--name", "garages", "--tag", "at_risk=target"
        ).code
        == 0
    )
    write_pipelines(workspace, sliced=SLICED)
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + CONFIG)
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
