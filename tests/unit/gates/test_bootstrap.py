"""Paired bootstrap: shared resamples, oriented differences, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pathtolive.errors import InvalidInputError
from pathtolive.gates import (
    BLOCK_CELLS,
    METRICS,
    Comparison,
    Interval,
    Predictions,
    bootstrap_interval,
    compare_resampled,
    interval_from,
    paired_bootstrap,
    resample_metric,
    resample_weights,
)
from tests.unit.gates.conftest import Split


def _positive(predictions: Predictions) -> np.ndarray:
    assert predictions.proba is not None
    return predictions.proba[:, 1]


def test_identical_models_differ_by_exactly_zero(cancer: Split, cancer_forest: Predictions) -> None:
    scores = _positive(cancer_forest)

    comparison = paired_bootstrap("roc_auc", cancer.holdout_target, scores, scores.copy())

    assert comparison.a == comparison.b
    assert comparison.difference == 0.0
    assert comparison.low == comparison.high == 0.0
    assert comparison.resamples == 1000


def test_a_clearly_better_model_has_an_interval_above_zero(
    cancer: Split, cancer_strong: Predictions, cancer_weak: Predictions
) -> None:
    y = cancer.holdout_target

    comparison = paired_bootstrap("roc_auc", y, _positive(cancer_strong), _positive(cancer_weak))

    assert comparison.a == pytest.approx(roc_auc_score(y, _positive(cancer_strong)), abs=1e-12)
    assert comparison.b == pytest.approx(roc_auc_score(y, _positive(cancer_weak)), abs=1e-12)
    assert comparison.difference == pytest.approx(comparison.a - comparison.b)
    assert 0 < comparison.low < comparison.difference < comparison.high


def test_swapping_the_models_mirrors_the_interval(
    cancer: Split, cancer_strong: Predictions, cancer_forest: Predictions
) -> None:
    y = cancer.holdout_target
    forward = paired_bootstrap("log_loss", y, cancer_strong.proba, cancer_forest.proba)
    backward = paired_bootstrap("log_loss", y, cancer_forest.proba, cancer_strong.proba)

    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.low == pytest.approx(-forward.high)
    assert backward.high == pytest.approx(-forward.low)


def test_a_lower_is_better_metric_is_oriented_so_positive_means_better(
    diabetes: Split, diabetes_forest: Predictions
) -> None:
    y = diabetes.holdout_target.to_numpy()
    mean_prediction = np.full(len(y), diabetes.train_target.mean())

    comparison = paired_bootstrap("rmse", y, diabetes_forest.values, mean_prediction)

    assert comparison.a < comparison.b
    assert comparison.difference == pytest.approx(comparison.b - comparison.a)
    assert comparison.low > 0


def test_the_same_seed_gives_the_same_interval_and_another_seed_another(
    cancer: Split, cancer_forest: Predictions, cancer_weak: Predictions
) -> None:
    args = ("accuracy", cancer.holdout_target, cancer_forest.labels, cancer_weak.labels)

    first = paired_bootstrap(*args, seed=11)
    again = paired_bootstrap(*args, seed=11)
    other = paired_bootstrap(*args, seed=12)

    assert first == again
    assert (other.low, other.high) != (first.low, first.high)
    assert other.difference == first.difference


def test_a_wider_confidence_gives_a_wider_interval(
    cancer: Split, cancer_forest: Predictions, cancer_weak: Predictions
) -> None:
    args = ("brier", cancer.holdout_target, cancer_forest.proba, cancer_weak.proba)

    narrow = paired_bootstrap(*args, confidence=0.8)
    wide = paired_bootstrap(*args, confidence=0.99)

    assert wide.low < narrow.low < narrow.high < wide.high


def test_the_interval_of_one_model_surrounds_its_metric(
    wine: Split, wine_forest: Predictions
) -> None:
    interval = bootstrap_interval(
        METRICS["f1"], wine.holdout_target, wine_forest.labels, resamples=500, seed=1
    )

    assert interval.low <= interval.value <= interval.high
    assert interval.resamples == 500
    assert Interval.from_dict(interval.to_dict()) == interval


def test_resamples_where_the_metric_is_undefined_are_left_out() -> None:
    y = np.array([0] * 3 + [1] * 3)
    scores = np.linspace(0.1, 0.9, 6)

    interval = bootstrap_interval("roc_auc", y, scores, resamples=400)

    # Six rows: now and then a resample draws one class only and has no AUC.
    assert 300 < interval.resamples < 400
    assert interval.value == 1.0


def test_resample_weights_are_multinomial_counts_in_bounded_blocks() -> None:
    rows = 100_000
    blocks = list(resample_weights(rows, 100, seed=3))

    assert sum(len(block) for block in blocks) == 100
    assert all(block.size <= BLOCK_CELLS for block in blocks)
    assert all((block.sum(axis=1) == rows).all() for block in blocks)
    again = list(resample_weights(rows, 100, seed=3))
    assert all((a == b).all() for a, b in zip(blocks, again, strict=True))


def test_a_comparison_survives_its_dict(cancer: Split, cancer_forest: Predictions) -> None:
    comparison = paired_bootstrap(
        "recall", cancer.holdout_target, cancer_forest.labels, np.ones(len(cancer.holdout))
    )

    assert Comparison.from_dict(comparison.to_dict()) == comparison


def test_an_undefined_metric_on_the_whole_holdout_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="roc_auc is undefined on these 3 rows"):
        paired_bootstrap("roc_auc", [1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1], classes=(0, 1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resamples": 0}, "resamples must be a positive whole number"),
        ({"confidence": 1.0}, "confidence must be between 0 and 1"),
    ],
)
def test_bad_bootstrap_options_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        paired_bootstrap("accuracy", [0, 1], [0, 1], [1, 1], **options)  # type: ignore[arg-type]


def test_models_resampled_apart_with_one_seed_compare_as_in_one_pass(
    cancer: Split, cancer_strong: Predictions, cancer_weak: Predictions
) -> None:
    y = cancer.holdout_target
    strong = resample_metric("roc_auc", y, _positive(cancer_strong), seed=5)
    weak = resample_metric("roc_auc", y, _positive(cancer_weak), seed=5)

    apart = compare_resampled(strong, weak)
    together = paired_bootstrap(
        "roc_auc", y, _positive(cancer_strong), _positive(cancer_weak), seed=5
    )

    assert apart == together
    assert interval_from(strong) == bootstrap_interval(
        "roc_auc", y, _positive(cancer_strong), seed=5
    )


def test_metrics_resampled_differently_are_not_compared(
    cancer: Split, cancer_strong: Predictions
) -> None:
    y = cancer.holdout_target
    one = resample_metric("roc_auc", y, _positive(cancer_strong), seed=1)
    other = resample_metric("roc_auc", y, _positive(cancer_strong), seed=2)

    with pytest.raises(InvalidInputError, match="only metrics resampled alike can be compared"):
        compare_resampled(one, other)
