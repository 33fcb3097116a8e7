"""Custom Python models on the whole path: a class of the workspace's pipelines/ code,
saved as its state, returned by a pipeline, registered, gated (the latency probe imports
it in a clean process), served and explained; and the refusals: code changed since
registration, a class without a state to save, a class outside pipelines/.

One workspace for the module (scikit-learn's breast cancer set), one server in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError, UntrustedModelError
from pathtolive.pipelines.discovery import import_from_workspace
from pathtolive.service.models import register_model
from tests.support.live_path import (
    CANCER_GATES,
    cancer_frame,
    check_registered_and_gated,
    check_served_and_monitored,
)
from tests.support.pipelines import write_pipelines
from tests.support.serving import ThreadServer, cli_environ, serving_in_thread

CENTROID = """
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from pathtolive import Dataset, pipeline, step


class NearestCentroid:
    \"\"\"Standardises the columns, then answers the class of the nearest centroid.\"\"\"

    def __init__(self, centroids, classes, mean, scale, columns):
        self.centroids = np.asarray(centroids, dtype=float)
        self.classes_ = np.asarray(classes)
        self.mean = np.asarray(mean, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        self.feature_names_in_ = list(columns)

    @classmethod
    def fit(cls, x, y):
        mean, scale = x.mean().to_numpy(), x.std().to_numpy()
        z = (x.to_numpy() - mean) / scale
        classes = np.unique(y)
        centroids = [z[np.asarray(y) == label].mean(axis=0) for label in classes]
        return cls(centroids, classes, mean, scale, x.columns)

    def _scores(self, x):
        z = (np.asarray(x, dtype=float) - self.mean) / self.scale
        return -((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2) / 2

    def predict(self, x):
        return self.classes_[np.argmax(self._scores(x), axis=1)]

    def predict_proba(self, x):
        scores = self._scores(x)
        scores -= scores.max(axis=1, keepdims=True)
        odds = np.exp(scores)
        return odds / odds.sum(axis=1, keepdims=True)

    def get_state(self):
        return {
            "centroids": self.centroids,
            "classes": self.classes_,
            "mean": self.mean,
            "scale": self.scale,
            "columns": list(self.feature_names_in_),
        }

    @classmethod
    def from_state(cls, state):
        return cls(**state)


class Pickled:
    \"\"\"A model that says nothing of how to save it.\"\"\"

    def predict(self, x):
        return np.zeros(len(x))


@step
def split(data: Dataset):
    return train_test_split(data.df, test_size=0.25, random_state=0, stratify=data.df["target"])


@step
def train(train_df):
    return NearestCentroid.fit(train_df.drop(columns=["target"]), train_df["target"])


@step
def evaluate(model, test_df) -> dict:
    x, y = test_df.drop(columns=["target"]), test_df["target"]
    return {"roc_auc": roc_auc_score(y, model.predict_proba(x)[:, 1])}


@pipeline
def cancer_centroid(data: Dataset):
    train_df, test_df = split(data)
    model = train(train_df)
    return model, evaluate(model, test_df)
"""


class OutsideWorkspace:
    """A class with the whole protocol, defined outside any workspace's pipelines/."""

    classes_ = np.array([0, 1])

    def predict(self, x: Any) -> np.ndarray:
        return np.zeros(len(x), dtype=int)

    def get_state(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OutsideWorkspace:
        return cls()


def features(rows: int = 3) -> pd.DataFrame:
    return cancer_frame().drop(columns=["target"]).head(rows)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("custom") / "ws"
    with Workspace.init(root, environ=cli_environ()) as created:
        created.add_dataset(cancer_frame(), "cancer", tags={"target": ["target"]})
    config = root / "pathtolive.toml"
    config.write_text(config.read_text() + CANCER_GATES)
    write_pipelines(root, centroid=CENTROID)
    with Workspace.open(root, environ=cli_environ()) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def from_pipeline(ws: Workspace) -> ModelVersion:
    result = ws.run("cancer_centroid", data="cancer@1", register="cancer")
    assert result.model_version is not None
    return result.model_version


def test_a_pipeline_that_returns_a_custom_model_registers_it_and_passes_the_gates(
    ws: Workspace, from_pipeline: ModelVersion
) -> None:
    features = [str(c) for c in cancer_frame().columns if c != "target"]
    # The latency probe loads it in a clean process, importing the workspace's class.
    check_registered_and_gated(ws, from_pipeline, flavor="python", features=features)


def test_the_loaded_model_predicts_as_the_fitted_one_and_a_cached_run_registers_the_same(
    ws: Workspace, from_pipeline: ModelVersion
) -> None:
    kind: Any = import_from_workspace(ws.root, "pipelines.centroid", "NearestCentroid")
    frame = cancer_frame()
    fitted = kind.fit(frame.drop(columns=["target"]), frame["target"])
    version = ws.register_model(fitted, name="by-hand", data="cancer@1")
    loaded = ws.load_model(version.ref)

    assert loaded.flavor == "python"
    assert loaded.metadata["class"] == "pipelines.centroid.NearestCentroid"
    assert loaded.classes == (0, 1)
    np.testing.assert_array_equal(loaded.predict(features(50)), fitted.predict(features(50)))
    np.testing.assert_allclose(
        loaded.predict_proba(features(50)), fitted.predict_proba(features(50))
    )
    # Run again: every step comes from the cache, the model loaded back from its state.
    again = ws.run("cancer_centroid", data="cancer@1", register="cancer")
    assert "train" in again.cached
    assert again.model_version is not None
    assert again.model_version.artifact_digest == from_pipeline.artifact_digest


@pytest.fixture(scope="module")
def server(ws: Workspace, from_pipeline: ModelVersion) -> Iterator[ThreadServer]:
    # Promoted as any model is: its gates, then the policy (auto here) moves live.
    outcome = ws.promote(from_pipeline.ref, reason="first release")
    assert outcome.applied, outcome
    with serving_in_thread(ws.root, environ=cli_environ()) as running:
        yield running


def test_the_server_validates_predicts_and_explains_a_custom_model(
    ws: Workspace, from_pipeline: ModelVersion, server: ThreadServer
) -> None:
    check_served_and_monitored(
        ws,
        server.url,
        from_pipeline.ref,
        features(),
        explainer="occlusion",
        atol=1e-9,
        reference="cancer@1",
    )


def test_a_model_whose_pipelines_code_changed_since_registration_does_not_load(
    ws: Workspace, from_pipeline: ModelVersion
) -> None:
    source = ws.root / "pipelines" / "centroid.py"
    original = source.read_text()
    kind: Any = import_from_workspace(ws.root, "pipelines.centroid", "NearestCentroid")
    frame = cancer_frame()
    fitted = kind.fit(frame.drop(columns=["target"]), frame["target"])
    source.write_text(original + "\n# changed after registration\n")
    try:
        with pytest.raises(UntrustedModelError) as refused:
            ws.load_model(from_pipeline.ref)
        # Registered as the run's model, it would be pinned to code the run did not run.
        with pytest.raises(InvalidInputError, match="the code changed while it ran"):
            register_model(ws.context, fitted, "cancer", run_id=from_pipeline.run_id)
    finally:
        source.write_text(original)

    message = refused.value.message
    registered = refused.value.details["registered_code"]
    current = refused.value.details["current_code"]
    assert registered != current
    assert registered[:12] in message
    assert current[:12] in message
    assert "check out the code the model was trained with, or retrain" in message
    assert ws.load_model(from_pipeline.ref).classes == (0, 1)  # the code back, it loads


def test_a_class_without_a_state_or_outside_pipelines_is_refused(
    ws: Workspace, from_pipeline: ModelVersion, tmp_path: Path
) -> None:
    pickled: Any = import_from_workspace(ws.root, "pipelines.centroid", "Pickled")
    with pytest.raises(InvalidInputError, match="never stores a model as a pickle: define get_st"):
        ws.register_model(pickled(), name="pickled", data="cancer@1")

    with pytest.raises(UntrustedModelError) as outside:
        ws.register_model(OutsideWorkspace(), name="outside", data="cancer@1")
    assert outside.value.message.startswith(
        f"{__name__}.OutsideWorkspace is not a class of the workspace's pipelines/ folder "
        f"(its module is {__name__}); pathtolive runs a custom model's code only from the "
        "workspace's own reviewed pipelines/ code"
    )
    # A class of another workspace's pipelines/: reviewed there, perhaps, but not here.
    other = tmp_path / "other"
    other.mkdir()
    write_pipelines(other, centroid=CENTROID)
    foreign: Any = import_from_workspace(other, "pipelines.centroid", "NearestCentroid")
    frame = cancer_frame()
    fitted = foreign.fit(frame.drop(columns=["target"]), frame["target"])
    with pytest.raises(UntrustedModelError, match="not of this workspace"):
        ws.register_model(fitted, name="outside", data="cancer@1")
    assert not {"pickled", "outside"} & {model.name for model in ws.models()}


def test_a_state_pathtolive_cannot_store_without_pickle_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    kind: Any = import_from_workspace(ws.root, "pipelines.centroid", "NearestCentroid")
    frame = cancer_frame()
    fitted = kind.fit(frame.drop(columns=["target"]), frame["target"])
    fitted.get_state = lambda: {"centroids": {1, 2}}  # a set: only pickle would keep it

    with pytest.raises(InvalidInputError, match=r"get_state\(\) returned a set"):
        ws.register_model(fitted, name="pickled", data="cancer@1")
