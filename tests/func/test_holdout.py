"""A run's holdout is found from its call graph: dataset version and row ids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace, env
from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import RunGraph
from pathtolive.service.holdout import find_holdout
from pathtolive.service.runs import get_run
from tests.support.pipelines import RISK, write_pipelines


def test_the_holdout_is_the_test_split_the_model_was_evaluated_on(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    ws = Workspace.init(tmp_path / "ws", environ=clean_environ)
    monkeypatch.chdir(ws.root)
    ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
    write_pipelines(ws.root, risk=RISK)
    result = ws.run("risk", data="cancer@1", params={"n_estimators": 5})

    holdout = find_holdout(ws.context, result.run)
    assert holdout.dataset == "cancer@1"
    assert holdout.step == "evaluate"
    assert holdout.argument == "test_df"
    # 25% of 569 rows, stratified, the same rows the run's split gave.
    assert len(holdout.row_ids) == 143
    assert len(set(holdout.row_ids.tolist())) == 143
    assert holdout.row_ids.min() >= 0
    assert holdout.row_ids.max() < len(frame)
    stored = ws.load("cancer@1")
    pd.testing.assert_frame_equal(
        stored.iloc[np.sort(holdout.row_ids)], holdout.frame.sort_index(), check_dtype=False
    )
    # A replayed run (all cached) has the same holdout.
    again = ws.run("risk", data="cancer@1", params={"n_estimators": 5})
    assert again.cached == ("split", "train", "evaluate")
    np.testing.assert_array_equal(find_holdout(ws.context, again.run).row_ids, holdout.row_ids)

    model = LogisticRegression(max_iter=5000).fit(frame.drop(columns=["target"]), frame["target"])
    by_hand = ws.register_model(model, name="by-hand", data="cancer@1")
    notebook_run = get_run(ws.context, by_hand.run_id)
    with pytest.raises(InvalidInputError, match="gate it on a named holdout: --holdout DATASET@N"):
        find_holdout(ws.context, notebook_run)
    ws.close()


def test_latency_is_measured_in_a_clean_process_that_loads_from_the_store(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathtolive.service.latency import measure_latency

    frame = load_breast_cancer(as_frame=True).frame
    # The probe's default series (the suite's other tests time only its fewest calls).
    environ = {k: v for k, v in clean_environ.items() if k != env.LATENCY_BUDGET}
    ws = Workspace.init(tmp_path / "ws", environ=environ)
    monkeypatch.chdir(ws.root)
    ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
    features = frame.drop(columns=["target"])
    model = LogisticRegression(max_iter=5000).fit(features, frame["target"])
    version = ws.register_model(model, name="m", data="cancer@1")

    figures = measure_latency(ws.context, version, features.head(50))
    assert figures["model"] == "m@1"
    assert figures["single_row"]["calls"] == 200
    assert 0 < figures["single_row"]["p50_ms"] <= figures["single_row"]["p99_ms"]
    assert figures["batch_1000"]["calls"] == 20

    # A damaged artifact does not load there: the infra check fails with the reason.
    digest = version.artifact_digest
    path = ws.root / ".pathtolive" / "objects" / digest[:2] / digest[2:]
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    with pytest.raises(InvalidInputError, match="did not load and answer"):
        measure_latency(ws.context, version, features.head(5))
    ws.close()


LISTS = """
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from pathtolive import Dataset, pipeline, step


@step
def split(data: Dataset, seed: int = 0):
    return train_test_split(data.df, test_size=0.25, random_state=seed)


@step
def split_nested(data: Dataset, seed: int = 0):
    return {"frames": train_test_split(data.df, test_size=0.25, random_state=seed)}


@step
def train(train_df):
    X, y = train_df.drop(columns=["target"]), train_df["target"]
    return {"model": LogisticRegression(max_iter=200).fit(X, y), "rows": len(train_df)}


@step
def evaluate(model, test_df) -> dict:
    X, y = test_df.drop(columns=["target"]), test_df["target"]
    return {"roc_auc": roc_auc_score(y, model.predict_proba(X)[:, 1])}


@pipeline
def listed(data: Dataset):
    train_df, test_df = split(data)
    model = train(train_df)["model"]
    return model, evaluate(model, test_df)


@pipeline
def nested(data: Dataset):
    frames = split_nested(data)["frames"]
    model = train(frames[0])["model"]
    return model, evaluate(model, frames[1])
"""


def test_parts_of_lists_and_dicts_a_step_returned_are_traced_like_tuples(
    tmp_path: Path, clean_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, -6:]
    ws = Workspace.init(tmp_path / "ws", environ=clean_environ)
    monkeypatch.chdir(ws.root)
    ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
    write_pipelines(ws.root, lists=LISTS)

    for pipeline_name, split_step, expected_edge in (
        ("listed", "split", "test_df: split[0].1"),
        ("nested", "split_nested", "test_df: split_nested[0].frames.1"),
    ):
        result = ws.run(pipeline_name, data="cancer@1")
        assert result.run.outputs["model_digest"]
        holdout = find_holdout(ws.context, result.run)
        assert (holdout.step, holdout.argument) == ("evaluate", "test_df")
        # The rows train_test_split held out: a quarter of the dataset, its own row ids.
        assert len(holdout.row_ids) == math.ceil(len(frame) * 0.25)
        pd.testing.assert_frame_equal(
            frame.iloc[np.sort(holdout.row_ids)], holdout.frame.sort_index(), check_dtype=False
        )
        assert result.run.graph is not None
        describe = RunGraph.from_dict(result.run.graph).describe()
        assert expected_edge in describe[2]
        assert "model: train[1].model" in describe[2]
        # A replayed run (every step cached) loads its model from the same part.
        again = ws.run(pipeline_name, data="cancer@1", register=pipeline_name)
        assert again.cached == (split_step, "train", "evaluate")
        assert again.run.outputs["model_digest"] == result.run.outputs["model_digest"]
        assert again.model_version is not None
        loaded = ws.load_model(f"{pipeline_name}@1")
        assert loaded.predict(frame.drop(columns=["target"]).head(3)) is not None
        np.testing.assert_array_equal(find_holdout(ws.context, again.run).row_ids, holdout.row_ids)
    ws.close()
