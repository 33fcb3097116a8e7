"""Metrics from pipeline code: what may be logged, and how a pipeline's return value
splits into its model and its metrics."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import log_metric, log_metrics, log_param, recording, split_result


def test_a_pipeline_result_splits_into_model_and_metrics() -> None:
    model = LogisticRegression()

    assert split_result((model, {"auc": np.float64(0.91), "rows": 143})) == (
        model,
        {"auc": 0.91, "rows": 143.0},
    )
    assert split_result({"auc": 0.9}) == (None, {"auc": 0.9})
    assert split_result(model) == (model, {})
    assert split_result(None) == (None, {})
    assert split_result((model, model)) == ((model, model), {})


def test_returned_metrics_must_be_finite_numbers() -> None:
    with pytest.raises(InvalidInputError, match="metric 'report' must be a number, not str"):
        split_result((None, {"report": "fine"}))
    with pytest.raises(InvalidInputError, match="metric 'auc' is nan; log finite numbers only"):
        split_result({"auc": math.nan})
    with pytest.raises(InvalidInputError, match="metric 'passed' must be a number, not bool"):
        split_result({"passed": True})


def test_what_may_be_logged() -> None:
    with recording() as logged:
        log_metric("loss", np.float32(0.5), step=3)
        log_metric("rows", np.int64(10))
        log_metrics({"a": 1, "b": 2.5}, step=1)
        log_param("features", ["age", "income"])
        with pytest.raises(InvalidInputError, match="the step of metric 'loss' must be an int"):
            log_metric("loss", 0.1, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="metric 'flag' must be a number"):
            log_metric("flag", np.bool_(True))
        with pytest.raises(InvalidInputError, match="param 'model' is a LogisticRegression"):
            log_param("model", LogisticRegression())

    assert [(m.key, m.value, m.step) for m in logged.metrics] == [
        ("loss", 0.5, 3),
        ("rows", 10.0, None),
        ("a", 1.0, 1),
        ("b", 2.5, 1),
    ]
    assert logged.params == {"features": ["age", "income"]}


def test_logging_outside_a_run_says_how_to_test_it() -> None:
    calls: list[Callable[[], None]] = [lambda: log_metric("x", 1), lambda: log_param("x", 1)]
    for call in calls:
        with pytest.raises(InvalidInputError, match=r"works only while pathtolive runs"):
            call()
