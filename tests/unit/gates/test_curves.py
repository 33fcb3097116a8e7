"""The curves a model card draws, on examples small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.gates.curves import calibration, confusion_matrix, roc_curve


def test_the_roc_curve_of_four_rows() -> None:
    # Ranked by score: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg).
    roc = roc_curve([False, False, True, True], [0.1, 0.4, 0.35, 0.8], threshold=0.5)

    assert roc.points == ((0, 0), (0, 0.5), (0.5, 0.5), (0.5, 1), (1, 1))
    assert roc.auc == pytest.approx(0.75)
    assert roc.at_threshold == (0.0, 0.5)  # only 0.8 is at or above 0.5


def test_tied_scores_move_both_rates_at_once() -> None:
    roc = roc_curve([True, False], [0.5, 0.5])
    assert roc.points == ((0, 0), (1, 1))
    assert roc.auc == pytest.approx(0.5)


def test_a_curve_needs_both_classes() -> None:
    with pytest.raises(InvalidInputError, match="both classes"):
        roc_curve([True, True], [0.2, 0.9])


def test_a_long_curve_is_thinned_but_keeps_its_ends() -> None:
    rng = np.random.default_rng(0)
    roc = roc_curve(rng.random(5000) < 0.5, rng.random(5000))
    assert len(roc.points) <= 200
    assert roc.points[0] == (0, 0)
    assert roc.points[-1] == (1, 1)


def test_calibration_bins() -> None:
    bins = calibration([False, True, True, True, False], [0.05, 0.12, 0.95, 0.91, 0.99], bins=10)

    assert [(b.low, b.high, b.rows) for b in bins] == [(0.0, 0.1, 1), (0.1, 0.2, 1), (0.9, 1.0, 3)]
    assert bins[2].predicted == pytest.approx((0.95 + 0.91 + 0.99) / 3)
    assert bins[2].observed == pytest.approx(2 / 3)


def test_confusion_matrix_rows_are_true_classes() -> None:
    matrix = confusion_matrix(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "a"], ["a", "b"])
    assert matrix == ((1, 1), (1, 2))
