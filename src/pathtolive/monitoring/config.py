"""``[models.NAME.monitoring]`` and ``[models.NAME.retrain]``: what to watch and how to
answer.

::

    [models.risk-model.monitoring]
    drift_threshold = { psi = 0.2, ks_pvalue = 0.01 }
    min_rows = 500
    decay_drop = 0.05
    window = "24h"                  # default window of `pathtolive monitor`
    alert_webhook = "http://127.0.0.1:9000/hook"

    [models.risk-model.retrain]
    pipeline = "risk"
    dataset = "loans"
    on = ["new_data", "drift", "decay", "schedule"]
    schedule = "0 3 * * 1"
    max_attempts = 3                # a failed release is tried again, up to 3 attempts in all
    retry_backoff = "1m"            # after 1m, then 2m, 4m, ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, cast, get_args

from pathtolive.config import WORKSPACE_FILE, check_keys, table_at
from pathtolive.errors import ConfigError

__all__ = [
    "TRIGGER_KINDS",
    "MonitoringConfig",
    "RetrainConfig",
    "TriggerKind",
    "parse_window",
]

TriggerKind = Literal["new_data", "drift", "decay", "schedule", "manual"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = get_args(TriggerKind)
_ON_KINDS = ("new_data", "drift", "decay", "schedule")

_MONITORING_KEYS = (
    "drift_threshold",
    "min_rows",
    "decay_drop",
    "window",
    "alert_webhook",
    "metric",
)
_RETRAIN_KEYS = (
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
    engine as it is (``psi``, ``ks_pvalue``, …); ``decay_drop`` is how far the metric on
    labelled feedback may fall below its gate-time figure."""

    model: str
    drift_threshold: Mapping[str, float | str] = field(default_factory=dict)
    min_rows: int = 500
    decay_drop: float = 0.05
    window: timedelta = timedelta(hours=24)
    alert_webhook: str | None = None
    metric: str | None = None
    """The metric decay is judged on (default: the model's gate metric)."""

    @classmethod
    def from_toml(cls, model: str, models_table: Mapping[str, Any]) -> MonitoringConfig:
        table = _section(models_table, model, "monitoring", _MONITORING_KEYS)
        where = f"models.{model}.monitoring"
        thresholds = table.get("drift_threshold", {})
        if not isinstance(thresholds, Mapping) or not all(
            (isinstance(v, int | float) and not isinstance(v, bool))
            or (k == "correction" and isinstance(v, str))
            for k, v in thresholds.items()
        ):
            raise ConfigError(
                f"{where}.drift_threshold must be a table of method = number, like "
                '{ psi = 0.2, ks_pvalue = 0.01 } (and correction = "bonferroni" or "none")'
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
        metric = table.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise ConfigError(f"{where}.metric must be a metric name")
        return cls(
            model=model,
            drift_threshold={
                str(k): v if isinstance(v, str) else float(v) for k, v in thresholds.items()
            },
            min_rows=min_rows,
            decay_drop=float(drop),
            window=parse_window(window, where=f"{where}.window"),
            alert_webhook=hook,
            metric=metric,
        )


@dataclass(frozen=True)
class RetrainConfig:
    """What the controller does for a model: run ``pipeline`` on the latest version of
    ``dataset`` (passed as the pipeline's ``parameter``; by default to its one data parameter),
    register the result under the model's name and promote it to ``alias`` through the
    gates and the alias's policy, when one of the ``on`` triggers fires. ``schedule`` is
    cron syntax (minute hour day-of-month month day-of-week). ``trust`` names the types the
    retrained model may refer to beyond the safe defaults (as ``run --trust``).

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
        if not isinstance(on, list) or not all(item in _ON_KINDS for item in on):
            raise ConfigError(f"{where}.on must be a list of {', '.join(_ON_KINDS)}")
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
            max_attempts=attempts,
            retry_backoff=parse_window(backoff, where=f"{where}.retry_backoff"),
        )


def _section(
    models_table: Mapping[str, Any], model: str, name: str, keys: tuple[str, ...]
) -> Mapping[str, Any]:
    if not isinstance(models_table, Mapping):
        raise ConfigError(f"'models' in {WORKSPACE_FILE} must be a table, like [models.NAME]")
    model_table = table_at(models_table.get(model, {}), f"models.{model}")
    table = table_at(model_table.get(name, {}), f"models.{model}.{name}")
    check_keys(table, f"models.{model}.{name}", keys)
    return table
