"""Decay on real data: a logistic regression trained on half of scikit-learn's breast
cancer set, the other half served "live" through the real prediction-log encoding, with
feedback labels that are true, missing, or flipped for a growing share; CBPE checked
against the metric's expectation under labels drawn from calibrated probabilities."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.entities import Feedback
from pathtolive.errors import InvalidInputError
from pathtolive.gates.bootstrap import resample_weights
from pathtolive.gates.metrics import get_metric
from pathtolive.monitoring.decay import (
    BOOTSTRAP_ROWS,
    CBPE_CAVEAT,
    CBPE_METRICS,
    DecayResult,
    cbpe,
    cbpe_band,
    decay,
    feedback_frame,
)
from pathtolive.predlog import PredictionRecord, encode_segment, read_predictions

START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
WEAK_FEATURES = ["mean texture", "mean symmetry"]


@dataclass(frozen=True, eq=False)
class Served:
    """A model, its gate-time figures, and its live traffic."""

    live: pd.DataFrame
    truth: np.ndarray  # the true labels of the live rows
    proba: np.ndarray  # (n, 2)
    reference: dict[str, float]  # metric -> figure on the gate holdout
    log: pd.DataFrame  # as read_prediction_log returns it


def _log(
    inputs: pd.DataFrame,
    outputs: Sequence[Any],
    *,
    every: timedelta = timedelta(minutes=1),
    extra: Sequence[PredictionRecord] = (),
) -> pd.DataFrame:
    """The prediction log of one request per row (request ids r0, r1, ...), one every
    ``every`` from START, encoded and read back as the server writes it."""
    records = [
        PredictionRecord(
            request_id=f"r{i}",
            at=START + i * every,
            model="cancer",
            version=3,
            trained_on=("cancer@1",),
            protocol="v1",
            role="live",
            latency_ms=1.5,
            inputs=inputs.iloc[[i]].reset_index(drop=True),
            outputs=[outputs[i]],
        )
        for i in range(len(inputs))
    ]
    frame = read_predictions([encode_segment([*records, *extra])])
    frame.insert(0, "version", 3)
    return frame


def _feedback(
    ids: Sequence[int], labels: Sequence[Any], *, at: datetime | None = None
) -> pd.DataFrame:
    when = at or START + timedelta(days=3)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in ids],
            "label": pd.Series(list(labels), dtype=object),
            "at": [when] * len(ids),
        }
    )


@pytest.fixture(scope="module")
def served() -> Served:
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    train, live, train_y, live_y = train_test_split(
        features, target, test_size=0.5, random_state=0, stratify=target
    )
    fit, gate, fit_y, gate_y = train_test_split(
        train, train_y, test_size=0.3, random_state=0, stratify=train_y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(fit, fit_y)
    gate_proba = model.predict_proba(gate)
    reference = {
        name: get_metric(name).score(
            gate_y, gate_proba if get_metric(name).needs == "proba" else model.predict(gate)
        )
        for name in ("accuracy", "roc_auc", "f1", "brier")
    }
    live = live.reset_index(drop=True)
    proba = model.predict_proba(live)
    outputs = [[float(a), float(b)] for a, b in proba]
    return Served(live, live_y.to_numpy(), proba, reference, _log(live, outputs))


def _judge(
    served: Served, labels: np.ndarray, metric: str = "accuracy", **kwargs: Any
) -> DecayResult:
    ids = kwargs.pop("ids", range(len(labels)))
    options: dict[str, Any] = {
        "metric": metric,
        "output_kind": "probability",
        "classes": (0, 1),
        "reference": served.reference[metric],
        "drop": 0.05,
        "window": 60,
        "min_labelled": 40,
    }
    options.update(kwargs)
    return decay(served.log, _feedback(list(ids), [int(labels[i]) for i in ids]), **options)


def _degraded(truth: np.ndarray) -> np.ndarray:
    """The true labels with a share flipped that grows from 0 to about 45% along the
    stream."""
    rng = np.random.default_rng(3)
    share = np.linspace(0.0, 0.45, len(truth))
    flip = rng.random(len(truth)) < share
    return np.where(flip, 1 - truth, truth)


# -- decay verdicts -----------------------------------------------------------------------


def test_the_healthy_stream_has_not_decayed(served: Served) -> None:
    result = _judge(served, served.truth)

    assert served.reference["accuracy"] > 0.9
    assert not result.decayed
    assert len(result.windows) == math.ceil(len(served.live) / 60)
    assert [w.rows for w in result.windows] == [60, 60, 60, 60, len(served.live) - 240]
    assert sum(w.labelled for w in result.windows) == len(served.live)
    assert result.judged == len(result.windows) - 1
    assert result.latest is not None
    assert abs(result.latest - served.reference["accuracy"]) <= 0.05
    assert "at the gates" in result.reason
    # Calibrated enough: the estimate tracks the measurement on the same rows.
    for window in result.windows:
        assert window.value is not None
        assert window.estimated is not None
        assert abs(window.value - window.estimated) < 0.08


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc", "f1"])
def test_a_stream_whose_labels_drift_away_has_decayed(served: Served, metric: str) -> None:
    result = _judge(served, _degraded(served.truth), metric)

    assert result.decayed
    assert result.latest is not None
    loss = served.reference[metric] - result.latest
    assert loss > 0.05
    latest = result.windows[-1]
    pattern = (
        rf"^{metric} ([\d.]+) \(95% interval ([\d.]+) to ([\d.]+)\) on {latest.labelled} "
        r"labelled rows is ([\d.]+) below ([\d.]+) at the gates \(allowed drop 0\.05\); "
        r"its whole interval is below the alert line ([\d.]+)$"
    )
    match = re.match(pattern, result.reason)
    assert match is not None, result.reason
    assert float(match.group(1)) == pytest.approx(result.latest, abs=0.001)
    assert result.latest_interval is not None
    low, high = result.latest_interval
    assert float(match.group(2)) == pytest.approx(low, abs=0.001)
    assert float(match.group(3)) == pytest.approx(high, abs=0.001)
    assert low <= result.latest <= high
    assert high < served.reference[metric] - 0.05
    assert float(match.group(4)) == pytest.approx(loss, abs=0.001)
    assert float(match.group(5)) == pytest.approx(served.reference[metric], abs=0.001)
    assert float(match.group(6)) == pytest.approx(served.reference[metric] - 0.05, abs=0.001)
    # The model is as confident as ever: CBPE cannot see labels change meaning, which is
    # why it is shown and never judged on.
    assert result.latest_estimated is not None
    assert result.latest_estimated > result.latest + 0.1
    # The decay grows along the stream.
    values = [w.value for w in result.windows]
    assert values[0] is not None
    assert values[-1] is not None
    assert values[0] > values[-1]


def test_a_lower_is_better_metric_decays_when_it_rises(served: Served) -> None:
    healthy = _judge(served, served.truth, "brier")
    degraded = _judge(served, _degraded(served.truth), "brier")

    assert not healthy.decayed
    assert not degraded.higher_is_better
    assert degraded.decayed
    assert degraded.latest is not None
    assert degraded.latest > served.reference["brier"] + 0.05
    assert degraded.latest_interval is not None
    assert degraded.latest_interval[0] > served.reference["brier"] + 0.05
    assert re.search(
        r"is [\d.]+ above [\d.]+ at the gates \(allowed rise 0\.05\); its whole interval "
        r"is above the alert line [\d.]+$",
        degraded.reason,
    )


def test_without_any_label_only_the_estimate_is_reported(served: Served) -> None:
    result = decay(
        served.log,
        pd.DataFrame(columns=["request_id", "label", "at"]),
        metric="roc_auc",
        output_kind="probability",
        classes=(0, 1),
        reference=served.reference["roc_auc"],
        drop=0.0,
        window=timedelta(hours=1),
    )

    assert not result.decayed
    assert result.latest is None
    assert result.judged is None
    assert all(w.labelled == 0 and w.value is None for w in result.windows)
    assert result.latest_estimated is not None
    assert abs(result.latest_estimated - served.reference["roc_auc"]) < 0.05
    assert result.reason.startswith("no feedback labels yet; roc_auc is estimated at")
    assert "not alerted on" in result.reason


def test_too_few_labels_give_no_verdict(served: Served) -> None:
    flipped = 1 - served.truth  # every label wrong, but too few to judge
    result = _judge(served, flipped, ids=range(0, len(flipped), 10))

    assert not result.decayed
    assert result.judged is None
    assert result.latest is None
    assert all(w.value is not None for w in result.windows)
    assert "no window has 40 labelled rows yet (at most 6" in result.reason


def test_the_newest_window_with_enough_labels_is_judged(served: Served) -> None:
    # Labels arrive late: the last two windows have only a few.
    labelled = [i for i in range(len(served.truth)) if i < 180 or i % 20 == 0]
    result = _judge(served, _degraded(served.truth), ids=labelled)

    assert result.judged == 2
    assert result.windows[3].labelled < 40
    assert result.windows[2].labelled == 60
    assert result.latest == result.windows[2].value
    assert "in the window from 2026-11-20 11:30 UTC" in result.reason
    assert result.latest_estimated == result.windows[-1].estimated


def test_no_reference_means_no_verdict(served: Served) -> None:
    result = _judge(served, _degraded(served.truth), reference=None)

    assert not result.decayed
    assert result.latest is not None
    assert result.reason.endswith("no gate-time figure to compare it with")


def test_the_latest_feedback_wins_and_a_label_without_a_row_is_for_row_0() -> None:
    inputs = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    shadow = PredictionRecord(
        "r0", START, "cancer", 4, ("cancer@1",), "v1", "shadow", 1.0, inputs.iloc[[0]], [[0.1, 0.9]]
    )
    batch = PredictionRecord(
        "batch", START + timedelta(minutes=5), "cancer", 3, ("cancer@1",), "v1", "live", 1.0,
        pd.DataFrame({"x": [4.0, 5.0]}), [[0.9, 0.1], [0.1, 0.9]],
    )  # fmt: skip
    log = _log(inputs, [[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], extra=[shadow, batch])
    feedback = pd.DataFrame(
        {
            "request_id": ["r0", "r1", "r0", "batch", "r2"],
            "label": pd.Series([0, 0, 1, 0, "maybe"], dtype=object),
            "at": [START + timedelta(hours=h) for h in (2, 1, 3, 1, 1)],
        }
    )
    result = decay(
        log, feedback, metric="accuracy", output_kind="probability", classes=(0, 1),
        reference=1.0, drop=0.0, window=100, min_labelled=1,
    )  # fmt: skip

    (window,) = result.windows
    assert window.rows == 5  # three single-row requests and the batch; no shadow row
    # r0 (latest label 1, predicted 1), r1 (0, predicted 0) and the batch's row 0
    # (0, predicted 0); r2's label is no class of the model.
    assert window.labelled == 3
    assert window.value == 1.0
    assert result.ignored_labels == 1
    assert "1 label was left out" in result.reason


def test_feedback_entities_are_accepted(served: Served) -> None:
    items = [
        Feedback(i, f"r{i}", int(label), START + timedelta(days=1), "alice", "cancer")
        for i, label in enumerate(served.truth)
    ]
    frame = feedback_frame(items)
    from_entities = decay(
        served.log, items, metric="accuracy", output_kind="probability", classes=(0, 1),
        reference=0.95, drop=0.05, window=60, min_labelled=40,
    )  # fmt: skip

    assert list(frame.columns) == ["request_id", "label", "at", "row"]
    assert frame["row"].tolist() == [0] * len(items)
    assert from_entities == _judge(served, served.truth, reference=0.95)


def _batch_log(outputs: Sequence[Sequence[float]]) -> pd.DataFrame:
    """The log of one live request, ``batch``, of a row per output."""
    record = PredictionRecord(
        "batch", START, "cancer", 3, ("cancer@1",), "v1", "live", 1.0,
        pd.DataFrame({"x": [float(i) for i in range(len(outputs))]}), [list(o) for o in outputs],
    )  # fmt: skip
    frame = read_predictions([encode_segment([record])])
    frame.insert(0, "version", 3)
    return frame


def _judge_batch(log: pd.DataFrame, feedback: Any, confidence: float | None = None) -> DecayResult:
    """Judged on the single value: four labels are far too few for an interval to
    exclude the gate-time figure, and these tests are about which row a label joins."""
    return decay(
        log, feedback, metric="accuracy", output_kind="probability", classes=(0, 1),
        reference=1.0, drop=0.0, window=100, min_labelled=1, confidence=confidence,
    )  # fmt: skip


# Predicted classes 1, 0, 1, 0: the batch's rows in order.
BATCH_OUTPUTS = [[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]


def test_every_row_of_a_batch_request_joins_its_own_label() -> None:
    log = _batch_log(BATCH_OUTPUTS)
    # Rows 0 to 2 right, row 3 wrong: accuracy 3/4 on all four rows.
    feedback = pd.DataFrame(
        {
            "request_id": ["batch"] * 4,
            "row": [0, 1, 2, 3],
            "label": pd.Series([1, 0, 1, 1], dtype=object),
            "at": [START + timedelta(hours=1)] * 4,
        }
    )
    result = _judge_batch(log, feedback)

    (window,) = result.windows
    assert (window.rows, window.labelled) == (4, 4)
    assert window.value == 0.75
    assert result.decayed
    items = [
        Feedback(i, "batch", label, START + timedelta(hours=1), "alice", "cancer", row=i)
        for i, label in enumerate([1, 0, 1, 1])
    ]
    assert _judge_batch(log, items) == result


def test_a_label_for_one_row_joins_that_row_only() -> None:
    log = _batch_log(BATCH_OUTPUTS)
    # Row 1 is predicted 0; a label of 0 given for it is right. Were it joined to row 0
    # (predicted 1) it would be wrong.
    feedback = pd.DataFrame(
        {"request_id": ["batch"], "row": [1], "label": pd.Series([0], dtype=object)}
    )
    result = _judge_batch(log, feedback)

    (window,) = result.windows
    assert (window.rows, window.labelled) == (4, 1)
    assert window.value == 1.0
    # A row the request does not have, or one that is no row index, joins nothing.
    nowhere = pd.DataFrame(
        {"request_id": ["batch"] * 3, "row": [9, -1, 1.5], "label": pd.Series([0] * 3)}
    )
    assert _judge_batch(log, nowhere).windows[0].labelled == 0


def test_the_latest_label_of_each_row_wins() -> None:
    log = _batch_log(BATCH_OUTPUTS)
    # Row 0 (predicted 1) and row 2 (predicted 1) are labelled twice: the later label wins
    # for each, whatever order they arrive in, and labels of one row leave the other alone.
    feedback = pd.DataFrame(
        {
            "request_id": ["batch"] * 4,
            "row": [0, 2, 0, 2],
            "label": pd.Series([0, 1, 1, 0], dtype=object),
            "at": [START + timedelta(hours=h) for h in (1, 3, 2, 2)],
        }
    )
    result = _judge_batch(log, feedback)

    (window,) = result.windows
    assert window.labelled == 2
    assert window.value == 1.0  # row 0's latest is 1 (hour 2), row 2's is 1 (hour 3)


# -- windows ------------------------------------------------------------------------------


def test_windows_of_time_are_aligned_to_the_clock(served: Served) -> None:
    n = len(served.live)
    outputs = [[float(a), float(b)] for a, b in served.proba]
    log = _log(served.live, outputs, every=timedelta(minutes=7))
    # Leave out a whole hour: empty windows are not listed.
    at = log["at"]
    gap = (at >= pd.Timestamp("2026-11-20 13:00", tz="UTC")) & (
        at < pd.Timestamp("2026-11-20 14:00", tz="UTC")
    )
    log = log.loc[~gap].reset_index(drop=True)
    result = decay(
        log, _feedback(range(n), served.truth.tolist()), metric="accuracy",
        output_kind="probability", classes=(0, 1), reference=0.95, drop=0.05,
        window=timedelta(hours=1), min_labelled=5,
    )  # fmt: skip

    starts = [w.start for w in result.windows]
    assert starts[0] == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert all(s.minute == 0 and s.second == 0 for s in starts)
    assert all(w.end - w.start == timedelta(hours=1) for w in result.windows)
    assert datetime(2026, 11, 20, 13, 0, tzinfo=UTC) not in starts
    assert sum(w.rows for w in result.windows) == len(log)
    for window in result.windows:
        inside = (log["at"] >= window.start) & (log["at"] < window.end)
        assert window.rows == int(inside.sum())
    assert all(w.labelled == w.rows for w in result.windows)


def test_windows_of_rows_follow_the_rows_in_time_order(served: Served) -> None:
    shuffled = served.log.sample(frac=1.0, random_state=1).reset_index(drop=True)
    result = decay(
        shuffled, _feedback(range(len(served.truth)), served.truth.tolist()),
        metric="roc_auc", output_kind="probability", classes=(0, 1), reference=0.99,
        drop=0.05, window=100, min_labelled=50,
    )  # fmt: skip

    n = len(served.live)
    assert [w.rows for w in result.windows] == [100, 100, n - 200]
    assert result.windows[0].start == START
    assert result.windows[0].end == START + timedelta(minutes=99)
    assert result.windows[-1].end == START + timedelta(minutes=n - 1)


# -- other kinds of model -----------------------------------------------------------------


def test_a_model_answering_class_labels_is_measured_on_them(served: Served) -> None:
    names = np.array(["malignant", "benign"], dtype=object)
    predicted = names[served.proba.argmax(axis=1)]
    log = _log(served.live, list(predicted))
    truth = names[served.truth]
    feedback = _feedback(range(len(truth)), [*truth[:-1], "Benign"])
    result = decay(
        log, feedback, metric="accuracy", output_kind="class_label",
        classes=("malignant", "benign"), reference=0.96, drop=0.05, window=1000,
        min_labelled=100,
    )  # fmt: skip

    expected = float(np.mean(predicted[:-1] == truth[:-1]))
    assert result.latest == pytest.approx(expected)
    assert result.ignored_labels == 1
    assert result.latest_estimated is None
    assert all(w.estimated is None for w in result.windows)
    with pytest.raises(InvalidInputError, match="needs class probabilities"):
        decay(
            log, feedback, metric="roc_auc", output_kind="class_label", classes=None,
            reference=0.9, drop=0.05, window=10,
        )  # fmt: skip


def test_class_labels_without_known_classes_use_those_seen(served: Served) -> None:
    predicted = served.proba.argmax(axis=1)
    log = _log(served.live, [int(p) for p in predicted])
    # Feedback as floats (1.0) still matches the logged class 1.
    result = decay(
        log, _feedback(range(len(predicted)), [float(t) for t in served.truth]),
        metric="f1", output_kind="class_label", classes=None, reference=0.97, drop=0.05,
        window=1000, min_labelled=10,
    )  # fmt: skip

    expected = get_metric("f1").score(served.truth, predicted)
    assert result.latest == pytest.approx(expected)


def test_a_regressor_decays_when_its_error_grows() -> None:
    features, target = load_diabetes(as_frame=True, return_X_y=True)
    train, live, train_y, live_y = train_test_split(features, target, test_size=0.5, random_state=0)
    model = LinearRegression().fit(train, train_y)
    reference = get_metric("rmse").score(train_y, model.predict(train))
    live = live.reset_index(drop=True)
    log = _log(live, [float(v) for v in model.predict(live)])
    truth = live_y.to_numpy()
    noisy = truth + np.random.default_rng(0).normal(0, 60, len(truth))

    def judge(labels: np.ndarray) -> DecayResult:
        return decay(
            log, _feedback(range(len(labels)), labels.tolist()), metric="rmse",
            output_kind="regression", classes=None, reference=reference, drop=10.0,
            window=timedelta(hours=1), min_labelled=30,
        )  # fmt: skip

    healthy, degraded = judge(truth), judge(noisy)
    assert not healthy.decayed
    assert degraded.decayed
    assert "above" in degraded.reason
    assert "allowed rise 10" in degraded.reason
    assert degraded.latest_estimated is None


def test_a_multiclass_model_is_read_from_the_logged_output() -> None:
    features, target = load_wine(as_frame=True, return_X_y=True)
    train, live, train_y, live_y = train_test_split(
        features, target, test_size=0.5, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train, train_y)
    live = live.reset_index(drop=True)
    proba = model.predict_proba(live)
    log = _log(live, [[float(p) for p in row] for row in proba])
    result = decay(
        log, _feedback(range(len(live_y)), live_y.tolist()), metric="roc_auc",
        output_kind="probability", classes=(0, 1, 2), reference=0.99, drop=0.05,
        window=1000, min_labelled=50,
    )  # fmt: skip

    assert result.latest == pytest.approx(get_metric("roc_auc").score(live_y, proba))
    assert result.latest_estimated == pytest.approx(cbpe(proba, "roc_auc"))


def test_boolean_feedback_matches_classes_0_and_1(served: Served) -> None:
    as_bools = decay(
        served.log, _feedback(range(len(served.truth)), [bool(t) for t in served.truth]),
        metric="accuracy", output_kind="probability", classes=(0, 1), reference=0.95,
        drop=0.05, window=60, min_labelled=40,
    )  # fmt: skip
    assert as_bools == _judge(served, served.truth, reference=0.95)
    assert as_bools.ignored_labels == 0


def test_a_malformed_multiclass_output_is_left_out() -> None:
    inputs = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    log = _log(inputs, [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    log.loc[1, "output"] = "[0.5, 0.5]"
    result = decay(
        log, _feedback([0, 1, 2], ["a", "b", "b"]), metric="accuracy",
        output_kind="probability", classes=("a", "b", "c"), reference=1.0, drop=0.0,
        window=10, min_labelled=1,
    )  # fmt: skip

    (window,) = result.windows
    assert window.rows == 3
    assert window.labelled == 2  # row 1's output cannot be read
    assert window.value == 0.5
    assert window.estimated == pytest.approx(0.8)
    empty = decay(
        log.iloc[0:0], pd.DataFrame(), metric="accuracy", output_kind="probability",
        classes=("a", "b", "c"), reference=1.0, drop=0.0, window=10,
    )  # fmt: skip
    assert empty.windows == ()


def test_the_result_is_plain_json(served: Served) -> None:
    result = _judge(served, _degraded(served.truth))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert data["decayed"] is True
    assert data["metric"] == "accuracy"
    assert data["higher_is_better"] is True
    assert data["judged"] == len(data["windows"]) - 1
    assert data["windows"][0]["start"] == "2026-11-20T09:30:00+00:00"
    assert set(data["windows"][0]) == {
        "start", "end", "rows", "labelled", "value", "interval", "estimated",
        "estimated_interval",
    }  # fmt: skip
    low, high = data["windows"][-1]["interval"]
    assert low <= data["windows"][-1]["value"] <= high
    assert data["latest_interval"] == data["windows"][-1]["interval"]
    assert data["confidence"] == 0.95
    assert data["rule"] == "interval"
    assert data["alert_line"] == pytest.approx(served.reference["accuracy"] - 0.05)
    low, high = data["latest_estimated_interval"]
    assert low <= data["latest_estimated"] <= high
    assert "cannot see concept drift" in data["estimate_caveat"]
    assert data["labelled"] == len(served.truth)


def test_an_empty_log_is_reported_not_judged() -> None:
    log = _log(pd.DataFrame({"x": [1.0]}), [[0.5, 0.5]]).iloc[0:0]
    result = decay(
        log, pd.DataFrame(), metric="accuracy", output_kind="probability", classes=(0, 1),
        reference=0.9, drop=0.05, window=10,
    )  # fmt: skip
    assert result.windows == ()
    assert not result.decayed
    assert result.reason.startswith("no predictions in the log yet")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "nope"}, "'nope' is not a metric"),
        ({"metric": "rmse"}, "regression metric; the model is a classifier"),
        ({"output_kind": "ranking"}, "unknown output kind"),
        ({"classes": None}, "give the classes"),
        ({"classes": (1, 1.0)}, "classes must be distinct"),
        ({"window": 0}, "the window must be positive"),
        ({"window": timedelta(0)}, "the window must be positive"),
        ({"window": "24h"}, "a duration or a number of rows"),
        ({"drop": -0.1}, "the allowed drop"),
        ({"min_labelled": 0}, "min_labelled"),
    ],
)
def test_bad_arguments_are_refused(served: Served, kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "metric": "accuracy", "output_kind": "probability", "classes": (0, 1),
        "reference": 0.9, "drop": 0.05, "window": 10,
    }  # fmt: skip
    options.update(kwargs)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        decay(served.log, pd.DataFrame(), **options)


def test_a_log_without_its_columns_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="no request_id, row"):
        decay(
            pd.DataFrame({"at": []}), pd.DataFrame(), metric="accuracy",
            output_kind="probability", classes=(0, 1), reference=0.9, drop=0.05, window=10,
        )  # fmt: skip


# -- CBPE ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated() -> np.ndarray:
    """Positive-class probabilities of a weak model (a logistic regression on two weakly
    informative columns of the cancer set): often unsure, so the metrics are far from
    perfect, as a calibrated model's are when the problem is hard."""
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        features[WEAK_FEATURES], target
    )
    proba: np.ndarray = model.predict_proba(features[WEAK_FEATURES])[:, 1]
    return proba


def _expected(proba: np.ndarray, metric: str, draws: int = 400) -> tuple[float, float]:
    """The metric's mean over label sets drawn from ``proba`` (n, k), and one draw."""
    rng = np.random.default_rng(11)
    known = get_metric(metric)
    prediction = proba if known.needs == "proba" else proba.argmax(axis=1)
    k = proba.shape[1]
    cumulative = proba.cumsum(axis=1)
    values = []
    for _ in range(draws):
        labels = (rng.random((len(proba), 1)) > cumulative).sum(axis=1)
        labels = np.minimum(labels, k - 1)
        values.append(known.score(labels, prediction, classes=tuple(range(k))))
    return float(np.mean(values)), float(values[0])


@pytest.mark.parametrize(
    ("metric", "tolerance"),
    [
        ("accuracy", 0.005),
        ("precision", 0.01),
        ("recall", 0.01),
        ("f1", 0.01),
        ("roc_auc", 0.01),
        ("brier", 0.003),
        ("log_loss", 0.01),
    ],
)
def test_cbpe_matches_the_metric_expected_of_a_calibrated_binary_model(
    calibrated: np.ndarray, metric: str, tolerance: float
) -> None:
    proba = np.column_stack([1 - calibrated, calibrated])
    mean, one_draw = _expected(proba, metric)
    estimate = cbpe(calibrated, metric)

    assert estimate == pytest.approx(mean, abs=tolerance)
    # A single world of labels is within a few points of the estimate.
    assert estimate == pytest.approx(one_draw, abs=0.05)
    # The (n,), (n, 1) and (n, 2) forms agree.
    assert cbpe(proba, metric, classes=("no", "yes")) == pytest.approx(estimate)
    assert cbpe(calibrated[:, np.newaxis], metric) == pytest.approx(estimate)


def test_cbpe_of_the_weak_model_is_far_from_perfect(calibrated: np.ndarray) -> None:
    assert 0.6 < cbpe(calibrated, "accuracy") < 0.85
    assert 0.6 < cbpe(calibrated, "roc_auc") < 0.85


@pytest.mark.parametrize("metric", ["accuracy", "f1", "roc_auc", "brier"])
def test_cbpe_matches_the_metric_expected_of_a_calibrated_multiclass_model(metric: str) -> None:
    features, target = load_wine(as_frame=True, return_X_y=True)
    columns = ["ash", "magnesium", "hue"]  # weak on their own, so the classes overlap
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features[columns], target)
    proba = model.predict_proba(features[columns])
    mean, one_draw = _expected(proba, metric)
    estimate = cbpe(proba, metric, classes=(0, 1, 2))

    assert estimate == pytest.approx(mean, abs=0.015)
    assert estimate == pytest.approx(one_draw, abs=0.08)


def test_cbpe_is_close_to_the_truth_for_a_well_calibrated_real_model(served: Served) -> None:
    for metric in ("accuracy", "roc_auc"):
        truth = get_metric(metric).score(
            served.truth,
            served.proba if metric == "roc_auc" else served.proba.argmax(axis=1),
        )
        assert cbpe(served.proba, metric) == pytest.approx(truth, abs=0.04)


def test_cbpe_edge_cases() -> None:
    certain = np.array([0.0, 0.0, 1.0, 1.0])
    assert cbpe(certain, "accuracy") == 1.0
    assert cbpe(certain, "roc_auc") == 1.0
    assert cbpe(certain, "brier") == 0.0
    assert math.isnan(cbpe(np.zeros(4), "roc_auc"))  # no expected positive
    assert cbpe(np.full(4, 0.2), "precision") == 0.0  # nothing predicted positive
    assert cbpe(np.full(4, 0.5), "roc_auc") == pytest.approx(0.5)
    assert set(CBPE_METRICS) == {
        "accuracy", "precision", "recall", "f1", "roc_auc", "brier", "log_loss"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("values", "metric", "message"),
    [
        ([0.5], "rmse", "cannot be estimated"),
        ([0.5], "r2", "cannot be estimated"),
        ([0.5], "nope", "is not a metric"),
        ([], "accuracy", "no probabilities"),
        ([1.5], "accuracy", "between 0 and 1"),
        ([math.nan], "accuracy", "NaN"),
        ([[0.5, 0.6]], "accuracy", "sum to 1.1"),
        ([[[0.5]]], "accuracy", "one or two dimensions"),
        (["a"], "accuracy", "must be numbers"),
    ],
)
def test_cbpe_refuses_what_it_cannot_estimate(values: Any, metric: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        cbpe(values, metric)


def test_cbpe_checks_the_classes_against_the_columns() -> None:
    with pytest.raises(InvalidInputError, match="2 probability columns for 3 classes"):
        cbpe([[0.4, 0.6]], "accuracy", classes=("a", "b", "c"))


# -- intervals ----------------------------------------------------------------------------


def _known_rate_log(correct: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A binary model's log whose answer is right exactly where ``correct`` says, one
    request per row a minute apart, and the feedback labelling every row."""
    rows = len(correct)
    rng = np.random.default_rng(7)
    positive = rng.uniform(0.55, 0.95, rows)  # the model says class 1, with some confidence
    log = pd.DataFrame(
        {
            "request_id": [f"k{i}" for i in range(rows)],
            "row": np.zeros(rows, dtype=np.int32),
            "at": pd.date_range(START, periods=rows, freq="min"),
            "role": "live",
            "prediction": positive,
        }
    )
    feedback = pd.DataFrame(
        {
            "request_id": log["request_id"],
            "label": pd.Series(np.where(correct, 1, 0).tolist(), dtype=object),
            "at": START + timedelta(days=3),
        }
    )
    return log, feedback


def _accuracy_decay(
    correct: np.ndarray, *, window: int, reference: float = 0.9, **kwargs: Any
) -> DecayResult:
    log, feedback = _known_rate_log(correct)
    options: dict[str, Any] = {
        "metric": "accuracy",
        "output_kind": "probability",
        "classes": (0, 1),
        "reference": reference,
        "drop": 0.05,
        "window": window,
        "min_labelled": 50,
    }
    return decay(log, feedback, **{**options, **kwargs})


def test_the_interval_covers_a_known_accuracy_about_as_often_as_it_says() -> None:
    # 120 windows of 300 labelled rows, each row right with probability 0.8.
    rng = np.random.default_rng(2026)
    correct = rng.random(120 * 300) < 0.8
    result = _accuracy_decay(correct, window=300, resamples=400)

    assert len(result.windows) == 120
    covered = 0
    for window in result.windows:
        assert window.value is not None
        assert window.interval is not None
        low, high = window.interval
        assert low <= window.value <= high
        assert 0.05 < high - low < 0.15  # about 4 standard errors of 300 rows
        covered += low <= 0.8 <= high
    # 95% nominal; the binomial spread of 120 windows leaves room either side.
    assert 0.88 <= covered / 120 <= 1.0


def test_a_small_calm_sample_just_under_the_line_is_not_an_alert() -> None:
    # 100 of 120 right: 0.833, just under the alert line 0.85, on a sample too small to
    # tell that from a model still at 0.9.
    correct = np.arange(120) % 6 != 0
    single = _accuracy_decay(correct, window=200, confidence=None)
    interval = _accuracy_decay(correct, window=200)

    assert single.latest == pytest.approx(100 / 120)
    assert single.decayed
    assert single.latest_interval is None
    assert single.to_dict()["rule"] == "point"
    assert not interval.decayed
    assert interval.latest == single.latest
    assert interval.latest_interval is not None
    low, high = interval.latest_interval
    assert low < 0.85 < high
    assert "its interval reaches the alert line 0.85" in interval.reason
    assert "not alerted on" in interval.reason


def test_a_real_drop_is_an_alert_under_the_interval_rule() -> None:
    # 420 of 600 right: 0.70, far below the alert line 0.85.
    correct = np.arange(600) % 10 < 7
    result = _accuracy_decay(correct, window=600)

    assert result.decayed
    assert result.latest == pytest.approx(0.7)
    assert result.latest_interval is not None
    assert result.latest_interval[1] < 0.85
    assert "its whole interval is below the alert line 0.85" in result.reason


def test_the_interval_of_the_same_log_is_the_same() -> None:
    correct = np.arange(300) % 5 != 0
    first = _accuracy_decay(correct, window=300)
    again = _accuracy_decay(correct, window=300)
    other = _accuracy_decay(correct, window=300, seed=5)

    assert first.latest_interval == again.latest_interval
    assert first.latest_interval != other.latest_interval


@pytest.mark.parametrize("metric", CBPE_METRICS)
@pytest.mark.parametrize("classes", [2, 3])
def test_the_cbpe_band_is_the_estimate_on_each_resample(metric: str, classes: int) -> None:
    rng = np.random.default_rng(classes)
    proba = rng.dirichlet(np.full(classes, 0.7), 40)
    samples = 60
    band = cbpe_band(proba, metric, resamples=samples, seed=3, confidence=0.9)
    by_hand = [
        cbpe(np.repeat(proba, counts.astype(int), axis=0), metric)
        for block in resample_weights(len(proba), samples, seed=3)
        for counts in block
    ]
    defined = [value for value in by_hand if not math.isnan(value)]
    assert band is not None
    assert band == pytest.approx(tuple(np.quantile(defined, [0.05, 0.95])))
    estimate = cbpe(proba, metric)
    assert band[0] <= estimate <= band[1]


def test_the_estimate_carries_its_band_and_the_caveat(served: Served) -> None:
    result = _judge(served, served.truth, "roc_auc", ids=[], window=timedelta(hours=1))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    for window in data["windows"]:
        low, high = window["estimated_interval"]
        assert low <= window["estimated"] <= high
        assert window["interval"] is None
    assert data["latest_estimated_interval"] == data["windows"][-1]["estimated_interval"]
    assert data["estimate_caveat"] == CBPE_CAVEAT
    assert "cannot see concept drift" in CBPE_CAVEAT
    regressor = decay(
        served.log.assign(prediction=served.proba[:, 1] * 10),
        pd.DataFrame(columns=["request_id", "label", "at"]),
        metric="rmse",
        output_kind="regression",
        classes=None,
        reference=1.0,
        drop=0.5,
        window=timedelta(hours=1),
    )
    assert regressor.to_dict()["estimate_caveat"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 1.5}, "between 0 and 1"),
        ({"confidence": 0}, "between 0 and 1"),
        ({"resamples": 0}, "resamples must be a positive whole number"),
    ],
)
def test_bad_interval_settings_are_refused(
    served: Served, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _judge(served, served.truth, **kwargs)


def test_a_large_window_is_bounded_from_a_subsample_as_wide_as_theory_says() -> None:
    # 60,000 labelled rows, each right with probability 0.8: more than BOOTSTRAP_ROWS, so
    # the interval comes from a subsample, narrowed to the whole window's size.
    rows = 60_000
    assert rows > BOOTSTRAP_ROWS
    correct = np.random.default_rng(8).random(rows) < 0.8
    result = _accuracy_decay(correct, window=rows, resamples=400)

    (window,) = result.windows
    assert window.value is not None
    assert window.interval is not None
    low, high = window.interval
    assert low < window.value < high
    wald = 2 * 1.96 * math.sqrt(window.value * (1 - window.value) / rows)
    assert high - low == pytest.approx(wald, rel=0.2)
    # The estimate's band likewise: the mean of the rows' top probabilities, whose
    # standard error is their spread over the square root of the rows.
    log, _ = _known_rate_log(correct)
    top = np.maximum(log["prediction"], 1 - log["prediction"]).to_numpy()
    assert window.estimated == pytest.approx(top.mean())
    assert window.estimated_interval is not None
    low, high = window.estimated_interval
    assert low < window.estimated < high
    assert high - low == pytest.approx(2 * 1.96 * top.std() / math.sqrt(rows), rel=0.2)
