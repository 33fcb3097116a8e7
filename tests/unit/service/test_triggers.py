"""Triggers through the service layer: new data, drift and decay alerts, cron slots and
manual requests are each detected once, and retraining settings are checked when read.
Real workspaces and a real metadata store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.entities import TRIGGER_VECTORS
from pathtolive.errors import ConfigError, PermissionDeniedError
from pathtolive.monitoring.config import TRIGGER_KINDS
from pathtolive.pipelines.code_version import pipelines_hash
from pathtolive.service import datasets as dataset_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.controller import Controller
from pathtolive.service.gates import check_gates, latest_report
from pathtolive.service.triggers import (
    config_digest_of,
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


# -- code, schema and config: the other vectors of change -------------------------------


def test_a_change_of_the_pipelines_code_is_detected_once_per_code_and_version(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["code"]')
    setup.add_data()
    assert detect_triggers(setup.ctx, now=T0) == []  # no version yet: nothing to differ from
    setup.train_live()
    assert detect_triggers(setup.ctx, now=T0) == []  # trained on the code there is
    with setup.ctx.metadata.read() as session:
        version = session.get_model_version("risk-model", 1)
        assert version is not None
        run = session.get_run(version.run_id)
    assert run is not None
    assert run.pipelines_hash is not None
    source = setup.root / "pipelines" / "risk.py"
    source.write_text(source.read_text() + "\n# a changed line\n")
    changed = pipelines_hash(setup.root)
    [trigger] = detect_triggers(setup.ctx, now=T0)
    assert (trigger.kind, trigger.vector, trigger.status) == ("code", "code", "pending")
    assert trigger.dedupe_key == f"code:risk-model:{changed}:1"
    assert trigger.cause == (
        f"pipeline code changed to pipelines {changed[:12]} at no git commit (risk-model@1 "
        f"was trained on pipelines {run.pipelines_hash[:12]} at no git commit)"
    )
    assert detect_triggers(setup.ctx, now=T0 + timedelta(minutes=1)) == []
    [event] = setup.events("controller.trigger")
    assert event.details["pipelines_hash"] == changed
    assert event.details["trained_pipelines_hash"] == run.pipelines_hash
    assert (event.details["commit"], event.details["trained_commit"]) == (None, None)


def test_new_data_under_another_contract_is_the_schema_vector(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["schema"]')
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)  # the same contract: new data, which "schema" alone ignores
    assert detect_triggers(setup.ctx, now=T0) == []
    wider = setup.frame.assign(extra=1.0)
    dataset_service.add_dataset(
        setup.ctx, wider, "cancer", accept_schema=True, reason="a new feature"
    )
    [trigger] = detect_triggers(setup.ctx, now=T0)
    assert (trigger.kind, trigger.vector) == ("schema", "schema")
    assert trigger.dedupe_key == "new_data:risk-model:cancer@3"
    assert trigger.cause == (
        "new data cancer@3 under contract v2 (risk-model@1 was trained on cancer@1, "
        "under contract v1)"
    )
    assert detect_triggers(setup.ctx, now=T0) == []


def _set_gates(setup: Setup, gates: str) -> ServiceContext:
    config = setup.root / "pathtolive.toml"
    text = config.read_text()
    start = text.index("[models.risk-model.gates]")
    end = text.index("[models.risk-model.promotion]")
    config.write_text(text[:start] + f"[models.risk-model.gates]\n{gates}\n" + text[end:])
    return setup.reopen()


def test_changed_gate_settings_fire_once_per_change_and_never_on_first_sight(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["config"]')
    [first] = detect_triggers(setup.ctx, now=T0)
    # First seen: recorded, done at once, nothing to re-check.
    assert (first.kind, first.vector, first.status) == ("config", "config", "done")
    assert first.decision.startswith("recorded as the settings later changes are compared")
    assert detect_triggers(setup.ctx, now=T0) == []

    # Laid out otherwise (spacing, a comment): the same settings, nothing fires.
    relaid = _set_gates(setup, "# the floor\nmin_metric   =   0.5")
    assert detect_triggers(relaid, now=T0) == []

    stricter = _set_gates(setup, "min_metric = 0.7")
    [changed] = detect_triggers(stricter, now=T0)
    assert (changed.kind, changed.status) == ("config", "pending")
    assert changed.dedupe_key.endswith(f":after:{first.trigger_id}")
    assert "re-check the live version" in changed.cause
    assert detect_triggers(stricter, now=T0) == []
    assert config_digest_of(changed) != config_digest_of(first)

    # Back to the first settings: a change again, judged again.
    back = _set_gates(setup, "min_metric = 0.5")
    [reverted] = detect_triggers(back, now=T0)
    assert config_digest_of(reverted) == config_digest_of(first)
    assert reverted.dedupe_key.endswith(f":after:{changed.trigger_id}")
    events = setup.events("controller.trigger")
    assert [e.details["previous_digest"] for e in events] == [
        None,
        config_digest_of(first),
        config_digest_of(changed),
    ]
    assert events[1].details["settings"]["gates"] == {"min_metric": 0.7}
    assert [e.details["trigger"] for e in setup.events("controller.decision")] == [first.trigger_id]


def test_every_trigger_kind_has_its_vector() -> None:
    assert {kind: TRIGGER_VECTORS[kind] for kind in TRIGGER_KINDS} == {
        "new_data": "data",
        "schema": "schema",
        "code": "code",
        "drift": "drift",
        "decay": "decay",
        "schedule": "schedule",
        "config": "config",
        "manual": "manual",
    }
