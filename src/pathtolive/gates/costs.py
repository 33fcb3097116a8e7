"""The cost of owning a model: its measured footprint, priced by ``[costs]``.

A :class:`Footprint` is what the service measures of one model: CPU seconds per 1,000
single-row predictions and per 1,000 rows predicted in batches, the memory loading it
takes, the artifact's size and what training it took. :class:`CostSettings` are the
prices and the expected traffic, from ``pathtolive.toml``::

    [costs]
    currency = "GBP"
    cpu_hour = 0.05              # price of one CPU hour
    gb_month = 3.0               # price of one GB of memory (or storage) for a month
    requests_per_month = 2000000 # single-row predictions
    batch_rows_per_month = 10000000
    retrains_per_month = 4
    [models.risk-model.costs]    # any of these, for one model
    requests_per_month = 50000

:func:`monthly_cost` prices a footprint: serving CPU for the expected traffic, the
memory a loaded model holds all month, its artifact's storage, and retraining. Every
function here is pure, so the arithmetic is tested without a model or a store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pathtolive.config import COST_KEYS, WORKSPACE_FILE, check_keys, table_at
from pathtolive.errors import ConfigError
from pathtolive.format import number, signed

__all__ = [
    "COST_KEYS",
    "CostSettings",
    "Footprint",
    "MonthlyCost",
    "cost_per_1k",
    "cost_summary",
    "money",
    "monthly_cost",
    "vendor_monthly_cost",
    "worth_it_line",
]


_PRICES = ("cpu_hour", "gb_month")
_EXAMPLES = {"cpu_hour": "0.05", "gb_month": "3.0"}
_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥", "INR": "₹"}
_BYTES_PER_GB = 1_000_000_000
_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class CostSettings:
    """Prices (None: not given) and expected monthly traffic of one model."""

    currency: str = "USD"
    cpu_hour: float | None = None
    gb_month: float | None = None
    requests_per_month: float = 0.0
    batch_rows_per_month: float = 0.0
    retrains_per_month: float = 0.0

    @property
    def priced(self) -> bool:
        """Whether both prices are given, so money can be estimated."""
        return self.cpu_hour is not None and self.gb_month is not None

    def missing(self, needed: tuple[str, ...] = _PRICES) -> list[str]:
        """The prices of ``needed`` that are not given, as ``[costs]`` keys."""
        return [key for key in needed if getattr(self, key) is None]

    def require_prices(self, model: str, setting: str, needed: tuple[str, ...] = _PRICES) -> None:
        """``ConfigError`` naming the prices of ``needed`` that ``[models.MODEL.gates]
        setting`` needs and lacks."""
        missing = self.missing(needed)
        if missing:
            raise ConfigError(
                f"models.{model}.gates.{setting} is money, so it needs the prices "
                f"{' and '.join(missing)} in [costs] of {WORKSPACE_FILE}, such as "
                + " and ".join(f"{key} = {_EXAMPLES[key]}" for key in missing)
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)

    @classmethod
    def from_toml(cls, document: Mapping[str, Any], model: str | None = None) -> CostSettings:
        """``[costs]``, overridden by ``[models.MODEL.costs]``; ``ConfigError`` for an
        unknown key or a value that is not a number of at least 0."""
        merged: dict[str, Any] = {}
        glob = table_at(document.get("costs", {}), "costs")
        check_keys(glob, "costs", COST_KEYS)
        merged.update({key: (value, "costs") for key, value in glob.items()})
        if model is not None:
            models = table_at(document.get("models", {}), "models")
            own = table_at(
                table_at(models.get(model, {}), f"models.{model}").get("costs", {}),
                f"models.{model}.costs",
            )
            where = f"models.{model}.costs"
            check_keys(own, where, COST_KEYS[1:])
            merged.update({key: (value, where) for key, value in own.items()})
        values: dict[str, Any] = {}
        for key, (value, where) in merged.items():
            if key == "currency":
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(
                        f'{where}.currency in {WORKSPACE_FILE} must be a currency code, like "GBP"'
                    )
                values[key] = value.strip()
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigError(
                    f"{where}.{key} in {WORKSPACE_FILE} must be a number of at least 0, "
                    f"not {value!r}"
                )
            values[key] = float(value)
        return cls(**values)


@dataclass(frozen=True)
class Footprint:
    """What owning one model takes, as measured. None: not measured (a notebook run
    records no CPU time, a registered-model baseline has no report to read it from)."""

    cpu_seconds_per_1k_single: float | None = None
    """CPU seconds to answer 1,000 one-row requests."""
    cpu_seconds_per_1k_batch_rows: float | None = None
    """CPU seconds to predict 1,000 rows in one batch call."""
    memory_bytes: int | None = None
    """The resident memory the loaded model holds (priced by ``gb_month``)."""
    import_bytes: int | None = None
    """What importing its flavor's libraries first took, beyond a server's own (not
    priced: every model of that flavor in a server shares it)."""
    artifact_bytes: int | None = None
    training_wall_seconds: float | None = None
    training_cpu_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Footprint:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class MonthlyCost:
    """A month of owning a model, in the settings' currency, by part."""

    serving_cpu: float
    memory: float
    storage: float
    retraining: float
    currency: str

    @property
    def total(self) -> float:
        """Everything."""
        return self.serving_cpu + self.memory + self.storage + self.retraining

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, with the total."""
        return {**asdict(self), "total": self.total}


def cost_per_1k(footprint: Footprint, settings: CostSettings) -> float | None:
    """The price of the CPU 1,000 one-row predictions take; None when that CPU time or
    ``cpu_hour`` is not known."""
    if footprint.cpu_seconds_per_1k_single is None or settings.cpu_hour is None:
        return None
    return footprint.cpu_seconds_per_1k_single / _SECONDS_PER_HOUR * settings.cpu_hour


def monthly_cost(footprint: Footprint, settings: CostSettings) -> MonthlyCost | None:
    """Serving CPU for the expected traffic, the loaded model's memory and its artifact's
    storage for a month, and the CPU of the month's retrains. None without both prices;
    a part whose figure was not measured counts as nothing."""
    if settings.cpu_hour is None or settings.gb_month is None:
        return None
    single = footprint.cpu_seconds_per_1k_single or 0.0
    batch = footprint.cpu_seconds_per_1k_batch_rows or 0.0
    serving_seconds = (
        settings.requests_per_month / 1000 * single + settings.batch_rows_per_month / 1000 * batch
    )
    training = footprint.training_cpu_seconds or 0.0
    return MonthlyCost(
        serving_cpu=serving_seconds / _SECONDS_PER_HOUR * settings.cpu_hour,
        memory=(footprint.memory_bytes or 0) / _BYTES_PER_GB * settings.gb_month,
        storage=(footprint.artifact_bytes or 0) / _BYTES_PER_GB * settings.gb_month,
        retraining=training / _SECONDS_PER_HOUR * settings.retrains_per_month * settings.cpu_hour,
        currency=settings.currency,
    )


def vendor_monthly_cost(price_per_1k: float, settings: CostSettings) -> float:
    """What a service priced per 1,000 predictions charges for the month's traffic (one
    request or one batch row is one prediction)."""
    return price_per_1k * (settings.requests_per_month + settings.batch_rows_per_month) / 1000


def money(amount: float, currency: str) -> str:
    """``£3.20``, ``$0.0041``, ``CHF 12.00``: two decimals, or two significant digits
    for amounts under a cent."""
    size = abs(amount)
    text = f"{size:,.2f}" if size >= 0.01 or size == 0 else f"{size:.2g}"
    symbol = _SYMBOLS.get(currency.upper())
    shown = f"{symbol}{text}" if symbol else f"{currency} {text}"
    return f"-{shown}" if amount < 0 else shown


def worth_it_line(
    *,
    metric: str,
    difference: float,
    candidate_metric: float,
    other_metric: float,
    against: str,
    candidate_cost: float | None,
    other_cost: float | None,
    currency: str,
    why_unknown: str = "",
) -> str:
    """One line answering "is it worth it?": the metric's lead over ``against`` and
    what the candidate costs a month more or less, with both sides' figures. A cost
    that is not known is said to be unknown (``why_unknown`` says why)."""
    lead = (
        f"{signed(difference)} {metric} over {against} "
        f"({number(candidate_metric)} vs {number(other_metric)})"
    )
    if candidate_cost is None or other_cost is None:
        side = "the candidate's" if candidate_cost is None else f"{against}'s"
        reason = f": {why_unknown}" if why_unknown else ""
        return f"{lead}; {side} monthly cost is unknown{reason}"
    extra = candidate_cost - other_cost
    both = f"({money(candidate_cost, currency)} vs {money(other_cost, currency)} a month)"
    if extra > 0:
        return f"{lead} for {money(extra, currency)} a month more {both}"
    if extra < 0:
        return f"{lead} for {money(-extra, currency)} a month less {both}"
    return f"{lead} at the same monthly cost {both}"


def cost_summary(costs: Mapping[str, Any]) -> str:
    """One line of a report's cost figures (what :func:`monthly_cost` priced); an empty
    text when there are none."""
    footprint = costs.get("footprint") or {}
    if not footprint:
        return ""
    parts: list[str] = []
    single = footprint.get("cpu_seconds_per_1k_single")
    batch = footprint.get("cpu_seconds_per_1k_batch_rows")
    if single is not None:
        parts.append(f"{number(single)} CPU s per 1,000 one-row predictions")
    if batch is not None:
        parts.append(f"{number(batch)} CPU s per 1,000 rows in batches")
    memory = footprint.get("memory_bytes")
    if memory is not None:
        imported = footprint.get("import_bytes")
        libraries = (
            f" (+{number(imported / 1_000_000)} MB of libraries first imported)" if imported else ""
        )
        parts.append(f"{number(memory / 1_000_000)} MB of memory loaded{libraries}")
    size = footprint.get("artifact_bytes")
    if size is not None:
        parts.append(f"{number(size / 1_000_000)} MB artifact")
    wall, cpu = footprint.get("training_wall_seconds"), footprint.get("training_cpu_seconds")
    if wall is not None or cpu is not None:
        parts.append(f"training {number(wall)} s wall, {number(cpu)} s CPU")
    else:
        parts.append("training time not recorded by its run")
    monthly = costs.get("monthly")
    currency = str((costs.get("settings") or {}).get("currency", ""))
    if monthly:
        parts.append(
            f"about {money(float(monthly['total']), currency)} a month "
            f"(serving CPU {money(float(monthly['serving_cpu']), currency)}, memory "
            f"{money(float(monthly['memory']), currency)}, storage "
            f"{money(float(monthly['storage']), currency)}, retraining "
            f"{money(float(monthly['retraining']), currency)})"
        )
    else:
        parts.append("no monthly estimate: [costs] sets no cpu_hour and gb_month")
    return "costs: " + "; ".join(parts)
