"""Pipeline modules written into test workspaces."""

from __future__ import annotations

from pathlib import Path

RISK = """
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from pathtolive import Dataset, log_metric, pipeline, step


@step
def split(data: Dataset, test_size: float = 0.25, seed: int = 0):
    df = data.df
    train_df, test_df = train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df[data.target]
    )
    return train_df, test_df


@step
def train(train_df, n_estimators: int = 200, seed: int = 0):
    X, y = train_df.drop(columns=["target"]).select_dtypes("number"), train_df["target"]
    model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    for depth_seen, _ in enumerate(range(3)):
        log_metric("progress", depth_seen, step=depth_seen)
    print("trained", n_estimators, "trees")
    return model.fit(X, y)


@step
def evaluate(model, test_df) -> dict:
    X, y = test_df.drop(columns=["target"]).select_dtypes("number"), test_df["target"]
    return {
        "roc_auc": roc_auc_score(y, model.predict_proba(X)[:, 1]),
        "accuracy": accuracy_score(y, model.predict(X)),
    }


@pipeline
def risk(data: Dataset, n_estimators: int = 200):
    tr, te = split(data)
    model = train(tr, n_estimators=n_estimators)
    return model, evaluate(model, te)
"""

BROKEN = """
from pathtolive import Dataset, pipeline, step


@step
def prepare(data: Dataset):
    return data.df


@step
def explode(frame):
    return len(frame) / 0


@step
def unstorable(frame):
    return open(__file__)


@step
def slow(frame, seconds: float = 60.0):
    import time

    time.sleep(seconds)
    return frame


@pipeline
def fails(data: Dataset):
    return explode(prepare(data))


@pipeline
def returns_a_file(data: Dataset):
    return unstorable(prepare(data))


@pipeline
def sleeps(data: Dataset, seconds: float = 60.0):
    return slow(prepare(data), seconds=seconds)


@pipeline
def not_a_model(data: Dataset):
    import numpy as np

    prepare(data)
    return np.zeros(3), {"rows": 1.0}


@pipeline
def no_model(data: Dataset):
    return {"rows": float(len(prepare(data)))}
"""


def write_pipelines(root: Path, **modules: str) -> None:
    folder = root / "pipelines"
    folder.mkdir(exist_ok=True)
    for name, text in modules.items():
        (folder / f"{name}.py").write_text(text, encoding="utf-8")
