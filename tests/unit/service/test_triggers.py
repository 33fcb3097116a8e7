"""Triggers through the service layer: new data, drift and decay alerts, cron slots and
manual requests are each detected once, and retraining settings are checked when read.
Real workspaces and a real metadata store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.errors import ConfigError, PermissionDeniedError
from pathtolive.service.controller import Controller
from pathtolive.service.gates import check_gates, latest_report
from pathtolive.service.triggers import (
    detect_triggers,
    get_trigger,
    last_schedule_slot,
    list_triggers,
    request_retrain,
)
from tests.support.controller import Setup

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def _alert(
    setup: Setup, kind: str, key: str, message: str, details: dict[str, object] | None = None
) -> int:
    with setup.ctx.metadata.write() as session:
        alert, _ = session.raise_alert("risk-model", kind, key, message, details or {}, at=T0)
    return alert.alert_id


# -- detection -------------------------------------------------------------------------


def test_new_data_is_detected_once_per_dataset_version(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    setup.add_data()
    # No version of the model yet: the first data is a reason to train one.
    [first] = detect_triggers(setup.ctx, now=T0)
    assert first.kind == "new_data"
    assert first.cause == "new data cancer@1 (risk-model has no version yet)"
    assert first.dedupe_key == "new_data:risk-model:cancer@1"
    assert first.status == "pending"
    assert detect_triggers(setup.ctx, now=T0) == []

    setup.train_live()
    assert detect_triggers(setup.ctx, now=T0) == []
    setup.add_data(seed=1)
    [second] = detect_triggers(setup.ctx, now=T0)
    assert second.cause == "new data cancer@2 (risk-model@1 was trained on cancer@1)"
    assert detect_triggers(setup.ctx, now=T0 + timedelta(hours=1)) == []
    assert [t.trigger_id for t in list_triggers(setup.ctx)] == [
        second.trigger_id,
        first.trigger_id,
    ]
    [event, _] = setup.events("controller.trigger")[::-1]
    assert event.subject == "model:risk-model"
    assert event.details["trigger"] == second.trigger_id
    assert event.details["cause"] == second.cause


def test_drift_and_decay_alerts_trigger_once_each(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["drift"]')
    drift = _alert(setup, "drift", "drift:mean radius", "drift in mean radius PSI 0.31")
    output = _alert(setup, "prediction_drift", "prediction_drift", "predictions moved PSI 0.4")
    _alert(setup, "decay", "decay:roc_auc", "roc_auc fell by 0.08")  # not in `on`
    created = detect_triggers(setup.ctx, now=T0)
    assert [(t.kind, t.cause, t.dedupe_key) for t in created] == [
        ("drift", "drift in mean radius PSI 0.31", f"alert:{drift}"),
        ("drift", "predictions moved PSI 0.4", f"alert:{output}"),
    ]
    # The alert is refreshed while the problem lasts: still the same reason.
    _alert(setup, "drift", "drift:mean radius", "drift in mean radius PSI 0.35")
    assert detect_triggers(setup.ctx, now=T0) == []


def test_drift_that_carries_little_of_the_attribution_does_not_retrain(
    make_setup: Callable[..., Setup],
) -> None:
    # The template's last line is inside [models.risk-model.retrain].
    setup = make_setup(on='["drift"]', schedule="min_weighted_drift = 0.3")
    _alert(setup, "drift", "drift:mean radius", "light", {"weighted_drift": 0.1})
    heavy = _alert(setup, "drift", "drift:worst area", "heavy", {"weighted_drift": 0.45})
    unknown = _alert(setup, "drift", "drift:mean texture", "importance unknown", {})
    output = _alert(setup, "prediction_drift", "prediction_drift", "predictions moved")
    created = detect_triggers(setup.ctx, now=T0)
    assert [t.dedupe_key for t in created] == [
        f"alert:{heavy}",
        f"alert:{unknown}",
        f"alert:{output}",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)  # a gate, not the store
def test_the_explainability_gate_keeps_each_inputs_importance(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    check_gates(setup.ctx, "risk-model@1")
    stored = latest_report(setup.ctx, "risk-model@1").report
    [explained] = [r for r in stored["results"] if r["gate"] == "explainability"]
    importance = explained["data"]["importance"]
    inputs = [name for name in setup.frame.columns if name != "target"]
    assert sorted(importance) == sorted(inputs)
    assert all(value >= 0 for value in importance.values())
    assert sum(importance.values()) > 0
    # The model's output moves with some inputs far more than with others.
    ranked = sorted(importance.values(), reverse=True)
    assert ranked[0] > 10 * ranked[len(ranked) // 2]


def test_decay_alert(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["decay"]')
    decay = _alert(setup, "decay", "decay:roc_auc", "roc_auc fell by 0.08")
    [trigger] = detect_triggers(setup.ctx, now=T0)
    assert (trigger.kind, trigger.cause, trigger.dedupe_key) == (
        "decay",
        "roc_auc fell by 0.08",
        f"alert:{decay}",
    )
    assert detect_triggers(setup.ctx, now=T0) == []


def test_schedule_fires_each_slot_once_without_a_backlog(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["schedule"]', schedule='schedule = "0 3 * * *"')
    started = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    # Today's 03:00 passed before the controller started: it does not fire.
    assert detect_triggers(setup.ctx, now=started, since=started) == []
    tomorrow = datetime(2026, 4, 2, 3, 0, 20, tzinfo=UTC)
    [trigger] = detect_triggers(setup.ctx, now=tomorrow, since=started)
    assert trigger.kind == "schedule"
    assert trigger.dedupe_key == "schedule:risk-model:2026-04-02T03:00:00+00:00"
    assert "0 3 * * *" in trigger.cause
    assert detect_triggers(setup.ctx, now=tomorrow + timedelta(hours=5), since=started) == []
    # Down for three days: only the most recent slot fires, once.
    later = datetime(2026, 4, 5, 4, 0, tzinfo=UTC)
    [caught_up] = detect_triggers(setup.ctx, now=later, since=later)
    assert caught_up.dedupe_key == "schedule:risk-model:2026-04-05T03:00:00+00:00"
    assert detect_triggers(setup.ctx, now=later, since=later) == []


def test_last_schedule_slot() -> None:
    at = datetime(2026, 4, 6, 3, 0, tzinfo=UTC)  # a Monday
    assert last_schedule_slot("0 3 * * 1", at) == at
    assert last_schedule_slot("0 3 * * 1", at - timedelta(seconds=1)) == at - timedelta(days=7)
    assert last_schedule_slot("*/15 * * * *", at + timedelta(minutes=20)) == at + timedelta(
        minutes=15
    )


def test_a_bad_schedule_is_a_config_error(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["schedule"]', schedule='schedule = "0 25 * * *"')
    with pytest.raises(ConfigError, match="not valid cron"):
        detect_triggers(setup.ctx, now=T0)
    with pytest.raises(ConfigError, match="not valid cron"):
        Controller(setup.ctx)


def test_manual_retrain_needs_write_and_settings(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    trigger = request_retrain(setup.ctx, "risk-model", reason="monthly refresh")
    assert (trigger.kind, trigger.status) == ("manual", "pending")
    assert trigger.cause == "manual retrain by ada: monthly refresh"
    assert trigger.dedupe_key.startswith("manual:")
    again = request_retrain(setup.ctx, "risk-model")
    assert again.trigger_id != trigger.trigger_id
    assert get_trigger(setup.ctx, trigger.trigger_id) == trigger
    with pytest.raises(PermissionDeniedError):
        request_retrain(setup.as_role("viewer"), "risk-model")
    with pytest.raises(ConfigError, match=r"\[models.churn.retrain\]"):
        request_retrain(setup.ctx, "churn")
