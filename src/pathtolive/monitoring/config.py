"""``[models.NAME.monitoring]`` and ``[models.NAME.retrain]``: what to watch and how to
answer.

::

    [models.risk-model.monitoring]
    drift_threshold = { psi = 0.2, ks_pvalue = 0.01 }
    min_rows = 500
    decay_drop = 0.05
    window = "24h"                  # default window of `pathtolive monitor`
    alert_webhook = "http://127.0.0.1:9000/hook"
    alert_backoff = "30s"           # first wait before an undelivered alert is retried

    [models.risk-model.retrain]
    pipeline = "risk"
    dataset = "loans"
    on = ["new_data", "drift", "decay", "schedule"]
    schedule = "0 3 * * 1"
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
    "alert_backoff",
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
    alert_backoff: timedelta = timedelta(seconds=30)
    """The wait before an undelivered alert's second attempt; it doubles with each attempt
    after that (at most an hour)."""
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
        backoff = table.get("alert_backoff", "30s")
        if not isinstance(backoff, str):
            raise ConfigError(f'{where}.alert_backoff must be a duration like "30s"')
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
            alert_backoff=parse_window(backoff, where=f"{where}.alert_backoff"),
            metric=metric,
        )


@dataclass(frozen=True)
class RetrainConfig:
    """What the controller does for a model: run ``pipeline`` on the latest version of
    ``dataset`` (passed as the pipeline's ``parameter``; by default to its one data parameter),
    register the result under the model's name and promote it to ``alias`` through the
    gates and the alias's policy, when one of the ``on`` triggers fires. ``schedule`` is
    cron syntax (minute hour day-of-month month day-of-week). ``trust`` names the types the
    retrained model may refer to beyond the safe defaults (as ``run --trust``)."""

    model: str
    pipeline: str
    dataset: str
    on: tuple[TriggerKind, ...] = ("new_data",)
    schedule: str | None = None
    parameter: str | None = None
    alias: str = "live"
    params: Mapping[str, str] = field(default_factory=dict)
    trust: tuple[str, ...] = ()

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
