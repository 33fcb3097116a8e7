"""Cross-fitted baselines: with no training rows but the holdout, each fold is scored by a
baseline trained on the other folds, so no baseline scores a row it trained on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.gates import CROSS_FIT_FOLDS, cross_fit_baseline, fit_baseline
from pathtolive.gates.baselines import cross_fit_folds


def _rows(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=count), "colour": rng.choice(["r", "g"], count)})


@pytest.mark.parametrize("name", ["mean", "linear"])
def test_a_rows_own_target_never_reaches_its_own_prediction(name: str) -> None:
    features = _rows(60, seed=1)
    target = np.random.default_rng(2).normal(size=60)
    before = cross_fit_baseline(name, "regression", features, target).values
    assert before is not None

    for row in (0, 17, 59):
        changed = target.copy()
        changed[row] += 1e6  # a baseline that trained on the row would move with it
        after = cross_fit_baseline(name, "regression", features, changed).values
        assert after is not None
        assert after[row] == pytest.approx(before[row])
        # The change does reach the rows of the other folds, whose baselines trained on it.
        moved = ~np.isclose(after, before)
        assert 0 < moved.sum() < len(target)
        assert not moved[row]


def test_a_cross_fitted_baseline_cannot_memorise_the_holdout() -> None:
    # A column unique to each row lets a logistic model fitted on a row remember its label.
    count = 200
    features = pd.DataFrame({"row": [f"r{i}" for i in range(count)], **_rows(count, seed=3)})
    labels = np.random.default_rng(4).integers(0, 2, count)  # noise: nothing to learn

    crossed = cross_fit_baseline("logistic", "binary", features, labels).labels
    in_sample = fit_baseline("logistic", "binary", features, labels).predict(features).labels

    assert in_sample is not None
    assert crossed is not None
    assert (in_sample == labels).mean() > 0.95
    assert (crossed == labels).mean() < 0.7


def test_every_fold_is_scored_and_every_training_part_holds_every_class() -> None:
    labels = np.array(["a"] * 40 + ["b"] * 12 + ["c"] * 3)

    folds = cross_fit_folds(labels, "multiclass")
    predictions = cross_fit_baseline(
        "majority", "multiclass", _rows(len(labels), seed=5), labels, classes=("a", "b", "c")
    )

    assert sorted(set(folds.tolist())) == list(range(CROSS_FIT_FOLDS))
    for fold in range(CROSS_FIT_FOLDS):
        assert set(labels[folds != fold]) == {"a", "b", "c"}
    np.testing.assert_array_equal(folds, cross_fit_folds(labels, "multiclass"))  # seeded
    assert predictions.proba is not None
    assert predictions.proba.shape == (len(labels), 3)
    np.testing.assert_allclose(predictions.proba.sum(axis=1), 1.0)


def test_a_holdout_too_small_to_fold_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="too small to cross-fit"):
        cross_fit_baseline("mean", "regression", _rows(6, seed=6), np.arange(6.0))
