"""External baselines, the pure part: the [baselines.NAME] table, each protocol's request
and answer, and answers made predictions."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pathtolive.errors import ConfigError
from pathtolive.gates.external import (
    ExternalBaseline,
    WrongAnswerError,
    answers_to_predictions,
    external_name,
    protocol_answers,
    protocol_request,
    request_rows,
)


def _baseline(text: str, name: str = "vendor") -> ExternalBaseline:
    return ExternalBaseline.from_toml(name, tomllib.loads(text))


def test_a_table_is_read_with_its_defaults() -> None:
    baseline = _baseline('[baselines.vendor]\nurl = "http://user:pw@h:1/v1/models/m:predict"\n')
    assert baseline.protocol == "kserve-v1"
    assert (baseline.batch_rows, baseline.retries, baseline.timeout_seconds) == (500, 2, 10.0)
    assert baseline.rate_limit_per_second is None
    assert baseline.token_header == "Authorization"
    assert "pw" not in baseline.shown_url
    assert "pw" not in str(baseline.identity())


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('url = "ftp://h/x"', "http(s) URL"),
        ('url = "http://h/x"\nprotocol = "grpc"', "not a protocol"),
        ('url = "http://h/x"\nprotocol = "v2"\nadapter = "a:b"', "both protocol and adapter"),
        ('url = "http://h/x"\nadapter = "no_colon"', "module:object"),
        ('url = "http://h/x"\nbatch_rows = 0', "batch_rows"),
        ('url = "http://h/x"\ntimeout_seconds = -1', "timeout_seconds"),
        ('url = "http://h/x"\ntoken = "abc"', "token"),
        ('url = "http://h/x"\nclasses = [1]', "classes"),
    ],
)
def test_a_wrong_table_is_a_config_error(table: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=r"baselines\.vendor") as raised:
        _baseline(f"[baselines.vendor]\n{table}\n")
    assert complaint in raised.value.message


def test_a_missing_table_names_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match=r"\[baselines.other\].*vendor"):
        _baseline('[baselines.vendor]\nurl = "http://h/x"\n', "other")


def test_only_external_prefixed_baselines_are_external() -> None:
    assert external_name("external:vendor") == "vendor"
    assert external_name("logistic") is None
    assert external_name(None) is None


FRAME = pd.DataFrame(
    {
        "age": [41, 52],
        "income": [1.5, math.nan],
        "region": ["NE", None],
        "member": [True, False],
        "seen": pd.to_datetime(["2026-01-02", None]),
    }
)


def test_rows_are_plain_json_with_nulls_for_missing_values() -> None:
    assert request_rows(FRAME) == [
        [41, 1.5, "NE", True, "2026-01-02T00:00:00"],
        [52, None, None, False, None],
    ]


def test_each_protocol_asks_in_its_own_shape() -> None:
    columns, rows = list(FRAME.columns), request_rows(FRAME)
    v1 = protocol_request("kserve-v1", columns, rows)
    assert v1["instances"][1] == {
        "age": 52, "income": None, "region": None, "member": False, "seen": None
    }  # fmt: skip
    mlflow = protocol_request("mlflow", columns, rows)
    assert mlflow == {"dataframe_split": {"columns": columns, "data": rows}}
    v2 = protocol_request("v2", columns, rows)
    kinds = {tensor["name"]: (tensor["datatype"], tensor["shape"]) for tensor in v2["inputs"]}
    assert kinds == {
        "age": ("INT64", [2]),
        "income": ("FP64", [2]),
        "region": ("BYTES", [2]),
        "member": ("BOOL", [2]),
        "seen": ("BYTES", [2]),
    }


def test_answers_are_read_per_protocol() -> None:
    assert protocol_answers("kserve-v1", {"predictions": [[0.2, 0.8]]}, 1, "binary") == [[0.2, 0.8]]
    assert protocol_answers("mlflow", [1.5, 2.5], 2, "regression") == [1.5, 2.5]
    v2 = {
        "outputs": [
            {"name": "predict", "shape": [2], "data": [1, 0]},
            {"name": "predict_proba", "shape": [2, 2], "data": [0.1, 0.9, 0.7, 0.3]},
        ]
    }
    assert protocol_answers("v2", v2, 2, "binary") == [[0.1, 0.9], [0.7, 0.3]]
    assert protocol_answers("v2", v2, 2, "regression") == [1, 0]


@pytest.mark.parametrize(
    ("protocol", "body", "complaint"),
    [
        ("kserve-v1", {"predictions": [1, 0, 1]}, "sent 2 rows but got 3 answers"),
        ("kserve-v1", {"outputs": []}, 'expected {"predictions"'),
        ("mlflow", "nonsense", 'expected {"predictions"'),
        ("v2", {"predictions": [1, 0]}, 'expected {"outputs"'),
        ("v2", {"outputs": [{"name": "predict", "shape": [3], "data": [1, 0, 1]}]}, "2 rows"),
        ("v2", {"outputs": [{"name": "a", "data": [1]}, {"name": "b", "data": [2]}]}, "named"),
    ],
)
def test_answers_of_the_wrong_shape_are_refused(protocol: Any, body: Any, complaint: str) -> None:
    with pytest.raises(WrongAnswerError, match=complaint.replace("{", r"\{")):
        protocol_answers(protocol, body, 2, "binary")


def test_probability_lists_are_put_in_the_gates_class_order() -> None:
    found = answers_to_predictions([[0.9, 0.1], [0.2, 0.8]], "binary", (0, 1), (1, 0))
    assert found.proba is not None
    np.testing.assert_allclose(found.proba, [[0.1, 0.9], [0.8, 0.2]])


def test_labels_a_positive_probability_and_values_are_understood() -> None:
    labels = answers_to_predictions(["yes", "no"], "binary", ("no", "yes"))
    assert labels.labels is not None
    assert list(labels.labels) == ["yes", "no"]
    positive = answers_to_predictions([0.25, 0.75], "binary", (0, 1))
    assert positive.proba is not None
    assert positive.proba.ndim == 1
    values = answers_to_predictions([1, 2.5], "regression", None)
    assert values.values is not None
    assert list(values.values) == [1.0, 2.5]


@pytest.mark.parametrize(
    ("answers", "task", "classes", "complaint"),
    [
        ([[0.5, 0.5], [1.0]], "binary", (0, 1), "list of 2 class probabilities"),
        ([2.5, 3.5], "binary", (0, 1), "a label of"),
        ([0.5, True], "regression", None, "but got True"),
        (["a", "b"], "regression", None, "a number per row"),
        ([[0.2, 0.8]], "binary", (0, 1), None),
        ([], "binary", (0, 1), "no answers"),
        ([0.5, math.inf], "regression", None, "not finite"),
        ([[0.5, 0.5]], "binary", ("a", "b"), "not the target's"),
    ],
)
def test_answers_that_are_not_predictions_are_refused(
    answers: list[Any], task: Any, classes: Any, complaint: str | None
) -> None:
    if complaint is None:  # the control: this one is fine
        answers_to_predictions(answers, task, classes)
        return
    with pytest.raises(WrongAnswerError, match=complaint):
        answers_to_predictions(answers, task, classes, None if classes != ("a", "b") else (0, 1))
