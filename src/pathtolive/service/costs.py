"""The cost figures of a gate check: the candidate's footprint, the baseline's and the
live version's, priced by ``[costs]``, and the "is it worth it?" lines.

The candidate's serving figures come from the clean-process probe that also times its
latency; its training figures from the run's outputs (see
:class:`~pathtolive.service.runs.ResourceClock`). A built-in baseline is fitted here, in
process, so its figures are measured here too (fit and predict CPU, and its size stored
with skops standing for its memory and artifact: it is a handful of coefficients). A registered
model used as a baseline, and the live version, bring the figures of their own latest
gate report. An external baseline costs what ``[baselines.NAME] price_per_1k`` says, or
is unknown.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pathtolive.entities import ModelVersion, Run
from pathtolive.format import first_line
from pathtolive.gates import (
    CostSettings,
    Footprint,
    GateContext,
    cost_per_1k,
    monthly_cost,
    vendor_monthly_cost,
    worth_it_line,
)
from pathtolive.gates.base import Role
from pathtolive.gates.external import ExternalBaseline
from pathtolive.service.runs import RESOURCES_OUTPUT, ResourceClock

__all__ = [
    "SideCost",
    "candidate_footprint",
    "cost_figures",
    "external_cost",
    "measure_in_process",
    "reported_footprint",
    "side_cost",
    "stored_size",
    "worth_it_lines",
]

_SINGLE_CALLS = 100
_LEAST_SINGLE_CALLS = 20
_BUDGET_SECONDS = 0.2
_BATCH_CALLS = 2
_BATCH_ROWS = 1000


@dataclass(frozen=True)
class SideCost:
    """What is known of the cost of the model a candidate is compared with: its
    footprint, its monthly cost when priced, and how the figures were had (or why not)."""

    label: str
    footprint: Footprint | None = None
    monthly: float | None = None
    how: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "label": self.label,
            "footprint": None if self.footprint is None else self.footprint.to_dict(),
            "monthly": self.monthly,
            "how": self.how,
        }


def candidate_footprint(
    version: ModelVersion, run: Run, probe: Mapping[str, Any] | None
) -> Footprint:
    """The candidate's footprint from the probe's figures and its run's outputs."""
    resources = (run.outputs or {}).get(RESOURCES_OUTPUT) or {}
    single = (probe or {}).get("single_row") or {}
    batch = (probe or {}).get("batch_1000") or {}
    return Footprint(
        cpu_seconds_per_1k_single=_per_1k(single.get("cpu_seconds_per_call"), 1000),
        cpu_seconds_per_1k_batch_rows=_per_1k(batch.get("cpu_seconds_per_call"), 1),
        memory_bytes=(probe or {}).get("memory_bytes"),
        import_bytes=(probe or {}).get("import_bytes"),
        artifact_bytes=version.artifact_bytes,
        training_wall_seconds=resources.get("wall_seconds"),
        training_cpu_seconds=resources.get("cpu_seconds"),
    )


def _per_1k(seconds: Any, calls_per_1k: int) -> float | None:
    return None if seconds is None else float(seconds) * calls_per_1k


def measure_in_process(
    fit: Callable[[], Any], predict: Callable[[Any, pd.DataFrame], Any], rows: pd.DataFrame
) -> tuple[Any, Footprint]:
    """Fit a small model and measure it here (``predict(fitted, rows)`` predicts): the
    fitted model and its footprint. Good
    enough for a baseline of a few coefficients; a candidate is measured in a clean
    process instead."""
    clock = ResourceClock()
    fitted = fit()
    trained = clock.elapsed()
    singles = [rows.iloc[[i % len(rows)]] for i in range(_SINGLE_CALLS)]
    predict(fitted, singles[0])
    started = time.process_time()
    calls = 0
    for row in singles:
        predict(fitted, row)
        calls += 1
        # Enough to average over, without slowing every gate check by a slow baseline.
        if calls >= _LEAST_SINGLE_CALLS and time.process_time() - started >= _BUDGET_SECONDS:
            break
    single = (time.process_time() - started) / calls
    batch = rows.sample(n=_BATCH_ROWS, replace=len(rows) < _BATCH_ROWS, random_state=0)
    started = time.process_time()
    for _ in range(_BATCH_CALLS):
        predict(fitted, batch)
    per_batch = (time.process_time() - started) / _BATCH_CALLS
    size = stored_size(getattr(fitted, "model", fitted))
    return fitted, Footprint(
        cpu_seconds_per_1k_single=single * 1000,
        cpu_seconds_per_1k_batch_rows=per_batch,
        memory_bytes=size,
        artifact_bytes=size,
        training_wall_seconds=trained["wall_seconds"],
        training_cpu_seconds=trained["cpu_seconds"],
    )


def stored_size(model: Any) -> int | None:
    """The bytes ``model`` takes stored as the scikit-learn flavor stores it (skops),
    standing for its memory too; None when it cannot be stored so."""
    try:
        skops_io: Any = importlib.import_module("skops.io")
        return len(skops_io.dumps(model))
    except Exception:  # any failure only leaves the figure unknown
        return None


def reported_footprint(report: Mapping[str, Any] | None) -> Footprint | None:
    """The candidate footprint a stored gate report recorded; None for a report from
    before costs were measured, or none."""
    found = ((report or {}).get("costs") or {}).get("footprint")
    return Footprint.from_dict(found) if isinstance(found, Mapping) else None


def side_cost(
    label: str, footprint: Footprint | None, settings: CostSettings, how: str
) -> SideCost:
    """A compared model's cost from its footprint, priced by ``settings``."""
    priced = None if footprint is None else monthly_cost(footprint, settings)
    return SideCost(label, footprint, None if priced is None else priced.total, how)


def external_cost(external: ExternalBaseline, settings: CostSettings) -> SideCost:
    """What the external baseline charges for the month's traffic, when its price is
    known."""
    label = f"the external baseline {external.name!r}"
    if external.price_per_1k is None:
        return SideCost(
            label, how=f"its price is not known: set [baselines.{external.name}] price_per_1k"
        )
    monthly = vendor_monthly_cost(external.price_per_1k, settings)
    return SideCost(
        label,
        monthly=monthly,
        how=f"priced at {external.price_per_1k:g} per 1,000 predictions",
    )


def cost_figures(
    footprint: Footprint,
    settings: CostSettings,
    baseline: SideCost | None,
    live: SideCost | None,
) -> dict[str, Any]:
    """What the report keeps of costs (and the cost gates judge)."""
    priced = monthly_cost(footprint, settings)
    return {
        "settings": settings.to_dict(),
        "footprint": footprint.to_dict(),
        "cost_per_1k": cost_per_1k(footprint, settings),
        "monthly": None if priced is None else priced.to_dict(),
        "baseline": None if baseline is None else baseline.to_dict(),
        "live": None if live is None else live.to_dict(),
    }


def worth_it_lines(
    context: GateContext, costs: Mapping[str, Any], settings: CostSettings
) -> tuple[str, ...]:
    """ "Is it worth it?" against the baseline and the live version, whichever the
    context holds: the metric's lead and the monthly cost more or less."""
    monthly = costs.get("monthly")
    own = None if not monthly else float(monthly["total"])
    lines: list[str] = []
    sides: list[tuple[Role, Mapping[str, Any] | None]] = [
        ("baseline", costs.get("baseline")),
        ("champion", costs.get("live")),
    ]
    for role, side in sides:
        present = context.baseline if role == "baseline" else context.champion
        if side is None or present is None:
            continue
        try:
            comparison = context.compare(role)
        except Exception as exc:  # the gate judging this pair has reported it already
            lines.append(f"not compared with {side['label']}: {first_line(exc)}")
            continue
        why = ""
        if own is None:
            why = "set " + " and ".join(settings.missing()) + " in [costs]"
        elif side.get("monthly") is None:
            why = str(side.get("how") or "")
        lines.append(
            worth_it_line(
                metric=comparison.metric,
                difference=comparison.difference,
                candidate_metric=comparison.a,
                other_metric=comparison.b,
                against=str(side["label"]),
                candidate_cost=own,
                other_cost=side.get("monthly"),
                currency=settings.currency,
                why_unknown=why,
            )
        )
    return tuple(lines)
