"""The python flavor on its own: a class of a workspace's pipelines/ code saved as its
state (arrays, JSON, a nested scikit-learn model), loaded only inside that workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from pathtolive.errors import InvalidInputError, UntrustedModelError
from pathtolive.pipelines.discovery import import_from_workspace
from pathtolive.registry import PythonFlavor, flavor_for
from pathtolive.registry.flavors.python import workspace_code

SCALED_LOGISTIC = """
import numpy as np
from sklearn.linear_model import LogisticRegression


class ScaledLogistic:
    def __init__(self, mean, scale, inner, note):
        self.mean, self.scale, self.inner, self.note = mean, scale, inner, note
        self.classes_ = inner.classes_

    @classmethod
    def fit(cls, x, y):
        mean, scale = x.mean(axis=0), x.std(axis=0)
        inner = LogisticRegression(max_iter=500).fit((x - mean) / scale, y)
        return cls(mean, scale, inner, {"trained_rows": len(x)})

    def predict(self, x):
        return self.inner.predict((np.asarray(x) - self.mean) / self.scale)

    def predict_proba(self, x):
        return self.inner.predict_proba((np.asarray(x) - self.mean) / self.scale)

    def get_state(self):
        return {"mean": self.mean, "scale": self.scale, "inner": self.inner, "note": self.note}

    @classmethod
    def from_state(cls, state):
        return cls(**state)
"""


@pytest.fixture
def fitted(tmp_path: Path) -> tuple[Path, Any, pd.DataFrame]:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "custom.py").write_text(SCALED_LOGISTIC)
    kind: Any = import_from_workspace(tmp_path, "pipelines.custom", "ScaledLogistic")
    x, y = load_iris(return_X_y=True)
    return tmp_path, kind.fit(x, y), pd.DataFrame(x[::10])


def test_the_state_round_trips_with_a_nested_model_inside_its_workspace(
    fitted: tuple[Path, Any, pd.DataFrame],
) -> None:
    root, model, rows = fitted
    flavor = flavor_for(model)
    assert isinstance(flavor, PythonFlavor)

    data = flavor.save(model)
    with workspace_code(root):
        loaded = flavor.load(data)

    assert loaded.model is not model
    assert loaded.classes == (0, 1, 2)
    assert loaded.model.note == {"trained_rows": 150}  # type: ignore[attr-defined]
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows))
    assert flavor.save(loaded) == data  # the same state and code give the same bytes
    assert flavor.save(flavor.wrap(model)) == data
    assert flavor.untrusted_types(data) == ()


def test_outside_a_workspace_it_does_not_load(fitted: tuple[Path, Any, pd.DataFrame]) -> None:
    _, model, _ = fitted
    data = PythonFlavor().save(model)

    with pytest.raises(InvalidInputError, match="loads only in its workspace"):
        PythonFlavor().load(data)


def test_other_bytes_are_not_a_custom_model() -> None:
    with pytest.raises(InvalidInputError, match="not a pathtolive custom Python model"):
        PythonFlavor().load(b"PK not really")


def test_a_wrong_number_of_probability_columns_is_refused(
    fitted: tuple[Path, Any, pd.DataFrame],
) -> None:
    _, model, rows = fitted
    model.predict_proba = lambda x: np.ones((len(x), 2))
    loaded = PythonFlavor().wrap(model)

    with pytest.raises(InvalidInputError, match=r"predict_proba answered shape \[15, 2\]"):
        loaded.predict_proba(rows)


FOREST = """
from sklearn.ensemble import RandomForestClassifier


class Forest:
    def __init__(self, inner):
        self.inner = inner
        self.classes_ = inner.classes_

    def predict(self, x):
        return self.inner.predict(x)

    def get_state(self):
        return {"inner": self.inner}

    @classmethod
    def from_state(cls, state):
        return cls(state["inner"])
"""


def test_a_nested_model_s_types_are_trusted_as_its_own_flavor_s(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "forest.py").write_text(FOREST)
    kind: Any = import_from_workspace(tmp_path, "pipelines.forest", "Forest")
    x, y = load_iris(return_X_y=True)
    data = PythonFlavor().save(kind(RandomForestClassifier(n_estimators=3).fit(x, y)))

    needed = PythonFlavor().untrusted_types(data)
    assert needed == ("sklearn.tree._tree.Tree",)
    assert set(needed) <= set(PythonFlavor.trusted_on_registration)  # built here, trusted
    with workspace_code(tmp_path):
        with pytest.raises(UntrustedModelError, match=r"sklearn\.tree\._tree\.Tree"):
            PythonFlavor().load(data)
        assert PythonFlavor().load(data, trusted=needed).classes == (0, 1, 2)
