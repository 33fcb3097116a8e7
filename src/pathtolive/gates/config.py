"""The release settings of one model: ``[models.NAME]``, its ``.gates`` and ``.promotion``.

::

    [models.risk-model]
    target = "at_risk"
    metric = "roc_auc"            # the primary metric, judged by the gates
    metrics = ["f1", "brier"]     # others worth reporting
    [models.risk-model.gates]
    min_metric = 0.75             # the worst acceptable value of the metric
    beat_live_by = 0.0            # lower bound of (candidate - live) must reach this
    baseline = "logistic"         # majority, mean, logistic, linear, a registered model
                                  # or external:NAME (see pathtolive.gates.external)
    beat_baseline_by = 0.02
    slices = ["region"]           # no category may lose more than max_slice_drop vs live
    max_slice_drop = 0.03
    min_slice_rows = 30           # smaller slices are listed, not judged
    p95_latency_ms = 20
    max_size_mb = 200
    max_cost_per_1k = 0.002       # money ([costs] currency): CPU of 1,000 one-row calls
    max_monthly_cost = 40         # money: serving, memory, storage and retraining a month
    resamples = 1000              # bootstrap: resamples, confidence and seed
    holdout = "loans@latest"      # judge a model without its own test split (an
                                  # imported or notebook model) on this dataset version
    [models.risk-model.promotion]
    live = "four-eyes"            # auto, approval or four-eyes, per alias
    staging = "auto"
    canary_max_share = 0.2        # a larger canary needs live's approval (default 0.2)
    [models.risk-model.costs]     # this model's traffic and prices over [costs]
    requests_per_month = 50000    # (read by pathtolive.gates.costs)

``holdout`` is where the gates are not judged, but on what: it names a dataset version
for a model whose run recorded no test split of its own. A pipeline-trained model keeps
its own test split unless ``gates check --holdout`` names one for that check.

Types and names are checked here; whether a baseline or a metric fits the model's task
is checked when the gates run, once the task is known. Keys of gates registered in
Python (see :mod:`pathtolive.gates.base`) are accepted into :attr:`GateConfig.custom`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from pathtolive.config import WORKSPACE_FILE, check_choice, check_keys, table_at
from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.gates.metrics import METRICS
from pathtolive.hashing import hash_bytes
from pathtolive.refs import parse_ref

__all__ = [
    "BUILTIN_GATE_KEYS",
    "DEFAULT_CANARY_MAX_SHARE",
    "DEFAULT_POLICY",
    "HOLDOUT_KEY",
    "JUDGING_KEYS",
    "MODEL_KEYS",
    "POLICIES",
    "GateConfig",
    "PolicyName",
    "PromotionConfig",
    "judging_digest",
    "judging_settings",
]

PolicyName = Literal["auto", "approval", "four-eyes"]
POLICIES: tuple[PolicyName, ...] = get_args(PolicyName)
DEFAULT_POLICY: PolicyName = "approval"
"""The policy of an alias the configuration does not name: a person signs, so that no
alias moves on its own unless the workspace says so."""

DEFAULT_CANARY_MAX_SHARE = 0.2
"""The largest share of traffic a canary may answer on its gates alone: above it the
canary is in effect going live, so it needs what the ``live`` alias's policy asks."""

CANARY_MAX_SHARE_KEY = "canary_max_share"

BUILTIN_GATE_KEYS: tuple[str, ...] = (
    "min_metric",
    "beat_live_by",
    "baseline",
    "beat_baseline_by",
    "slices",
    "max_slice_drop",
    "min_slice_rows",
    "p95_latency_ms",
    "max_size_mb",
    "max_cost_per_1k",
    "max_monthly_cost",
    "resamples",
    "confidence",
    "seed",
)

HOLDOUT_KEY = "holdout"
"""The ``[models.NAME.gates]`` key naming a holdout: not a gate, the rows gates judge on."""

MODEL_KEYS: tuple[str, ...] = (
    "target",
    "metric",
    "metrics",
    "gates",
    "promotion",
    "card",
    "monitoring",
    "retrain",
    "costs",
)
"""The keys of a ``[models.NAME]`` table; anything else is a typo to report."""

JUDGING_KEYS: tuple[str, ...] = ("target", "metric", "gates", "promotion")
"""The keys of ``[models.NAME]`` that decide whether a version may go live: what it
predicts, the metric judged, the gate thresholds and the promotion policy. A change to
any of them is what the controller's ``config`` trigger answers."""


def judging_settings(model: str, models_table: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`JUDGING_KEYS` of ``model`` as the workspace file writes them (those it
    leaves out are left out)."""
    raw = models_table.get(model, {}) if isinstance(models_table, Mapping) else {}
    table = raw if isinstance(raw, Mapping) else {}
    return {key: table[key] for key in JUDGING_KEYS if key in table}


def judging_digest(model: str, models_table: Mapping[str, Any]) -> str:
    """A digest of :func:`judging_settings`: the same for the same settings however the
    file lays them out (order, comments, spacing), and not moved by a default that a new
    release of pathtolive changes."""
    canonical = json.dumps(
        judging_settings(model, models_table), sort_keys=True, separators=(",", ":"), default=str
    )
    return hash_bytes(canonical.encode())


@dataclass(frozen=True)
class PromotionConfig:
    """Who must agree before an alias of the model moves: per alias, ``auto`` (the
    gates suffice), ``approval`` (an approver signs) or ``four-eyes`` (an approver who is
    not the author signs)."""

    policies: Mapping[str, PolicyName] = field(default_factory=dict)
    canary_max_share: float = DEFAULT_CANARY_MAX_SHARE

    def policy_for(self, alias: str) -> PolicyName:
        """The policy of ``alias``; :data:`DEFAULT_POLICY` when none is configured."""
        return self.policies.get(alias, DEFAULT_POLICY)

    def governs(self, alias: str) -> bool:
        """Whether ``alias`` moves only by promotion: ``live`` (whose policy defaults to
        :data:`DEFAULT_POLICY`) and every alias the table names."""
        return alias == "live" or alias in self.policies

    @classmethod
    def from_toml(cls, model: str, table: object) -> PromotionConfig:
        """Parse ``[models.MODEL.promotion]`` (``alias = "policy"``, and
        ``canary_max_share``)."""
        where = f"models.{model}.promotion"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a table of alias = policy")
        policies: dict[str, PolicyName] = {}
        ceiling = DEFAULT_CANARY_MAX_SHARE
        for alias, policy in table.items():
            if alias == CANARY_MAX_SHARE_KEY:
                if (
                    isinstance(policy, bool)
                    or not isinstance(policy, int | float)
                    or not 0 <= policy <= 1
                ):
                    raise ConfigError(
                        f"{where}.{alias} = {policy!r} must be a share between 0 and 1, such as 0.2"
                    )
                ceiling = float(policy)
                continue
            policies[str(alias)] = cast(
                PolicyName, check_choice(policy, f"{where}.{alias}", POLICIES, kind="policy")
            )
        return cls(policies, ceiling)


@dataclass(frozen=True)
class GateConfig:
    """The release settings of one model; a gate applies when its key is set.

    ``metric`` None means the task's default metric. ``min_metric`` is the worst
    acceptable value: a floor for a higher-is-better metric, a ceiling for a
    lower-is-better one (rmse, log_loss). Margins may be negative, which asks for "not
    worse than live by more than this". Sizes are in megabytes of 10^6 bytes; costs in
    the currency of ``[costs]`` (see :mod:`pathtolive.gates.costs`).
    """

    model: str
    target: str | None = None
    metric: str | None = None
    metrics: tuple[str, ...] = ()
    min_metric: float | None = None
    beat_live_by: float | None = None
    baseline: str | None = None
    beat_baseline_by: float | None = None
    slices: tuple[str, ...] = ()
    max_slice_drop: float | None = None
    min_slice_rows: int = 30
    p95_latency_ms: float | None = None
    max_size_mb: float | None = None
    max_cost_per_1k: float | None = None
    max_monthly_cost: float | None = None
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    holdout: str | None = None
    """The dataset version (``loans@3``, ``loans@latest``) that judges a model whose run
    has no test split of its own."""
    custom: Mapping[str, Any] = field(default_factory=dict)
    """Settings of gates registered in Python, by key."""
    promotion: PromotionConfig = field(default_factory=PromotionConfig)

    def is_set(self, key: str) -> bool:
        """True when ``key`` has a value: a built-in setting that is not left out (an
        empty ``slices`` counts as left out) or a key in :attr:`custom`."""
        if key in BUILTIN_GATE_KEYS:
            return getattr(self, key) not in (None, ())
        return key in self.custom

    def refuse_pii_slices(self, pii_columns: Collection[str]) -> None:
        """``ConfigError`` when a slice column is tagged ``pii``: the slice gate names each
        slice by its value, in ``gates check``, the stored report and the model card, so
        slicing by a PII column would publish its raw values."""
        private = [column for column in self.slices if column in set(pii_columns)]
        if private:
            listed = ", ".join(repr(column) for column in private)
            raise ConfigError(
                f"models.{self.model}.gates.slices names {listed}, tagged pii: slices are "
                "reported by value, which would print that data; remove it from slices, or "
                "slice by a coarser column that is not pii"
            )

    def option(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, built-in or custom; ``default`` when it is not set."""
        if key in BUILTIN_GATE_KEYS:
            value = getattr(self, key)
            return default if value in (None, ()) else value
        return self.custom.get(key, default)

    @classmethod
    def from_toml(
        cls,
        model: str,
        models_table: Mapping[str, Any],
        *,
        custom_keys: Collection[str] | None = None,
    ) -> GateConfig:
        """The settings of ``model`` from the ``[models]`` table of the workspace file; the
        defaults when it has none. ``custom_keys`` are the keys that gates registered in
        Python read; None means those of the default gate catalog."""
        if not isinstance(models_table, Mapping):
            raise ConfigError(
                f"'models' in {WORKSPACE_FILE} must be a table, like [models.{model}]"
            )
        where = f"models.{model}"
        raw = table_at(models_table.get(model, {}), where)
        check_keys(raw, where, MODEL_KEYS, kind="model setting")
        if custom_keys is None:
            # Imported here: the catalog imports the built-in gates, which import this.
            from pathtolive.gates.catalog import DEFAULT_CATALOG

            custom_keys = DEFAULT_CATALOG.custom_keys()
        gates_where = f"{where}.gates"
        gates = table_at(raw.get("gates", {}), gates_where)
        builtin = (*BUILTIN_GATE_KEYS, HOLDOUT_KEY)
        valid = (*builtin, *sorted(set(custom_keys) - set(builtin)))
        check_keys(gates, gates_where, valid, kind="gate setting")
        config = cls(
            model=model,
            target=_optional_string(raw.get("target"), f"{where}.target"),
            metric=_metric_name(raw.get("metric"), f"{where}.metric"),
            metrics=_metric_names(raw.get("metrics", []), f"{where}.metrics"),
            min_metric=_number(gates.get("min_metric"), f"{gates_where}.min_metric"),
            beat_live_by=_number(gates.get("beat_live_by"), f"{gates_where}.beat_live_by"),
            baseline=_optional_string(gates.get("baseline"), f"{gates_where}.baseline"),
            beat_baseline_by=_number(
                gates.get("beat_baseline_by"), f"{gates_where}.beat_baseline_by"
            ),
            slices=_columns(gates.get("slices", []), f"{gates_where}.slices"),
            max_slice_drop=_number(
                gates.get("max_slice_drop"), f"{gates_where}.max_slice_drop", minimum=0.0
            ),
            min_slice_rows=_whole(
                gates.get("min_slice_rows", 30), f"{gates_where}.min_slice_rows", minimum=1
            ),
            p95_latency_ms=_number(
                gates.get("p95_latency_ms"), f"{gates_where}.p95_latency_ms", positive=True
            ),
            max_size_mb=_number(
                gates.get("max_size_mb"), f"{gates_where}.max_size_mb", positive=True
            ),
            max_cost_per_1k=_number(
                gates.get("max_cost_per_1k"), f"{gates_where}.max_cost_per_1k", positive=True
            ),
            max_monthly_cost=_number(
                gates.get("max_monthly_cost"), f"{gates_where}.max_monthly_cost", positive=True
            ),
            resamples=_whole(gates.get("resamples", 1000), f"{gates_where}.resamples", minimum=100),
            confidence=_confidence(gates.get("confidence", 0.95), f"{gates_where}.confidence"),
            seed=_whole(gates.get("seed", 0), f"{gates_where}.seed", minimum=0),
            holdout=_dataset_ref(gates.get(HOLDOUT_KEY), f"{gates_where}.{HOLDOUT_KEY}"),
            custom={key: value for key, value in gates.items() if key not in builtin},
            promotion=PromotionConfig.from_toml(model, raw.get("promotion", {})),
        )
        _check_pairs(config, gates_where)
        return config


def _check_pairs(config: GateConfig, where: str) -> None:
    """Settings that mean nothing without their partner are mistakes, not defaults."""
    if config.beat_baseline_by is not None and config.baseline is None:
        raise ConfigError(f"{where}.beat_baseline_by needs a baseline: set {where}.baseline")
    if config.slices and config.max_slice_drop is None:
        raise ConfigError(f"{where}.slices needs {where}.max_slice_drop, the largest drop allowed")
    if config.max_slice_drop is not None and not config.slices:
        raise ConfigError(f"{where}.max_slice_drop needs {where}.slices, the columns to slice by")


def _optional_string(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a non-empty string, not {value!r}")
    return value


def _dataset_ref(value: object, where: str) -> str | None:
    text = _optional_string(value, where)
    if text is None:
        return None
    try:
        parse_ref(text)
    except InvalidInputError as exc:
        raise ConfigError(
            f"{where} in {WORKSPACE_FILE} must name a dataset version, like "
            f'"loans@3" or "loans@latest": {exc.message}'
        ) from exc
    return text


def _metric_name(value: object, where: str) -> str | None:
    name = _optional_string(value, where)
    if name is not None:
        check_choice(name, where, tuple(METRICS), kind="metric")
    return name


def _metric_names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a list of metric names")
    return tuple(cast(str, _metric_name(item, where)) for item in value)


def _columns(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a list of column names")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where} in {WORKSPACE_FILE} names a column twice")
    return tuple(value)


def _number(
    value: object, where: str, *, minimum: float | None = None, positive: bool = False
) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a number, not {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be above 0, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(
            f"{where} in {WORKSPACE_FILE} must be at least {minimum:g}, not {value!r}"
        )
    return float(value)


def _whole(value: object, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{where} in {WORKSPACE_FILE} must be a whole number of at least {minimum}"
        )
    return value


def _confidence(value: object, where: str) -> float:
    number = _number(value, where)
    if number is None or not 0.0 < number < 1.0:
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be between 0 and 1, like 0.95")
    return number
