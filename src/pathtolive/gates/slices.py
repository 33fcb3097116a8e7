"""The slice gate: no category of a slice column may lose much to the live champion.

For each column in ``slices`` and each of its values (missing values form a slice of
their own; a numeric column with more than :data:`MAX_SLICE_VALUES` distinct values is
cut into :data:`NUMERIC_BINS` quantile bins), the primary metric of the candidate and of
the champion is computed on that slice's rows. The drop is how much worse the candidate
is there (oriented: positive is worse, whichever way the metric points). A slice with
fewer than ``min_slice_rows`` rows is listed as ``small`` and not judged, since its
metric is mostly noise; one where the metric is undefined (roc_auc on rows of one class)
is ``skipped``. The gate fails when a judged slice drops by more than ``max_slice_drop``.

Slices compare point estimates, not bootstrap bounds: a slice is small by design, and
``min_slice_rows`` with ``max_slice_drop`` set how much noise is tolerated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.format import listing, number
from pathtolive.gates.base import Gate, GateContext, GateResult
from pathtolive.gates.predictions import Predictions

__all__ = [
    "MAX_SLICE_VALUES",
    "MISSING_SLICE",
    "NUMERIC_BINS",
    "SliceGate",
    "SliceResult",
    "SliceStatus",
    "slice_results",
]

MAX_SLICE_VALUES = 20
"""A numeric column with more distinct values than this is binned, not sliced by value."""
NUMERIC_BINS = 5
MISSING_SLICE = "<missing>"
_SHOWN = 3

SliceStatus = Literal["ok", "regressed", "small", "skipped"]


@dataclass(frozen=True)
class SliceResult:
    """One category of one slice column: its rows, the metric of the candidate and of the
    reference model (None where undefined or without a reference), and the drop."""

    column: str
    value: str
    rows: int
    candidate: float | None
    reference: float | None
    drop: float | None
    status: SliceStatus

    @property
    def label(self) -> str:
        """``column=value``, as details print it."""
        return f"{self.column}={self.value}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)


class SliceGate(Gate):
    """No slice of the holdout loses more than ``max_slice_drop`` to the live champion."""

    name = "slices"
    keys = ("slices", "max_slice_drop", "min_slice_rows")

    def evaluate(self, context: GateContext) -> GateResult:
        """Judge every slice against the champion; a note when nothing is live yet."""
        config = context.config
        limit = config.max_slice_drop if config.max_slice_drop is not None else 0.0
        frame = context.slices
        if frame is None:
            return GateResult.failing(
                self.name, "the holdout's slice columns were not given", threshold=limit
            )
        missing = [column for column in config.slices if column not in frame.columns]
        if missing:
            return GateResult.failing(
                self.name,
                f"the holdout lacks the slice columns {', '.join(missing)}",
                threshold=limit,
                data={"missing_columns": missing},
            )
        results = slice_results(
            context, context.champion, config.slices, config.min_slice_rows, limit
        )
        data = {
            "reference": "live" if context.champion is not None else None,
            "min_slice_rows": config.min_slice_rows,
            "slices": [result.to_dict() for result in results],
        }
        metric = context.metric
        aside = _aside(results, metric)
        if context.champion is None:
            return GateResult.noting(
                self.name,
                f"no live version yet: the candidate's {metric} per slice is reported, "
                f"not judged{aside}",
                threshold=limit,
                data=data,
            )
        judged = [result for result in results if result.drop is not None]
        worst = max(judged, key=lambda result: result.drop or 0.0, default=None)
        figure = None if worst is None else worst.drop
        regressed = sorted(
            (result for result in results if result.status == "regressed"),
            key=lambda result: -(result.drop or 0.0),
        )
        if regressed:
            shown = listing([_describe(result) for result in regressed], _SHOWN)
            noun = "slice loses" if len(regressed) == 1 else "slices lose"
            return GateResult.failing(
                self.name,
                f"{len(regressed)} {noun} more than {number(limit)} of {metric} to live: "
                f"{shown}{aside}",
                figure=figure,
                threshold=limit,
                data=data,
            )
        head = f"no slice loses more than {number(limit)} of {metric} to live"
        if worst is not None:
            head += f" (worst {worst.label}: {number(worst.drop)})"
        return GateResult.passing(
            self.name, f"{head}{aside}", figure=figure, threshold=limit, data=data
        )


def slice_results(
    context: GateContext,
    reference: Predictions | None,
    columns: Sequence[str],
    min_rows: int,
    max_drop: float,
) -> list[SliceResult]:
    """The primary metric of the candidate (and of ``reference``, when given) on every
    category of every column in ``columns`` of ``context.slices``, in column order and
    then category order."""
    if context.slices is None:
        return []
    metric = context.scoring
    candidate = context.scores(context.candidate, "the candidate")
    other = None if reference is None else context.scores(reference, "the reference model")
    results: list[SliceResult] = []
    for column in columns:
        for value, rows in _categories(context.slices[column]):
            y_true = context.y_true[rows]
            mine = _score(metric.score(y_true, candidate[rows], classes=context.classes))
            theirs = None
            if other is not None:
                theirs = _score(metric.score(y_true, other[rows], classes=context.classes))
            drop = None
            if mine is not None and theirs is not None:
                drop = theirs - mine if metric.higher_is_better else mine - theirs
            status: SliceStatus
            if len(rows) < min_rows:
                status, drop = "small", None
            elif mine is None or (other is not None and theirs is None):
                status = "skipped"
            elif drop is not None and drop > max_drop:
                status = "regressed"
            else:
                status = "ok"
            results.append(SliceResult(column, value, len(rows), mine, theirs, drop, status))
    return results


def _categories(series: pd.Series) -> list[tuple[str, npt.NDArray[np.intp]]]:
    """Each category of ``series`` with the positions of its rows."""
    values: pd.Series | pd.Categorical = series
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique() > MAX_SLICE_VALUES:
        values = pd.qcut(series, NUMERIC_BINS, duplicates="drop")
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        # Mixed types that cannot be ordered: slice by their text instead.
        codes, uniques = pd.factorize(series.map(str, na_action="ignore"), sort=True)
    categories = [(str(value), np.flatnonzero(codes == code)) for code, value in enumerate(uniques)]
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        categories.append((MISSING_SLICE, missing))
    return categories


def _score(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _describe(result: SliceResult) -> str:
    return (
        f"{result.label} by {number(result.drop)} "
        f"(live {number(result.reference)}, candidate {number(result.candidate)})"
    )


def _aside(results: Sequence[SliceResult], metric: str) -> str:
    small = sum(result.status == "small" for result in results)
    skipped = sum(result.status == "skipped" for result in results)
    notes = []
    if small:
        notes.append(f"{small} small {'slice' if small == 1 else 'slices'} not judged")
    if skipped:
        notes.append(f"{skipped} skipped ({metric} undefined there)")
    return "; " + "; ".join(notes) if notes else ""
