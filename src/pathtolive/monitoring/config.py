"""``[models.NAME.monitoring]`` and ``[models.NAME.retrain]``: what to watch and how to
answer.

::

    [models.risk-model.monitoring]
    verdict = "effect+significance"  # or "significance", "effect"
    drift_threshold = { wasserstein = 0.1, js = 0.1, psi = 0.1, ks_pvalue = 0.01 }
    min_weighted_drift = 0.2        # alert only when drifted inputs carry 20% of attribution
    min_rows = 500
    decay_drop = 0.05
    decay_confidence = 0.95         # the decay alert needs the whole interval past the line
    window = "24h"                  # default window of `pathtolive monitor`
    persistence = "3 of 5"          # drift alerts need drift in 3 of the last 5 windows
    alert_webhook = "http://127.0.0.1:9000/hook"
    alert_backoff = "30s"           # first wait before an undelivered alert is retried

    [models.risk-model.retrain]
    pipeline = "risk"
    dataset = "loans"
    on = ["new_data", "code", "config", "drift", "decay", "schedule"]
    schedule = "0 3 * * 1"
    min_weighted_drift = 0.3        # retrain on drift carrying 30% of the attribution
    max_attempts = 3                # a failed release is tried again, up to 3 attempts in all
    retry_backoff = "1m"            # after 1m, then 2m, 4m, ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, cast, get_args

from pathtolive.config import WORKSPACE_FILE, check_choice, check_keys, table_at
from pathtolive.errors import ConfigError
from pathtolive.monitoring.series import Persistence
from pathtolive.monitoring.verdict import VERDICTS, DriftThresholds, Verdict

__all__ = [
    "TRIGGER_KINDS",
    "MonitoringConfig",
    "RetrainConfig",
    "TriggerKind",
    "parse_window",
]

TriggerKind = Literal[
    "new_data", "schema", "code", "drift", "decay", "schedule", "config", "manual"
]
TRIGGER_KINDS: tuple[TriggerKind, ...] = get_args(TriggerKind)
_ON_KINDS = ("new_data", "schema", "code", "config", "drift", "decay", "schedule")

_MONITORING_KEYS = (
    "verdict",
    "drift_threshold",
    "min_weighted_drift",
    "min_rows",
    "decay_drop",
    "window",
    "alert_webhook",
    "alert_backoff",
    "metric",
    "decay_confidence",
    "persistence",
)
_RETRAIN_KEYS = (
    "min_weighted_drift",
    "pipeline",
    "dataset",
    "on",
    "schedule",
    "parameter",
    "alias",
    "params",
    "trust",
    "max_attempts",
    "retry_backoff",
)
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str, *, where: str = "window") -> timedelta:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"``, ``"2w"`` as a duration."""
    match = _WINDOW.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{where} = {text!r} is not a duration; write a number and a unit, like 24h, "
            "30m, 7d, 90s or 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@dataclass(frozen=True)
class MonitoringConfig:
    """How a model's live traffic is judged. ``drift_threshold`` is handed to the drift
    engine as it is (``psi``, ``ks_pvalue``, …; ``false`` turns an effect size off) with
    the ``verdict`` rule (see :class:`~pathtolive.monitoring.drift.DriftThresholds`);
    ``min_weighted_drift`` is the importance-weighted drift (the share of the model's
    attribution carried by the drifted inputs) below which input drift is reported but
    raises no alert; ``decay_drop`` is how far the metric on labelled feedback may fall
    below its gate-time figure."""

    model: str
    drift_threshold: Mapping[str, float | str | bool] = field(default_factory=dict)
    verdict: Verdict = "effect+significance"
    min_weighted_drift: float | None = None
    min_rows: int = 500
    decay_drop: float = 0.05
    window: timedelta = timedelta(hours=24)
    alert_webhook: str | None = None
    alert_backoff: timedelta = timedelta(seconds=30)
    """The wait before an undelivered alert's second attempt; it doubles with each attempt
    after that (at most an hour)."""
    metric: str | None = None
    """The metric decay is judged on (default: the model's gate metric)."""
    decay_confidence: float = 0.95
    """The confidence of the bootstrap interval a decay alert is judged on."""
    persistence: Persistence | None = None
    """Drift alerts need drift in ``k`` of the last ``n`` windows (None: the one window)."""

    @classmethod
    def from_toml(cls, model: str, models_table: Mapping[str, Any]) -> MonitoringConfig:
        table = _section(models_table, model, "monitoring", _MONITORING_KEYS)
        where = f"models.{model}.monitoring"
        thresholds = table.get("drift_threshold", {})
        if not isinstance(thresholds, Mapping) or not all(
            (isinstance(v, int | float) and not isinstance(v, bool))
            or (k == "correction" and isinstance(v, str))
            or (k in ("psi", "js", "wasserstein") and v is False)
            for k, v in thresholds.items()
        ):
            raise ConfigError(
                f"{where}.drift_threshold must be a table of method = number, like "
                "{ psi = 0.1, ks_pvalue = 0.01 } (false turns psi, js or wasserstein off; "
                'correction = "bonferroni" or "none")'
            )
        check_keys(
            thresholds, f"{where}.drift_threshold", DriftThresholds.keys(), kind="drift threshold"
        )
        verdict = check_choice(
            table.get("verdict", VERDICTS[0]), f"{where}.verdict", VERDICTS, kind="drift rule"
        )
        min_rows = table.get("min_rows", 500)
        if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
            raise ConfigError(f"{where}.min_rows must be a positive whole number")
        drop = table.get("decay_drop", 0.05)
        if not isinstance(drop, int | float) or isinstance(drop, bool) or drop < 0:
            raise ConfigError(f"{where}.decay_drop must be a number, 0 or more")
        window = table.get("window", "24h")
        if not isinstance(window, str):
            raise ConfigError(f'{where}.window must be a duration like "24h"')
        hook = table.get("alert_webhook")
        if hook is not None and (
            not isinstance(hook, str) or not hook.startswith(("http://", "https://"))
        ):
            raise ConfigError(f"{where}.alert_webhook must be an http:// or https:// URL")
        backoff = table.get("alert_backoff", "30s")
        if not isinstance(backoff, str):
            raise ConfigError(f'{where}.alert_backoff must be a duration like "30s"')
        metric = table.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise ConfigError(f"{where}.metric must be a metric name")
        confidence = table.get("decay_confidence", 0.95)
        if (
            not isinstance(confidence, int | float)
            or isinstance(confidence, bool)
            or not 0 < confidence < 1
        ):
            raise ConfigError(f"{where}.decay_confidence must be between 0 and 1, like 0.95")
        persistence = table.get("persistence")
        if persistence is not None:
            persistence = Persistence.parse(persistence, where=f"{where}.persistence")
        return cls(
            model=model,
            drift_threshold={
                str(k): v if isinstance(v, str | bool) else float(v) for k, v in thresholds.items()
            },
            verdict=cast(Verdict, verdict),
            min_weighted_drift=_share(table, "min_weighted_drift", where),
            min_rows=min_rows,
            decay_drop=float(drop),
            window=parse_window(window, where=f"{where}.window"),
            alert_webhook=hook,
            alert_backoff=parse_window(backoff, where=f"{where}.alert_backoff"),
            metric=metric,
            decay_confidence=float(confidence),
            persistence=persistence,
        )


@dataclass(frozen=True)
class RetrainConfig:
    """What the controller does for a model: run ``pipeline`` on the latest version of
    ``dataset`` (passed as the pipeline's ``parameter``; by default to its one data parameter),
    register the result under the model's name and promote it to ``alias`` through the
    gates and the alias's policy, when one of the ``on`` triggers fires. ``schedule`` is
    cron syntax (minute hour day-of-month month day-of-week). ``trust`` names the types the
    retrained model may refer to beyond the safe defaults (as ``run --trust``).
    ``min_weighted_drift``: an input drift alert triggers a retrain only when the drifted
    features carried at least this share of the model's attribution (an alert raised
    without a known importance still triggers).

    A release that fails (its run raised, say) is tried again up to ``max_attempts`` in
    all, ``retry_backoff`` after the first failure and twice as long after each next one;
    after the last the trigger is ``failed`` and an alert opens."""

    model: str
    pipeline: str
    dataset: str
    on: tuple[TriggerKind, ...] = ("new_data",)
    schedule: str | None = None
    parameter: str | None = None
    alias: str = "live"
    params: Mapping[str, str] = field(default_factory=dict)
    trust: tuple[str, ...] = ()
    min_weighted_drift: float | None = None
    max_attempts: int = 3
    retry_backoff: timedelta = timedelta(minutes=1)

    def retry_delay(self, attempts: int) -> timedelta | None:
        """How long after its ``attempts``-th failed attempt a release is tried again;
        None when that was the last one."""
        if attempts >= self.max_attempts:
            return None
        factor: int = 2 ** max(attempts - 1, 0)
        return self.retry_backoff * factor

    @classmethod
    def from_toml(cls, model: str, models_table: Mapping[str, Any]) -> RetrainConfig | None:
        """The retraining settings of ``model``; None when it has none."""
        table = _section(models_table, model, "retrain", _RETRAIN_KEYS)
        if not table:
            return None
        where = f"models.{model}.retrain"
        for key in ("pipeline", "dataset"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise ConfigError(f"{where}.{key} is required: the name of the {key} to use")
        on = table.get("on", ["new_data"])
        if not isinstance(on, list):
            raise ConfigError(f"{where}.on must be a list of {', '.join(_ON_KINDS)}")
        for item in on:
            check_choice(item, f"{where}.on", _ON_KINDS, kind="trigger")
        schedule = table.get("schedule")
        if "schedule" in on and not schedule:
            raise ConfigError(f'{where}.on has "schedule" but no schedule is set')
        if schedule is not None and (not isinstance(schedule, str) or len(schedule.split()) != 5):
            raise ConfigError(
                f"{where}.schedule = {schedule!r} is not cron syntax: five fields, like "
                '"0 3 * * 1" (03:00 every Monday)'
            )
        params = table.get("params", {})
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}.params must be a table of name = value")
        for key in ("parameter", "alias"):
            if key in table and not isinstance(table[key], str):
                raise ConfigError(f"{where}.{key} must be a name")
        trust = table.get("trust", [])
        if not isinstance(trust, list) or not all(isinstance(n, str) and n for n in trust):
            raise ConfigError(f'{where}.trust must be a list of type names, like ["pkg.func"]')
        attempts = table.get("max_attempts", 3)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise ConfigError(
                f"{where}.max_attempts must be a whole number, 1 or more (1: never retry)"
            )
        backoff = table.get("retry_backoff", "1m")
        if not isinstance(backoff, str):
            raise ConfigError(f'{where}.retry_backoff must be a duration like "1m"')
        return cls(
            model=model,
            pipeline=table["pipeline"],
            dataset=table["dataset"],
            on=tuple(cast(list[TriggerKind], on)),
            schedule=schedule,
            parameter=table.get("parameter"),
            alias=table.get("alias", "live"),
            params={str(k): str(v) for k, v in params.items()},
            trust=tuple(trust),
            min_weighted_drift=_share(table, "min_weighted_drift", where),
            max_attempts=attempts,
            retry_backoff=parse_window(backoff, where=f"{where}.retry_backoff"),
        )


def _share(table: Mapping[str, Any], key: str, where: str) -> float | None:
    """The importance share ``table[key]`` (0 to 1), None when not set."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ConfigError(
            f"{where}.{key} must be a share of the model's attribution, from 0 to 1, like 0.2"
        )
    return float(value)


def _section(
    models_table: Mapping[str, Any], model: str, name: str, keys: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(models_table, Mapping):
        raise ConfigError(f"'models' in {WORKSPACE_FILE} must be a table, like [models.NAME]")
    model_table = table_at(models_table.get(model, {}), f"models.{model}")
    table = table_at(model_table.get(name, {}), f"models.{model}.{name}")
    check_keys(table, f"models.{model}.{name}", keys)
    return table
