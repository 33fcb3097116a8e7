"""The built-in gates (the slice gate lives in :mod:`pathtolive.gates.slices`).

Always applied: ``data_contract``, ``loads_and_answers`` and ``explainability``. Applied
when their setting is present: ``min_metric``, ``beat_live`` (``beat_live_by``),
``beat_baseline`` (``baseline``), ``latency`` (``p95_latency_ms``), ``size``
(``max_size_mb``), ``cost_per_1k`` (``max_cost_per_1k``) and ``monthly_cost``
(``max_monthly_cost``).

"Better than" is judged on the lower bound of a paired-bootstrap interval of the
difference, so a candidate that is better only by luck of the holdout does not pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pathtolive.format import number, signed
from pathtolive.gates.base import (
    BASELINE_FIT_EXTRA,
    COSTS_EXTRA,
    EXTERNAL_BASELINE_EXTRA,
    Gate,
    GateContext,
    GateResult,
    Role,
)
from pathtolive.gates.bootstrap import Comparison
from pathtolive.gates.costs import money

__all__ = [
    "ACCEPTED_DATA_STATUSES",
    "BeatBaselineGate",
    "BeatLiveGate",
    "CostPer1kGate",
    "DataContractGate",
    "ExplainabilityGate",
    "LatencyGate",
    "LoadsAndAnswersGate",
    "MinMetricGate",
    "MonthlyCostGate",
    "SizeGate",
]

ACCEPTED_DATA_STATUSES: tuple[str, ...] = ("inferred", "passed", "accepted")
"""Validation statuses of a training data version that meet its contract: the first
version (its contract inferred from it), a version that passed, and one whose changes
were accepted into a new contract version."""

_BYTES_PER_MB = 1_000_000


class DataContractGate(Gate):
    """The training data version met its data contract when it was added."""

    name = "data_contract"

    def evaluate(self, context: GateContext) -> GateResult:
        """Pass for an accepted status, fail for ``warned`` (stored despite violations)."""
        status = context.data_validation
        data = {"status": status, "detail": context.data_validation_detail}
        if status is None:
            return GateResult.noting(
                self.name, "no training data version is recorded; no contract to check", data=data
            )
        # A model of unknown training data is held to its named holdout's contract.
        holdout = context.extras.get("holdout") or {}
        judged = "the holdout" if holdout.get("named") and not holdout.get("training") else None
        subject = judged or "the training data"
        if status in ACCEPTED_DATA_STATUSES:
            return GateResult.passing(
                self.name, f"{subject} met its contract ({status})", data=data
            )
        why = f": {context.data_validation_detail}" if context.data_validation_detail else ""
        if status == "warned":
            detail = f"{subject} was stored despite breaking its contract (warned){why}"
        else:
            detail = f"{subject} has the unknown validation status {status!r}{why}"
        return GateResult.failing(self.name, detail, data=data)


class LoadsAndAnswersGate(Gate):
    """The candidate loads from its stored artifact in a clean process and answers."""

    name = "loads_and_answers"

    def evaluate(self, context: GateContext) -> GateResult:
        """Pass when the service saw it load and answer."""
        why = f": {context.load_detail}" if context.load_detail else ""
        if context.loads_and_answers is None:
            return GateResult.failing(
                self.name, "not checked: the candidate was not loaded in a clean process"
            )
        if context.loads_and_answers:
            return GateResult.passing(self.name, f"loads in a clean process and answers{why}")
        return GateResult.failing(self.name, f"does not load and answer in a clean process{why}")


class ExplainabilityGate(Gate):
    """Feature attributions can be computed for the candidate's predictions, by the
    explainer serving uses. Its result names that explainer (``data["explainer"]``) and
    keeps each input's mean absolute attribution (``data["importance"]``), when the
    service measured it: the importance monitoring weighs drift by."""

    name = "explainability"

    def evaluate(self, context: GateContext) -> GateResult:
        """Pass when the service computed attributions."""
        why = f": {context.explanations_detail}" if context.explanations_detail else ""
        if context.explanations is None:
            return GateResult.failing(self.name, f"not checked: no attributions were tried{why}")
        if context.explanations:
            data: dict[str, Any] = {}
            if context.explainer:
                data["explainer"] = context.explainer
            if context.importance:
                data["importance"] = dict(context.importance)
            return GateResult.passing(
                self.name, f"feature attributions were computed{why}", data=data or None
            )
        return GateResult.failing(self.name, f"feature attributions could not be computed{why}")


class MinMetricGate(Gate):
    """The candidate's primary metric is no worse than ``min_metric`` (a floor for a
    higher-is-better metric, a ceiling for a lower-is-better one)."""

    name = "min_metric"
    keys = ("min_metric",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge the point estimate; its bootstrap interval is reported alongside."""
        config = context.config
        limit = config.min_metric
        if limit is None:
            return GateResult.noting(self.name, "no min_metric is configured")
        metric = context.scoring
        interval = context.interval()
        value = interval.value
        bound = "floor" if metric.higher_is_better else "ceiling"
        shortfall = limit - value if metric.higher_is_better else value - limit
        data = {"interval": interval.to_dict(), "bound": bound}
        if shortfall > 0:
            side = "below" if metric.higher_is_better else "above"
            return GateResult.failing(
                self.name,
                f"{metric.name} {number(value)} is {number(shortfall)} {side} the {bound} "
                f"{number(limit)}",
                figure=value,
                threshold=limit,
                data=data,
            )
        return GateResult.passing(
            self.name,
            f"{metric.name} {number(value)} meets the {bound} {number(limit)} "
            f"({_percent(interval.confidence)} interval {number(interval.low)} to "
            f"{number(interval.high)})",
            figure=value,
            threshold=limit,
            data=data,
        )


class BeatLiveGate(Gate):
    """The candidate beats the live champion by ``beat_live_by``, judged on the lower
    bound of the paired-bootstrap interval of the difference."""

    name = "beat_live"
    keys = ("beat_live_by",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Compare with the champion; a note when nothing is live yet."""
        margin = context.config.beat_live_by or 0.0
        if context.champion is None:
            return GateResult.noting(
                self.name, "no live version yet: nothing to beat", threshold=margin
            )
        return _judge(self.name, context, "champion", "live", margin, {"against": "live"})


class BeatBaselineGate(Gate):
    """The candidate beats the off-the-shelf baseline (or another registered model) by
    ``beat_baseline_by``, on the lower bound of the paired-bootstrap interval: is the
    bespoke model worth its upkeep?"""

    name = "beat_baseline"
    keys = ("baseline", "beat_baseline_by")

    def evaluate(self, context: GateContext) -> GateResult:
        """Compare with the baseline's predictions, which the service must supply."""
        baseline = context.config.baseline
        margin = context.config.beat_baseline_by or 0.0
        external = context.extras.get(EXTERNAL_BASELINE_EXTRA)
        data: dict[str, Any] = {"against": "baseline", "baseline": baseline}
        fit = context.extras.get(BASELINE_FIT_EXTRA)
        label = f"baseline {baseline!r}"
        if isinstance(fit, str) and fit.startswith("cross-fitted"):
            # Said in the verdict's own words: no holdout row was scored by a baseline
            # that trained on it.
            label += " (cross-fitted on the holdout)"
        if fit:
            data["fit"] = fit
        if external:
            # The digest of the answers judged against, so the verdict can be redone.
            data["external"] = dict(external)
        if context.baseline is None:
            problem = external.get("problem") if external else None
            missing = f"no predictions of the baseline {baseline!r} were given to compare with"
            return GateResult.failing(
                self.name,
                problem or missing,
                threshold=margin,
                data=data,
            )
        return _judge(self.name, context, "baseline", label, margin, data)


class LatencyGate(Gate):
    """The 95th percentile of one-row prediction latency is within ``p95_latency_ms``."""

    name = "latency"
    keys = ("p95_latency_ms",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge ``single_p95_ms``; every measurement is kept in ``data``."""
        budget = context.config.p95_latency_ms
        measured = None if context.latency is None else context.latency.get("single_p95_ms")
        data = dict(context.latency or {})
        if measured is None or budget is None:
            return GateResult.failing(
                self.name,
                "not measured: no p95 latency of one-row calls was given",
                threshold=budget,
                data=data,
            )
        return _at_most(
            self.name,
            measured,
            budget,
            said=f"p95 latency of one-row calls is {number(measured)} ms",
            show=lambda value: f"{number(value)} ms",
            data=data,
            ceiling="budget",
        )


class SizeGate(Gate):
    """The stored artifact is at most ``max_size_mb`` megabytes (10^6 bytes)."""

    name = "size"
    keys = ("max_size_mb",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge the artifact's size."""
        limit = context.config.max_size_mb
        if context.artifact_bytes is None or limit is None:
            return GateResult.failing(
                self.name, "not measured: the artifact's size was not given", threshold=limit
            )
        size = context.artifact_bytes / _BYTES_PER_MB
        data = {"bytes": context.artifact_bytes}
        return _at_most(
            self.name,
            size,
            limit,
            said=f"the artifact is {number(size)} MB",
            show=lambda value: f"{number(value)} MB",
            data=data,
        )


class CostPer1kGate(Gate):
    """The price of the CPU that 1,000 one-row predictions take is at most
    ``max_cost_per_1k``, in the currency of ``[costs]`` (its ``cpu_hour`` prices the
    CPU seconds measured in the clean process)."""

    name = "cost_per_1k"
    keys = ("max_cost_per_1k",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge the priced CPU of 1,000 one-row calls."""
        limit = context.config.max_cost_per_1k
        costs = context.extras.get(COSTS_EXTRA) or {}
        figure = costs.get("cost_per_1k")
        currency = str((costs.get("settings") or {}).get("currency", ""))
        footprint = costs.get("footprint") or {}
        data = {"cpu_seconds": footprint.get("cpu_seconds_per_1k_single"), "currency": currency}
        if figure is None or limit is None:
            return GateResult.failing(
                self.name,
                "not measured: no CPU time of one-row calls, or no [costs] cpu_hour to price it",
                threshold=limit,
                data=data,
            )
        return _at_most(
            self.name,
            figure,
            limit,
            said=f"1,000 one-row predictions cost {money(figure, currency)} of CPU",
            show=lambda value: money(value, currency),
            data=data,
        )


class MonthlyCostGate(Gate):
    """The estimated monthly cost of owning the candidate (serving CPU for the expected
    traffic, memory, storage and retraining, priced by ``[costs]``) is at most
    ``max_monthly_cost``."""

    name = "monthly_cost"
    keys = ("max_monthly_cost",)

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge the monthly total; its parts are kept in ``data``."""
        limit = context.config.max_monthly_cost
        costs = context.extras.get(COSTS_EXTRA) or {}
        monthly = costs.get("monthly")
        if not monthly or limit is None:
            return GateResult.failing(
                self.name,
                "not measured: no monthly cost estimate was given (it needs [costs] prices)",
                threshold=limit,
            )
        currency = str(monthly.get("currency", ""))
        total = float(monthly["total"])
        parts = ", ".join(
            f"{label} {money(float(monthly[key]), currency)}"
            for key, label in (
                ("serving_cpu", "serving CPU"),
                ("memory", "memory"),
                ("storage", "storage"),
                ("retraining", "retraining"),
            )
        )
        return _at_most(
            self.name,
            total,
            limit,
            said=f"about {money(total, currency)} a month ({parts})",
            show=lambda value: money(value, currency),
            data=dict(monthly),
        )


def _at_most(
    gate: str,
    figure: float,
    limit: float,
    *,
    said: str,
    show: Callable[[float], str],
    data: Mapping[str, Any],
    ceiling: str = "limit",
) -> GateResult:
    """A figure judged against its ceiling: ``said`` (what was measured), then how far
    over the ``limit`` it is, or that it is within; amounts are written by ``show``."""
    if figure > limit:
        return GateResult.failing(
            gate,
            f"{said}, {show(figure - limit)} over the {ceiling} {show(limit)}",
            figure=figure,
            threshold=limit,
            data=data,
        )
    return GateResult.passing(
        gate, f"{said}, within {show(limit)}", figure=figure, threshold=limit, data=data
    )


def _judge(
    gate: str,
    context: GateContext,
    role: Role,
    label: str,
    margin: float,
    data: Mapping[str, object],
) -> GateResult:
    """The candidate against ``role`` on the primary metric: pass when the lower bound
    of the oriented difference reaches ``margin``."""
    comparison = context.compare(role)
    summary = _summary(comparison, label)
    figures = {**data, **comparison.to_dict(), "margin": margin}
    if comparison.low >= margin:
        return GateResult.passing(
            gate,
            f"{summary}; the lower bound {signed(comparison.low)} reaches the margin "
            f"{number(margin)}",
            figure=comparison.low,
            threshold=margin,
            data=figures,
        )
    return GateResult.failing(
        gate,
        f"{summary}; the lower bound is {number(margin - comparison.low)} short of the margin "
        f"{number(margin)}",
        figure=comparison.low,
        threshold=margin,
        data=figures,
    )


def _summary(comparison: Comparison, label: str) -> str:
    if comparison.difference > 0:
        verdict = " better"
    elif comparison.difference < 0:
        verdict = " worse"
    else:
        verdict = ", no different"
    return (
        f"{comparison.metric} {number(comparison.a)} vs {label} {number(comparison.b)}: "
        f"{signed(comparison.difference)}{verdict} ({_percent(comparison.confidence)} interval "
        f"{signed(comparison.low)} to {signed(comparison.high)})"
    )


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"
