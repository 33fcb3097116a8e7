"""The built-in gates on real models, and running them into a report."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pathtolive.errors import InvalidInputError
from pathtolive.gates import (
    BUILTIN_GATES,
    BeatBaselineGate,
    BeatLiveGate,
    DataContractGate,
    ExplainabilityGate,
    GateConfig,
    GateContext,
    GateResult,
    LatencyGate,
    LoadsAndAnswersGate,
    MinMetricGate,
    Predictions,
    SizeGate,
    evaluate_gates,
    fit_baseline,
    gate,
    gates_for,
    run_gates,
)
from tests.unit.gates.conftest import Split
from tests.unit.gates.helpers import make_context

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_a_candidate_that_loses_to_the_baseline_fails_with_the_figures(
    cancer: Split, cancer_weak: Predictions
) -> None:
    baseline = fit_baseline("logistic", "binary", cancer.train, cancer.train_target)
    config = GateConfig(model="risk-model", baseline="logistic", beat_baseline_by=0.02)
    context = make_context(
        cancer, cancer_weak, config=config, baseline=baseline.predict(cancer.holdout)
    )

    result = BeatBaselineGate().evaluate(context)

    assert result.verdict == "fail"
    assert not result.passed
    assert result.threshold == 0.02
    assert result.figure is not None
    assert result.figure < 0
    assert result.data["a"] < 0.7 < 0.95 < result.data["b"]
    assert result.data["baseline"] == "logistic"
    assert result.data["low"] <= result.data["difference"] <= result.data["high"]
    assert result.detail.startswith("roc_auc 0.")
    assert "vs baseline 'logistic' 0.99" in result.detail
    shortfall = 0.02 - result.figure
    assert f"the lower bound is {shortfall:.3f} short of the margin 0.02" in result.detail


def test_a_clearly_better_candidate_beats_live(
    cancer: Split, cancer_strong: Predictions, cancer_weak: Predictions
) -> None:
    config = GateConfig(model="risk-model", beat_live_by=0.1)
    context = make_context(cancer, cancer_strong, config=config, champion=cancer_weak)

    result = BeatLiveGate().evaluate(context)

    assert result.verdict == "pass"
    assert result.figure is not None
    assert result.figure >= 0.1
    assert result.data["against"] == "live"
    assert " better (95% interval +0." in result.detail
    assert "reaches the margin 0.1" in result.detail


def test_a_candidate_identical_to_live_meets_a_zero_margin_but_not_more(
    cancer: Split, cancer_forest: Predictions
) -> None:
    same = make_context(
        cancer,
        cancer_forest,
        config=GateConfig(model="m", beat_live_by=0.0),
        champion=cancer_forest,
    )
    stricter = make_context(
        cancer,
        cancer_forest,
        config=GateConfig(model="m", beat_live_by=0.01),
        champion=cancer_forest,
    )

    even = BeatLiveGate().evaluate(same)
    short = BeatLiveGate().evaluate(stricter)

    assert even.passed
    assert even.data["difference"] == even.data["low"] == even.data["high"] == 0.0
    assert ": 0, no different (95% interval 0 to 0)" in even.detail
    assert not short.passed
    assert "is 0.01 short of the margin 0.01" in short.detail


def test_with_nothing_live_the_champion_gate_passes_with_a_note(
    cancer: Split, cancer_forest: Predictions
) -> None:
    context = make_context(cancer, cancer_forest, config=GateConfig(model="m", beat_live_by=0.0))

    result = BeatLiveGate().evaluate(context)

    assert (result.verdict, result.passed) == ("note", True)
    assert result.detail == "no live version yet: nothing to beat"


def test_a_baseline_without_predictions_fails(cancer: Split, cancer_forest: Predictions) -> None:
    config = GateConfig(model="m", baseline="majority")

    result = BeatBaselineGate().evaluate(make_context(cancer, cancer_forest, config=config))

    assert not result.passed
    assert "no predictions of the baseline 'majority'" in result.detail


def test_the_metric_floor_says_by_how_much_it_is_missed(
    cancer: Split, cancer_weak: Predictions, cancer_strong: Predictions
) -> None:
    config = GateConfig(model="m", min_metric=0.75)
    assert cancer_weak.proba is not None
    auc = roc_auc_score(cancer.holdout_target, cancer_weak.proba[:, 1])

    low = MinMetricGate().evaluate(make_context(cancer, cancer_weak, config=config))
    high = MinMetricGate().evaluate(make_context(cancer, cancer_strong, config=config))

    assert not low.passed
    assert low.figure == pytest.approx(auc, abs=1e-12)
    assert low.detail == f"roc_auc {auc:.3f} is {0.75 - auc:.3f} below the floor 0.75"
    assert high.passed
    interval = high.data["interval"]
    assert interval["low"] <= high.figure <= interval["high"]
    assert "meets the floor 0.75 (95% interval" in high.detail


def test_for_a_lower_is_better_metric_the_limit_is_a_ceiling(
    diabetes: Split, diabetes_forest: Predictions
) -> None:
    config = GateConfig(model="m", min_metric=50.0)
    context = make_context(
        diabetes, diabetes_forest, task="regression", metric="rmse", config=config
    )

    result = MinMetricGate().evaluate(context)

    assert not result.passed
    assert result.figure is not None
    assert result.figure > 50
    assert "above the ceiling 50" in result.detail
    assert result.data["bound"] == "ceiling"


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("inferred", "pass"),
        ("passed", "pass"),
        ("accepted", "pass"),
        ("warned", "fail"),
        ("lost", "fail"),
        (None, "note"),
    ],
)
def test_the_data_contract_gate_reads_the_training_data_status(
    cancer: Split, cancer_forest: Predictions, status: str | None, verdict: str
) -> None:
    context = make_context(
        cancer,
        cancer_forest,
        data_validation=status,
        data_validation_detail="1 schema violation in 569 rows: size: 3 unseen values",
    )

    result = DataContractGate().evaluate(context)

    assert result.verdict == verdict
    if status == "warned":
        assert "despite breaking its contract (warned): 1 schema violation" in result.detail


def test_latency_and_size_budgets(cancer: Split, cancer_forest: Predictions) -> None:
    config = GateConfig(model="m", p95_latency_ms=20, max_size_mb=200)
    slow_and_big = make_context(
        cancer,
        cancer_forest,
        config=config,
        latency={"single_p50_ms": 12.0, "single_p95_ms": 34.25, "batch_p95_ms": 80.0},
        artifact_bytes=253_100_000,
    )
    quick_and_small = make_context(
        cancer,
        cancer_forest,
        config=config,
        latency={"single_p95_ms": 3.5},
        artifact_bytes=1_500_000,
    )

    slow = LatencyGate().evaluate(slow_and_big)
    big = SizeGate().evaluate(slow_and_big)

    assert slow.detail == "p95 latency of one-row calls is 34.25 ms, 14.25 ms over the budget 20 ms"
    assert slow.data["batch_p95_ms"] == 80.0
    assert big.detail == "the artifact is 253.1 MB, 53.1 MB over the limit 200 MB"
    assert LatencyGate().evaluate(quick_and_small).passed
    assert SizeGate().evaluate(quick_and_small).figure == 1.5
    unmeasured = LatencyGate().evaluate(make_context(cancer, cancer_forest, config=config))
    assert not unmeasured.passed
    assert unmeasured.detail.startswith("not measured")


def test_loading_and_explanations_must_be_shown_to_work(
    cancer: Split, cancer_forest: Predictions
) -> None:
    works = make_context(cancer, cancer_forest, loads_and_answers=True, explanations=True)
    broken = make_context(
        cancer,
        cancer_forest,
        loads_and_answers=False,
        load_detail="ModuleNotFoundError: No module named 'mylib'",
        explanations=False,
        explanations_detail="TreeExplainer does not support this model",
    )
    unchecked = make_context(cancer, cancer_forest)

    assert LoadsAndAnswersGate().evaluate(works).passed
    assert ExplainabilityGate().evaluate(works).passed
    assert LoadsAndAnswersGate().evaluate(broken).detail == (
        "does not load and answer in a clean process: ModuleNotFoundError: No module named 'mylib'"
    )
    assert "could not be computed: TreeExplainer" in ExplainabilityGate().evaluate(broken).detail
    assert not LoadsAndAnswersGate().evaluate(unchecked).passed
    assert not ExplainabilityGate().evaluate(unchecked).passed
    # What the service measured of each input's importance is kept for monitoring.
    assert ExplainabilityGate().evaluate(works).data == {}
    measured = make_context(
        cancer, cancer_forest, explanations=True, importance={"mean radius": 0.02}
    )
    kept = ExplainabilityGate().evaluate(measured)
    assert kept.data == {"importance": {"mean radius": 0.02}}


def test_only_configured_gates_apply_besides_the_always_on_ones() -> None:
    bare = GateConfig(model="m")
    full = GateConfig(
        model="m",
        min_metric=0.7,
        beat_live_by=0.0,
        baseline="logistic",
        slices=("region",),
        max_slice_drop=0.03,
        p95_latency_ms=20,
        max_size_mb=200,
        max_cost_per_1k=0.01,
        max_monthly_cost=50,
    )

    assert [g.name for g in gates_for(bare)] == [
        "data_contract",
        "loads_and_answers",
        "explainability",
    ]
    assert gates_for(full) == BUILTIN_GATES


def test_a_report_of_every_applicable_gate(
    cancer: Split, cancer_strong: Predictions, cancer_forest: Predictions
) -> None:
    baseline = fit_baseline("majority", "binary", cancer.train, cancer.train_target)
    config = GateConfig(
        model="risk-model",
        min_metric=0.9,
        beat_live_by=0.0,
        baseline="majority",
        beat_baseline_by=0.2,
        p95_latency_ms=20,
    )
    context = make_context(
        cancer,
        cancer_strong,
        config=config,
        champion=cancer_forest,
        baseline=baseline.predict(cancer.holdout),
        data_validation="passed",
        latency={"single_p95_ms": 25.0},
        loads_and_answers=True,
        explanations=True,
    )

    report = run_gates(context, version=3, created_at=NOW)

    assert (report.model, report.version, report.metric) == ("risk-model", 3, "roc_auc")
    assert [result.gate for result in report.results] == [
        "data_contract",
        "loads_and_answers",
        "min_metric",
        "beat_live",
        "beat_baseline",
        "latency",
        "explainability",
    ]
    assert not report.passed
    assert [result.gate for result in report.failures] == ["latency"]
    assert report.summary() == "risk-model@3 failed 1 of 7 gates: latency"


def test_a_gate_that_raises_is_recorded_as_a_failure(
    cancer: Split, cancer_forest: Predictions
) -> None:
    @gate()
    def broken(context: GateContext) -> GateResult:
        raise ZeroDivisionError("division by zero")

    labels_only = Predictions(labels=cancer_forest.labels)
    context = make_context(cancer, labels_only, config=GateConfig(model="m", min_metric=0.5))

    results = evaluate_gates(context, [broken, MinMetricGate()])

    assert [result.verdict for result in results] == ["fail", "fail"]
    assert results[0].detail == "the gate could not judge: ZeroDivisionError: division by zero"
    assert results[1].detail == (
        "the gate could not judge: InvalidInputError: the candidate gave no class "
        "probabilities; roc_auc needs them"
    )


def test_labels_are_read_from_probabilities_when_none_are_given(
    cancer: Split, cancer_forest: Predictions
) -> None:
    proba_only = Predictions(proba=cancer_forest.proba)
    context = make_context(
        cancer, proba_only, metric="accuracy", config=GateConfig(model="m", min_metric=0.9)
    )

    result = MinMetricGate().evaluate(context)

    assert result.figure == pytest.approx(np.mean(cancer_forest.labels == cancer.holdout_target))


def test_a_result_must_agree_with_itself() -> None:
    with pytest.raises(InvalidInputError, match="passed=True contradicts verdict 'fail'"):
        GateResult("g", True, None, None, "fail", "x")
    with pytest.raises(InvalidInputError, match="verdict 'maybe'"):
        GateResult("g", True, None, None, "maybe", "x")  # type: ignore[arg-type]

    result = GateResult.passing(
        "g", "two\nlines", figure=float("nan"), data={"n": np.int64(3), "t": (1.5, np.nan)}
    )

    assert result.figure is None
    assert result.detail == "two lines"
    assert result.data == {"n": 3, "t": [1.5, None]}


def test_a_context_checks_its_rows_and_metric(
    cancer: Split, cancer_forest: Predictions, diabetes_forest: Predictions
) -> None:
    with pytest.raises(InvalidInputError, match="the champion predicted 177 rows"):
        make_context(cancer, cancer_forest, champion=diabetes_forest)
    with pytest.raises(InvalidInputError, match="'rmse' does not fit a binary model"):
        make_context(cancer, cancer_forest, metric="rmse")
    with pytest.raises(InvalidInputError, match="slice columns have 3 rows"):
        make_context(cancer, cancer_forest, slices=cancer.holdout.head(3))

    context = make_context(cancer, cancer_forest)
    assert context.classes == (0, 1)
    assert context.rows == len(cancer.holdout)


def test_a_binary_holdout_of_one_class_needs_the_models_classes(
    cancer: Split, cancer_forest: Predictions
) -> None:
    benign = cancer.holdout_target.to_numpy() == 1
    one_class = Split(
        cancer.train, cancer.train_target, cancer.holdout[benign], cancer.holdout_target[benign]
    )
    candidate = cancer_forest.take(benign)
    config = GateConfig(model="m", min_metric=0.5)

    with pytest.raises(InvalidInputError, match=r"a binary task has two classes, not \[1\]"):
        make_context(one_class, candidate, config=config)
    context = make_context(one_class, candidate, config=config, classes=(0, 1))
    (result,) = evaluate_gates(context, [MinMetricGate()])

    assert result.detail == (
        "the gate could not judge: InvalidInputError: roc_auc is undefined on these 143 rows: "
        "roc_auc needs at least two classes in y_true"
    )
