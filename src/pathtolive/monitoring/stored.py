"""Monitor results as they are stored: one window's drift and metric, compact, and back.

``monitor`` keeps what it found in each window (:func:`to_stored`) so that the console
draws drift and the metric over time from the metadata store alone, never from the
prediction log (which may hold millions of rows) nor from a dataset. A stored window is
split in two, because a page reads one part of many windows and the other of one:

``summary``, read for every window a page shows::

    {"reference": "cancer@1", "thresholds": DriftThresholds.to_dict(),
     "reference_rows": 569, "current_rows": 120, "weighted_drift": null,
     "features": [FeatureDrift.to_dict() without its histograms and effect_sizes],
     "decay": DecayResult.to_dict() of the window as one, or null}

``histograms``, read for the one cell a reader opens: ``{feature: {"labels", "edges",
"reference", "current"}}``, the bins' labels and edges (as in
:class:`~pathtolive.monitoring.drift.Histogram`) once and each side's shares on them
(6 significant digits; ``current_labels`` and ``current_edges`` only where the live side's
bins differ), on the profile's stored bins (about twenty per numeric column, one per
stored category), from which the console draws its display bins.

:func:`from_stored` turns a stored result back into the
:class:`~pathtolive.monitoring.series.SeriesWindow` that ``monitor`` built, figures,
verdicts and metric intact, so the console's heat map and charts are those of a live
look (a feature's histograms are empty unless they were read).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pathtolive.entities import MonitorResult
from pathtolive.monitoring.decay import DecayResult, WindowMetric
from pathtolive.monitoring.drift import DriftResult, DriftThresholds, FeatureDrift, Histogram
from pathtolive.monitoring.series import SeriesWindow

__all__ = ["from_stored", "to_stored"]

_NO_HISTOGRAM = Histogram((), None, ())
_LEFT_OUT = ("reference", "current", "effect_sizes")  # kept apart, or derived


def to_stored(
    model: str,
    version: int,
    window: SeriesWindow,
    *,
    reference: str,
    step: timedelta,
    computed_at: datetime,
) -> MonitorResult:
    """``window`` of ``model@version`` as a result to store; ``reference`` names the
    dataset version whose profile it was compared with, ``step`` how far apart the look's
    windows were."""
    drift = window.drift
    decay = window.decay
    summary: dict[str, Any] = {
        "reference": reference,
        "thresholds": None if drift is None else drift.thresholds.to_dict(),
        "reference_rows": None if drift is None else drift.reference_rows,
        "current_rows": window.rows,
        "weighted_drift": None if drift is None else drift.weighted_drift,
        "features": [] if drift is None else [_compact(feature) for feature in drift.features],
        "decay": None if decay is None else decay.to_dict(),
    }
    histograms = (
        {}
        if drift is None
        else {feature.feature: _histograms(feature) for feature in drift.features}
    )
    return MonitorResult(
        model=model,
        version=version,
        start=window.start,
        end=window.end,
        step_seconds=step.total_seconds(),
        computed_at=computed_at,
        rows=window.rows,
        labelled=0 if decay is None else decay.labelled,
        drifted=0 if drift is None else len(drift.drifted),
        summary=summary,
        histograms=histograms,
    )


def _histograms(feature: FeatureDrift) -> dict[str, Any]:
    reference, current = feature.reference, feature.current
    stored: dict[str, Any] = {
        "labels": list(reference.labels),
        "edges": _stored_edges(reference.edges),
        "reference": [_share(share) for share in reference.shares],
        "current": [_share(share) for share in current.shares],
    }
    # The live side is counted on the reference's bins: its own only where they differ.
    if current.labels != reference.labels:
        stored["current_labels"] = list(current.labels)
    if current.edges != reference.edges:
        stored["current_edges"] = _stored_edges(current.edges)
    return stored


def _stored_edges(edges: tuple[float, ...] | None) -> list[float | None] | None:
    # 12 significant digits: what a chart can show, without the last bits of rounding.
    if edges is None:
        return None
    return [float(f"{edge:.12g}") if math.isfinite(edge) else None for edge in edges]


def _share(share: float) -> float | None:
    return float(f"{share:.6g}") if math.isfinite(share) else None


def _compact(feature: FeatureDrift) -> dict[str, Any]:
    return {key: value for key, value in feature.to_dict().items() if key not in _LEFT_OUT}


def from_stored(result: MonitorResult) -> SeriesWindow:
    """The window ``result`` keeps, as ``monitor`` built it (see the module docs)."""
    summary = result.summary
    drift = None
    if summary.get("thresholds") is not None:
        drift = DriftResult(
            features=tuple(
                _feature(item, result.histograms.get(item["feature"]))
                for item in summary.get("features", [])
            ),
            reference_rows=int(summary.get("reference_rows") or 0),
            current_rows=int(summary.get("current_rows") or 0),
            thresholds=DriftThresholds(**summary["thresholds"]),
            weighted_drift=summary.get("weighted_drift"),
        )
    decay = None if summary.get("decay") is None else _decay(summary["decay"])
    return SeriesWindow(result.start, result.end, result.rows, drift, decay)


def _feature(item: Mapping[str, Any], histograms: Mapping[str, Any] | None) -> FeatureDrift:
    return FeatureDrift(
        feature=str(item["feature"]),
        kind=item["kind"],
        # A figure stored as null was not finite (the JSON has no NaN).
        figures={
            name: math.nan if value is None else float(value)
            for name, value in (item.get("figures") or {}).items()
        },
        drifted=bool(item["drifted"]),
        reasons=tuple(item.get("reasons") or ()),
        score=math.nan if item.get("score") is None else float(item["score"]),
        rank=int(item.get("rank") or 0),
        reference=_histogram(histograms, "reference"),
        current=_histogram(histograms, "current"),
        current_rows=int(item.get("current_rows") or 0),
        rule=str(item.get("rule") or ""),
        significant=item.get("significant"),
        large_effect=bool(item.get("large_effect")),
        explanation=str(item.get("explanation") or ""),
        importance=item.get("importance"),
    )


def _histogram(histograms: Mapping[str, Any] | None, side: str) -> Histogram:
    shares = None if histograms is None else histograms.get(side)
    if histograms is None or shares is None:
        return _NO_HISTOGRAM
    labels = histograms.get(f"{side}_labels", histograms["labels"])
    edges = histograms.get(f"{side}_edges", histograms["edges"])
    return Histogram(
        labels=tuple(str(label) for label in labels),
        edges=None if edges is None else _edges(edges),
        shares=tuple(_float(share) for share in shares),
    )


def _edges(stored: list[Any]) -> tuple[float, ...]:
    # The equal-mass bins' outer edges are infinite, which the JSON keeps as null.
    last = len(stored) - 1
    return tuple(
        (-math.inf if index == 0 else math.inf if index == last else math.nan)
        if edge is None
        else float(edge)
        for index, edge in enumerate(stored)
    )


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _decay(item: Mapping[str, Any]) -> DecayResult:
    return DecayResult(
        metric=str(item["metric"]),
        reference=item.get("reference"),
        windows=tuple(_window_metric(window) for window in item.get("windows", [])),
        latest=item.get("latest"),
        latest_estimated=item.get("latest_estimated"),
        decayed=bool(item.get("decayed")),
        reason=str(item.get("reason") or ""),
        higher_is_better=bool(item.get("higher_is_better", True)),
        drop=float(item.get("drop") or 0.0),
        min_labelled=int(item.get("min_labelled") or 0),
        judged=item.get("judged"),
        ignored_labels=int(item.get("ignored_labels") or 0),
        confidence=item.get("confidence"),
    )


def _window_metric(item: Mapping[str, Any]) -> WindowMetric:
    return WindowMetric(
        start=datetime.fromisoformat(item["start"]),
        end=datetime.fromisoformat(item["end"]),
        rows=int(item["rows"]),
        labelled=int(item["labelled"]),
        value=item.get("value"),
        estimated=item.get("estimated"),
        interval=_pair(item.get("interval")),
        estimated_interval=_pair(item.get("estimated_interval")),
    )


def _pair(value: Any) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))
