"""The gate report: JSON round trip, failures, table rows and text lines."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.gates import (
    REPORT_COLUMNS,
    GateConfig,
    GateReport,
    GateResult,
    Predictions,
    fit_baseline,
    run_gates,
)
from pathtolive.ui.notebook import gate_report_html
from tests.unit.gates.conftest import Split
from tests.unit.gates.helpers import make_context


@pytest.fixture
def report(
    cancer: Split, cancer_weak: Predictions, cancer_strong: Predictions, cancer_slices: object
) -> GateReport:
    """A real report with every kind of verdict and nested figures (slices, intervals)."""
    baseline = fit_baseline("logistic", "binary", cancer.train, cancer.train_target)
    config = GateConfig(
        model="risk-model",
        min_metric=0.75,
        beat_live_by=0.0,
        baseline="logistic",
        beat_baseline_by=0.02,
        slices=("region", "size"),
        max_slice_drop=0.03,
        max_size_mb=200,
    )
    context = make_context(
        cancer,
        cancer_weak,
        config=config,
        baseline=baseline.predict(cancer.holdout),
        slices=cancer_slices,
        artifact_bytes=12_345_678,
        data_validation="passed",
        loads_and_answers=True,
        explanations=False,
    )
    return run_gates(context, version=7, created_at=datetime(2025, 3, 1, 12, 30, tzinfo=UTC))


def test_a_report_survives_a_json_round_trip(report: GateReport) -> None:
    text = json.dumps(report.to_dict(), allow_nan=False)

    again = GateReport.from_dict(json.loads(text))

    assert again == report
    assert again.created_at == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    assert json.loads(text)["results"][2]["data"]["interval"]["resamples"] == 1000


def test_a_report_lists_its_failures_with_how_much_they_missed(report: GateReport) -> None:
    assert not report.passed
    assert [result.gate for result in report.failures] == [
        "min_metric",
        "beat_baseline",
        "explainability",
    ]
    assert [result.verdict for result in report.results] == [
        "pass",
        "pass",
        "fail",
        "note",
        "fail",
        "note",
        "pass",
        "fail",
    ]
    assert "below the floor 0.75" in report.result("min_metric").detail


def test_rows_and_lines_for_a_table_and_plain_text(report: GateReport) -> None:
    rows = report.rows()
    lines = report.lines()

    assert len(REPORT_COLUMNS) == len(rows[0]) == 5
    assert rows[-2] == (
        "size",
        "pass",
        "12.346",
        "200",
        "the artifact is 12.346 MB, within 200 MB",
    )
    assert lines[0] == "risk-model@7 failed 3 of 8 gates: min_metric, beat_baseline, explainability"
    assert lines[1] == "PASS  data_contract      the training data met its contract (passed)"
    assert lines[4].startswith("NOTE  beat_live          no live version yet")


def test_a_report_passes_only_when_no_gate_failed() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    notes = [GateResult.noting("beat_live", "nothing live"), GateResult.passing("size", "ok")]

    passed = GateReport.from_results("m", 1, "rmse", notes, when)
    failed = GateReport.from_results(
        "m", 2, "rmse", [*notes, GateResult.failing("latency", "slow")], when
    )

    assert passed.passed
    assert passed.failures == ()
    assert passed.summary() == "m@1 passed all 2 gates"
    assert not failed.passed
    with pytest.raises(InvalidInputError, match="no gate 'slices' in this report"):
        failed.result("slices")


def test_a_report_names_the_gates_its_config_left_out(report: GateReport) -> None:
    # The fixture's config sets every threshold but p95_latency_ms and the costs.
    assert report.skipped == {
        "latency": "p95_latency_ms",
        "cost_per_1k": "max_cost_per_1k",
        "monthly_cost": "max_monthly_cost",
    }
    assert "latency" not in {result.gate for result in report.results}
    note = (
        "skipped, as [models.risk-model.gates] sets no threshold for them: "
        "latency (set p95_latency_ms), cost_per_1k (set max_cost_per_1k), "
        "monthly_cost (set max_monthly_cost)"
    )
    assert report.skipped_note() == note
    assert report.lines()[-1] == note
    stored_before_skips_were_kept = report.to_dict()
    del stored_before_skips_were_kept["skipped"]
    assert GateReport.from_dict(stored_before_skips_were_kept).skipped == {}


def test_a_report_says_first_when_the_training_data_is_unknown(report: GateReport) -> None:
    judged = {
        "dataset": "loans@3",
        "rows": 500,
        "named": "loans@latest",
        "chosen_by": "ada",
        "training": None,
        "leakage": "not checked: the training data is unknown",
        "baseline_fit": "cross-fitted on the holdout (5 folds)",
    }
    unknown = replace(report, holdout=judged)

    lines = unknown.lines()

    assert lines[0] == (
        "Training data unknown: risk-model@7 was registered without the data it was trained "
        "on, so nothing shows it never saw the rows of its holdout loans@3; read its figures "
        "with that in mind"
    )
    assert lines[1] == unknown.summary()
    assert "judged on loans@3 (500 rows), named as loans@latest by ada" in lines
    assert "baseline cross-fitted on the holdout (5 folds)" in lines
    stored = {**unknown.to_dict(), "holdout": {**judged, "row_ids": [0, 1]}}
    assert GateReport.from_dict(json.loads(json.dumps(stored))) == unknown
    # In a notebook, the same words, before the gate table.
    html = gate_report_html(unknown)
    assert "Training data unknown: risk-model@7" in html
    assert html.index("Judged on") < html.index("Training data unknown") < html.index("Gates")


def test_a_report_on_known_training_data_opens_with_its_verdict(report: GateReport) -> None:
    known = replace(
        report,
        holdout={
            "dataset": "loans@4",
            "rows": 80,
            "named": "loans@4",
            "chosen_by": "ada",
            "training": ["loans@2"],
            "leakage": "no row shared with loans@2 (by the id column loan_id)",
        },
    )
    own = replace(report, holdout={"dataset": "loans@2", "rows": 40, "named": None})

    assert known.lines()[0] == known.summary()
    assert known.lines()[1:3] == [
        "judged on loans@4 (80 rows), named by ada",
        "unseen by the model: no row shared with loans@2 (by the id column loan_id)",
    ]
    assert own.lines()[1] == "judged on loans@2 (40 rows): the run's own test split"
    assert not any(line.startswith("Training data unknown") for line in own.lines())
    # A report stored before holdouts were recorded says nothing of one.
    assert report.judged_lines() == []
