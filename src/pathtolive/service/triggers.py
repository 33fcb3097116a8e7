"""Triggers: the reasons to retrain a model, and its retraining settings.

A trigger is a reason to retrain a model — a new version of its training data (``data``,
or ``schema`` when its contract changed), a change of the pipeline's code, an open drift
or decay alert, a cron slot, a person asking — or to re-check the live version when the
model's gate or promotion settings change (``config``). Each is kept in the metadata
database with a unique ``dedupe_key``, so that detecting the same reason twice creates
nothing. Each model's ``[models.NAME.retrain]`` settings say which reasons count
(``on``), which pipeline retrains it on which dataset, and on which cron schedule; a
schedule is checked when the settings are read, so a wrong one fails at once rather than
at 3 a.m.

Detection reads first and writes only a reason not recorded yet: a round in which nothing
happened takes no write lock. Every trigger created is an audit event naming its cause.
What becomes of a trigger is :mod:`pathtolive.service.release`'s job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

from cronsim import CronSim, CronSimError

from pathtolive.auth import Actor, Permission
from pathtolive.config import WORKSPACE_FILE
from pathtolive.entities import Alert, DatasetVersion, ModelVersion, Run, Trigger
from pathtolive.errors import ConfigError, NotFoundError
from pathtolive.gates.config import judging_digest, judging_settings
from pathtolive.monitoring.config import RetrainConfig
from pathtolive.pipelines.code_version import CodeVersion, capture_code_version, pipelines_hash
from pathtolive.refs import is_number
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "config_digest_of",
    "detect_triggers",
    "get_trigger",
    "last_schedule_slot",
    "list_triggers",
    "record_decision",
    "request_retrain",
    "retrain_config",
    "retrain_configs",
]

_ALERT_TRIGGERS: Mapping[str, str] = {
    "drift": "drift",
    "prediction_drift": "drift",
    "decay": "decay",
}
"""Alert kinds and the ``on`` entry (trigger kind) that answers them."""


# -- configuration ---------------------------------------------------------------------


def retrain_configs(ctx: ServiceContext) -> dict[str, RetrainConfig]:
    """The ``[models.NAME.retrain]`` settings of every model that has them, by model;
    a schedule that is not valid cron is a :class:`ConfigError` here, not at 3 a.m."""
    models = ctx.settings.document.get("models", {})
    if not isinstance(models, Mapping):
        raise ConfigError(f"'models' in {WORKSPACE_FILE} must be a table, like [models.NAME]")
    configs: dict[str, RetrainConfig] = {}
    for name in models:
        config = RetrainConfig.from_toml(str(name), models)
        if config is None:
            continue
        if config.schedule is not None:
            _cron(config)
        configs[config.model] = config
    return configs


def retrain_config(ctx: ServiceContext, model: str) -> RetrainConfig:
    """The ``[models.NAME.retrain]`` settings of ``model``; a :class:`ConfigError` that
    says what to add when it has none."""
    config = RetrainConfig.from_toml(model, ctx.settings.document.get("models", {}))
    if config is None:
        raise ConfigError(
            f"model {model!r} has no retraining settings; add [models.{model}.retrain] with "
            'pipeline = "NAME" and dataset = "NAME" to pathtolive.toml'
        )
    return config


def _cron(config: RetrainConfig) -> str:
    assert config.schedule is not None
    try:
        CronSim(config.schedule, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ConfigError(
            f"models.{config.model}.retrain.schedule = {config.schedule!r} is not valid cron "
            f"({exc}); five fields: minute hour day-of-month month day-of-week, like "
            '"0 3 * * 1"'
        ) from None
    return config.schedule


def last_schedule_slot(schedule: str, now: datetime) -> datetime | None:
    """The most recent time at or before ``now`` that the cron ``schedule`` names, in
    UTC (the schedule is read in UTC); None when there is none in the last 50 years."""
    at = now.astimezone(UTC).replace(second=0, microsecond=0)
    # CronSim steps back one second first: starting just after ``at`` makes a slot at
    # ``at`` itself count.
    try:
        slot = next(CronSim(schedule, at + timedelta(seconds=1), reverse=True))
    except StopIteration:
        return None
    return slot.astimezone(UTC)


# -- reading ---------------------------------------------------------------------------


def list_triggers(
    ctx: ServiceContext,
    model: str | None = None,
    *,
    status: str | None = None,
    limit: int | None = 50,
) -> list[Trigger]:
    """Triggers, newest first."""
    ctx.require(Permission.READ, "read triggers")
    with ctx.metadata.read() as session:
        return session.list_triggers(model, status=status, limit=limit)


def get_trigger(ctx: ServiceContext, trigger_id: int) -> Trigger:
    """One trigger, as it stands now; a :class:`NotFoundError` when there is none."""
    ctx.require(Permission.READ, "read triggers")
    with ctx.metadata.read() as session:
        trigger = session.get_trigger(trigger_id)
    if trigger is None:
        raise NotFoundError(f"no trigger {trigger_id}; 'pathtolive triggers list' shows them")
    return trigger


# -- creating triggers -----------------------------------------------------------------


def _insert(
    session: MetadataSession,
    actor: Actor,
    model: str,
    kind: str,
    cause: str,
    dedupe_key: str,
    *,
    at: datetime,
    extra: Mapping[str, Any] | None = None,
) -> Trigger | None:
    trigger = session.insert_trigger(model, kind, cause, dedupe_key, at=at, by=actor.name)
    if trigger is not None:
        record(
            session,
            actor,
            "controller.trigger",
            f"model:{model}",
            {
                "trigger": trigger.trigger_id,
                "kind": kind,
                "cause": cause,
                "dedupe_key": dedupe_key,
                **(extra or {}),
            },
        )
    return trigger


def request_retrain(ctx: ServiceContext, model: str, *, reason: str = "") -> Trigger:
    """A manual trigger: retrain ``model`` the next time the controller looks."""
    actor = ctx.require(Permission.WRITE, "ask for a retrain")
    retrain_config(ctx, model)
    cause = f"manual retrain by {actor.name}" + (f": {reason}" if reason else "")
    key = f"manual:{uuid.uuid4().hex}"
    with ctx.metadata.write() as session:
        trigger = _insert(session, actor, model, "manual", cause, key, at=datetime.now(UTC))
    assert trigger is not None  # a fresh uuid never collides
    return trigger


def detect_triggers(
    ctx: ServiceContext, *, now: datetime | None = None, since: datetime | None = None
) -> list[Trigger]:
    """Look for reasons to act on every model with retraining settings, and record each
    new one as a pending trigger; returns those created by this call (a reason seen
    before creates nothing).

    - ``new_data``: the newest version of the retrain dataset is newer than every version
      of it that trained the model's version under the configured alias (``live``; the
      model's latest version when nothing has the alias; any data when the model has no
      version yet). One trigger per model and dataset version, of kind ``schema`` when
      the new version's contract is not the one that version was trained under (``on``
      holding ``schema`` but not ``new_data`` answers only those).
    - ``code``: the digest of the workspace's ``pipelines/`` is not the one the run of
      that version recorded. One trigger per code digest and version (a change reverted
      after another was released fires again), audited with the git commit.
    - ``config``: the model's gate or promotion settings (:data:`JUDGING_KEYS
      <pathtolive.gates.config.JUDGING_KEYS>`) are not those of its last ``config``
      trigger; the release re-checks the live version, it does not retrain. The first
      time they are seen they are recorded as a trigger ``done`` at once, with nothing
      to compare them with: nothing is re-checked.
    - ``drift`` / ``decay``: an open alert of that kind on the model (``drift`` answers
      ``prediction_drift`` alerts too); one trigger per alert, its message as the cause.
      With ``min_weighted_drift``, an input drift alert whose drifted features carried
      less of the model's attribution triggers nothing.
    - ``schedule``: the most recent cron slot at or before ``now``, once per slot. Slots
      before ``since`` (when the controller started) never fire unless an earlier slot of
      the model did, so a first start brings no backlog; after a restart at most the one
      slot missed most recently fires.
    """
    actor = ctx.require(Permission.WRITE, "start releases")
    now = datetime.now(UTC) if now is None else now
    since = now if since is None else since
    configs = retrain_configs(ctx)
    models = ctx.settings.document.get("models", {})
    # Hashed once a round, and only when a model answers code changes.
    code = (
        pipelines_hash(ctx.settings.root)
        if any("code" in config.on for config in configs.values())
        else None
    )
    # Git is asked for the commit only when a code change is new, not every round.
    workspace = cache(partial(capture_code_version, ctx.settings.root))
    created: list[Trigger] = []
    for config in configs.values():
        # Looked for in a read transaction: a write (which queues behind every other
        # writer) only when there is a reason not recorded yet.
        with ctx.metadata.read() as session:
            recent = session.list_triggers(config.model, limit=_RECENT)
            known = {t.dedupe_key for t in recent}
            reasons = list(
                _reasons(
                    session,
                    config,
                    recent,
                    now=now,
                    since=since,
                    code=None if code is None else _CodeProbe(code, known, workspace),
                    models=models,
                )
            )
        fresh = [reason for reason in reasons if reason[2] not in known]
        if not fresh:
            continue
        with ctx.metadata.write() as session:
            for kind, cause, key, extra in fresh:
                trigger = _insert(
                    session, actor, config.model, kind, cause, key, at=now, extra=extra
                )
                if trigger is not None and kind == "config" and extra["previous_digest"] is None:
                    trigger = _settle_first_config(session, actor, trigger, at=now)
                if trigger is not None:
                    created.append(trigger)
    return created


def config_digest_of(trigger: Trigger) -> str | None:
    """The digest of the gate and promotion settings a ``config`` trigger was made for
    (it leads its dedupe key); None for a trigger of another kind."""
    prefix = f"config:{trigger.model}:"
    if trigger.kind != "config" or not trigger.dedupe_key.startswith(prefix):
        return None
    return trigger.dedupe_key[len(prefix) :].split(":", 1)[0]


_Reason = tuple[str, str, str, dict[str, Any]]
"""kind, cause, dedupe key, details for the audit event."""


@dataclass(frozen=True)
class _CodeProbe:
    """What a round knows of the workspace's code: the digest of its pipelines, the
    dedupe keys recorded, and how to ask git for the commit (once, when needed)."""

    digest: str
    known: Collection[str]
    workspace: Callable[[], CodeVersion]


_RECENT = 500
"""How many of a model's latest triggers a detection round reads (to skip known reasons
and to find the last schedule slot fired)."""


def _reasons(
    session: MetadataSession,
    config: RetrainConfig,
    recent: list[Trigger],
    *,
    now: datetime,
    since: datetime,
    code: _CodeProbe | None,
    models: Mapping[str, Any],
) -> Iterator[_Reason]:
    if "new_data" in config.on or "schema" in config.on:
        found = _new_data(session, config)
        if found is not None and (found[0] in config.on or "new_data" in config.on):
            yield found
    if "code" in config.on and code is not None:
        found = _code(session, config, code)
        if found is not None:
            yield found
    if "config" in config.on:
        found = _config_change(session, config, models)
        if found is not None:
            yield found
    wanted = {kind for kind, answer in _ALERT_TRIGGERS.items() if answer in config.on}
    if wanted:
        alerts = session.list_alerts(config.model, status="open")
        for alert in sorted(alerts, key=lambda a: a.alert_id):
            if alert.kind in wanted and _matters(alert, config):
                yield _alert_reason(alert)
    if "schedule" in config.on and config.schedule is not None:
        found = _schedule(config, recent, now=now, since=since)
        if found is not None:
            yield found


def _new_data(session: MetadataSession, config: RetrainConfig) -> _Reason | None:
    latest = session.latest_version(config.dataset)
    if latest is None:
        return None
    reference = _reference_version(session, config)
    trained: list[int] = []
    if reference is not None:
        run = session.get_run(reference.run_id)
        for ref in (run.inputs if run is not None else {}).values():
            name, _, number = ref.partition("@")
            if name == config.dataset and is_number(number):
                trained.append(int(number))
    if trained and latest.version <= max(trained):
        return None
    if reference is None:
        against = f"{config.model} has no version yet"
    elif trained:
        against = f"{reference.ref} was trained on {config.dataset}@{max(trained)}"
    else:
        against = f"{reference.ref} was not trained on {config.dataset}"
    key = f"new_data:{config.model}:{latest.ref}"
    used = session.get_version(config.dataset, max(trained)) if trained else None
    if used is not None and used.schema_version != latest.schema_version:
        return _schema_change(config, latest, used, against, key)
    cause = f"new data {latest.ref} ({against})"
    return "new_data", cause, key, {"dataset": latest.ref}


def _schema_change(
    config: RetrainConfig, latest: DatasetVersion, used: DatasetVersion, against: str, key: str
) -> _Reason:
    """New data under another contract than the reference was trained under: its own
    vector, with the same dedupe key as new data (one trigger per dataset version)."""
    cause = (
        f"new data {latest.ref} under contract v{latest.schema_version} ({against}, "
        f"under contract v{used.schema_version})"
    )
    extra = {
        "dataset": latest.ref,
        "schema_version": latest.schema_version,
        "trained_schema_version": used.schema_version,
    }
    return "schema", cause, key, extra


def _code(session: MetadataSession, config: RetrainConfig, probe: _CodeProbe) -> _Reason | None:
    """The pipelines' code is not what trained the reference version. Nothing before the
    model's first version: new data (or a person) makes that one."""
    reference = _reference_version(session, config)
    if reference is None:
        return None
    run = session.get_run(reference.run_id)
    trained = None if run is None else run.pipelines_hash
    code = probe.digest
    key = f"code:{config.model}:{code}:{reference.version}"
    if trained == code or key in probe.known:
        return None
    if run is None or trained is None:
        against = f"{reference.ref} was not trained by this workspace's pipelines"
    else:
        against = f"{reference.ref} was trained on pipelines {trained[:12]} at {_commit(run)}"
    now = probe.workspace()
    at = "no git commit" if now.commit is None else f"commit {now.describe()}"
    cause = f"pipeline code changed to pipelines {code[:12]} at {at} ({against})"
    extra = {
        "pipelines_hash": code,
        "commit": now.commit,
        "dirty": now.dirty,
        "diff_hash": now.diff_hash,
        "version": reference.ref,
        "trained_pipelines_hash": trained,
        "trained_commit": None if run is None else run.code_commit,
    }
    return "code", cause, key, extra


def _commit(run: Run) -> str:
    if run.code_commit is None:
        return "no git commit"
    return f"commit {run.code_commit[:12]}" + (" with changes" if run.code_dirty else "")


def _config_change(
    session: MetadataSession, config: RetrainConfig, models: Mapping[str, Any]
) -> _Reason | None:
    """The model's gate or promotion settings differ from those of its last ``config``
    trigger; the first time, a reason to record them (``previous_digest`` None)."""
    model = config.model
    digest = judging_digest(model, models)
    last = next(iter(session.list_triggers(model, kind="config", limit=1)), None)
    settings = judging_settings(model, models)
    if last is None:
        cause = (
            f"gate and promotion settings of {model} first seen ({digest[:12]}): recorded, "
            "nothing to re-check against"
        )
        extra = {"config_digest": digest, "previous_digest": None, "settings": settings}
        return "config", cause, f"config:{model}:{digest}", extra
    previous = config_digest_of(last)
    if previous == digest:
        return None
    cause = (
        f"gate or promotion settings of {model} changed in {WORKSPACE_FILE} "
        f"({(previous or '?')[:12]} to {digest[:12]}): re-check the live version"
    )
    extra = {"config_digest": digest, "previous_digest": previous, "settings": settings}
    return "config", cause, f"config:{model}:{digest}:after:{last.trigger_id}", extra


def _settle_first_config(
    session: MetadataSession, actor: Actor, trigger: Trigger, *, at: datetime
) -> Trigger | None:
    """The first ``config`` trigger of a model records its settings and fires nothing:
    done at once (the controller never claims it)."""
    decision = "recorded as the settings later changes are compared with; nothing re-checked"
    session.finish_trigger(trigger.trigger_id, "done", at=at, decision=decision)
    record_decision(session, actor, trigger, "done", decision)
    return session.get_trigger(trigger.trigger_id)


def record_decision(
    session: MetadataSession,
    actor: Actor,
    trigger: Trigger,
    status: str,
    decision: str,
    **more: Any,
) -> None:
    """The audit event of a trigger's end (``controller.decision``), in the transaction
    that ends it."""
    record(
        session,
        actor,
        "controller.decision",
        f"model:{trigger.model}",
        {
            "trigger": trigger.trigger_id,
            "kind": trigger.kind,
            "cause": trigger.cause,
            "status": status,
            "decision": decision,
            **more,
        },
    )


def _reference_version(session: MetadataSession, config: RetrainConfig) -> ModelVersion | None:
    """The version new data is judged against: the one under the alias, else the latest."""
    number = session.alias_version(config.model, config.alias)
    if number is not None:
        return session.get_model_version(config.model, number)
    versions = session.list_model_versions(config.model)
    return max(versions, key=lambda v: v.version) if versions else None


def _matters(alert: Alert, config: RetrainConfig) -> bool:
    """Whether an alert weighs enough to retrain: an input drift alert whose drifted
    features carried less of the model's attribution than ``min_weighted_drift`` does not
    (one raised without a known importance does)."""
    minimum = config.min_weighted_drift
    weighted = alert.details.get("weighted_drift") if alert.kind == "drift" else None
    if minimum is None or not isinstance(weighted, int | float):
        return True
    return float(weighted) >= minimum


def _alert_reason(alert: Alert) -> _Reason:
    kind = _ALERT_TRIGGERS[alert.kind]
    return kind, alert.message, f"alert:{alert.alert_id}", {"alert": alert.alert_id}


def _schedule(
    config: RetrainConfig, recent: list[Trigger], *, now: datetime, since: datetime
) -> _Reason | None:
    slot = last_schedule_slot(_cron(config), now)
    if slot is None:
        return None
    # Slots before the last schedule trigger (or, before the first, before the controller
    # started) are past: the dedupe key stops a slot firing twice, this stops a backlog.
    fired = [t.created_at for t in recent if t.kind == "schedule"]
    floor = max(fired) if fired else since
    if slot < floor.astimezone(UTC).replace(second=0, microsecond=0):
        return None
    cause = f"schedule {config.schedule!r}: slot {slot.isoformat()}"
    key = f"schedule:{config.model}:{slot.isoformat()}"
    return "schedule", cause, key, {"slot": slot.isoformat()}
