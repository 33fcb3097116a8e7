"""The slice gate finds the slice a candidate got worse on, and only that one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathtolive.gates import MISSING_SLICE, GateConfig, Predictions, SliceGate
from tests.unit.gates.conftest import Split
from tests.unit.gates.helpers import make_context

CONFIG = GateConfig(model="m", slices=("region", "size"), max_slice_drop=0.03)


def _worse_on(predictions: Predictions, rows: np.ndarray) -> Predictions:
    """The predictions with their scores turned upside down on ``rows``."""
    assert predictions.proba is not None
    proba = predictions.proba.copy()
    proba[rows] = proba[rows][:, ::-1]
    return Predictions(proba=proba)


def _by_label(data: dict[str, object]) -> dict[str, dict[str, object]]:
    rows = data["slices"]
    assert isinstance(rows, list)
    return {f"{row['column']}={row['value']}": row for row in rows}


def test_the_slice_made_worse_fails_and_the_others_do_not(
    cancer: Split, cancer_strong: Predictions, cancer_slices: pd.DataFrame
) -> None:
    north = (cancer_slices["region"] == "north").to_numpy()
    candidate = _worse_on(cancer_strong, north)
    config = GateConfig(model="m", slices=("region",), max_slice_drop=0.03)
    context = make_context(
        cancer, candidate, config=config, champion=cancer_strong, slices=cancer_slices
    )

    result = SliceGate().evaluate(context)

    assert not result.passed
    table = _by_label(result.data)
    statuses = {label: row["status"] for label, row in table.items()}
    assert statuses == {
        "region=east": "ok",
        "region=islands": "small",
        "region=north": "regressed",
        "region=south": "ok",
        "region=west": "ok",
    }
    for label in ("region=south", "region=east", "region=west"):
        assert table[label]["drop"] == 0.0
    north_row = table["region=north"]
    drop = north_row["drop"]
    assert isinstance(drop, float)
    assert drop > 0.5
    assert result.figure == drop
    assert result.threshold == 0.03
    assert result.detail.startswith("1 slice loses more than 0.03 of roc_auc to live: ")
    assert "region=north by 0.9" in result.detail
    assert result.detail.endswith("); 1 small slice not judged")


def test_a_column_mixing_the_worse_rows_with_others_regresses_less(
    cancer: Split, cancer_strong: Predictions, cancer_slices: pd.DataFrame
) -> None:
    north = (cancer_slices["region"] == "north").to_numpy()
    context = make_context(
        cancer,
        _worse_on(cancer_strong, north),
        config=CONFIG,
        champion=cancer_strong,
        slices=cancer_slices,
    )

    table = _by_label(SliceGate().evaluate(context).data)

    north_drop = table["region=north"]["drop"]
    assert isinstance(north_drop, float)
    for label in ("size=large", "size=small"):
        drop = table[label]["drop"]
        assert isinstance(drop, float)
        assert 0 < drop < north_drop


def test_a_slice_too_small_to_judge_is_listed_not_failed(
    cancer: Split, cancer_strong: Predictions, cancer_slices: pd.DataFrame
) -> None:
    islands = (cancer_slices["region"] == "islands").to_numpy()
    candidate = _worse_on(cancer_strong, islands)
    config = GateConfig(model="m", slices=("region",), max_slice_drop=0.03)
    context = make_context(
        cancer, candidate, config=config, champion=cancer_strong, slices=cancer_slices
    )

    result = SliceGate().evaluate(context)

    assert result.passed
    row = _by_label(result.data)["region=islands"]
    assert row["status"] == "small"
    assert row["rows"] == 12
    assert row["drop"] is None
    assert isinstance(row["candidate"], float)
    assert result.detail == (
        "no slice loses more than 0.03 of roc_auc to live (worst region=east: 0); "
        "1 small slice not judged"
    )


def test_a_slice_of_one_class_is_skipped_for_roc_auc(
    cancer: Split, cancer_strong: Predictions, cancer_forest: Predictions
) -> None:
    slices = pd.DataFrame({"diagnosis": cancer.holdout_target.map({0: "malignant", 1: "benign"})})
    config = GateConfig(model="m", slices=("diagnosis",), max_slice_drop=0.03)
    context = make_context(
        cancer, cancer_strong, config=config, champion=cancer_forest, slices=slices
    )

    result = SliceGate().evaluate(context)

    assert result.passed
    assert {row["status"] for row in _by_label(result.data).values()} == {"skipped"}
    assert result.figure is None
    assert result.detail == (
        "no slice loses more than 0.03 of roc_auc to live; 2 skipped (roc_auc undefined there)"
    )


def test_with_nothing_live_the_slices_are_reported_not_judged(
    cancer: Split, cancer_strong: Predictions, cancer_slices: pd.DataFrame
) -> None:
    context = make_context(cancer, cancer_strong, config=CONFIG, slices=cancer_slices)

    result = SliceGate().evaluate(context)

    assert result.verdict == "note"
    table = _by_label(result.data)
    assert set(table) == {
        "region=east",
        "region=islands",
        "region=north",
        "region=south",
        "region=west",
        "size=large",
        "size=small",
    }
    assert all(row["reference"] is None for row in table.values())
    assert result.data["reference"] is None


def test_a_lower_is_better_metric_drops_when_the_error_grows(
    diabetes: Split, diabetes_forest: Predictions
) -> None:
    values = diabetes_forest.values
    assert values is not None
    slices = diabetes.holdout[["sex", "bmi"]]
    first_sex = (slices["sex"] == slices["sex"].max()).to_numpy()
    worse = Predictions(values=np.where(first_sex, values + 40.0, values))
    config = GateConfig(model="m", slices=("sex", "bmi"), max_slice_drop=5.0)
    context = make_context(
        diabetes,
        worse,
        task="regression",
        metric="rmse",
        config=config,
        champion=diabetes_forest,
        slices=slices,
    )

    result = SliceGate().evaluate(context)

    assert not result.passed
    table = result.data["slices"]
    regressed = [row for row in table if row["status"] == "regressed"]
    assert regressed[0]["column"] == "sex"
    assert regressed[0]["candidate"] > regressed[0]["reference"]
    # bmi has more distinct values than a slice per value allows: five quantile bins.
    assert len([row for row in table if row["column"] == "bmi"]) == 5


def test_missing_values_form_a_slice_of_their_own(
    cancer: Split, cancer_strong: Predictions, cancer_slices: pd.DataFrame
) -> None:
    slices = cancer_slices.assign(size=cancer_slices["size"].where(cancer.holdout.index % 3 != 0))
    context = make_context(
        cancer, cancer_strong, config=CONFIG, champion=cancer_strong, slices=slices
    )

    result = SliceGate().evaluate(context)

    row = _by_label(result.data)[f"size={MISSING_SLICE}"]
    assert row["rows"] == len(cancer.holdout[cancer.holdout.index % 3 == 0])
    assert row["drop"] == 0.0


@pytest.mark.parametrize("slices", [None, pd.DataFrame({"district": range(228)})])
def test_slice_columns_must_be_given(
    cancer: Split, cancer_strong: Predictions, slices: pd.DataFrame | None
) -> None:
    context = make_context(
        cancer, cancer_strong, config=CONFIG, champion=cancer_strong, slices=slices
    )

    result = SliceGate().evaluate(context)

    assert not result.passed
    assert result.detail in (
        "the holdout's slice columns were not given",
        "the holdout lacks the slice columns region, size",
    )
