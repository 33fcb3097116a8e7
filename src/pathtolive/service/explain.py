"""Per-row attributions that work for every flavor: occlusion against a reference row.

For each row and feature, the attribution is how much the model's output moves when that
feature alone is replaced by the reference value (the median of a numeric column, the most
frequent value of another). It needs only ``predict``/``predict_proba``, so it serves as
the documented fallback where a model-specific explainer is not available, and as the
explainability gate's proof that attributions can be computed for a version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.registry import LoadedModel

__all__ = ["attributions_available", "occlusion_attributions", "reference_row"]

_CHECK_ROWS = 5


def reference_row(frame: pd.DataFrame) -> pd.DataFrame:
    """One row of typical values: medians of numeric columns, the mode of the others."""
    values: dict[str, Any] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values[column] = series.median()
        else:
            mode = series.mode(dropna=True)
            values[column] = mode.iloc[0] if len(mode) else None
    return pd.DataFrame([values], columns=frame.columns).astype(frame.dtypes.to_dict())


def _output(model: LoadedModel, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    proba = model.predict_proba(frame)
    if proba is not None:
        matrix = np.asarray(proba, dtype=np.float64)
        # The last class's probability: the positive class of a binary model.
        return matrix[:, -1]
    return np.asarray(model.predict(frame), dtype=np.float64)


def occlusion_attributions(
    model: LoadedModel, rows: pd.DataFrame, reference: pd.DataFrame
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(attributions, base values): one attribution per row and column of ``rows``, and
    each row's model output."""
    base = _output(model, rows)
    attributions = np.empty((len(rows), len(rows.columns)), dtype=np.float64)
    for position, column in enumerate(rows.columns):
        occluded = rows.copy()
        occluded[column] = reference[column].iloc[0]
        attributions[:, position] = base - _output(model, occluded)
    return attributions, base


def attributions_available(model: LoadedModel, frame: pd.DataFrame) -> tuple[bool, str]:
    """Whether per-row attributions can be computed for this model, with a detail line."""
    rows = frame.head(_CHECK_ROWS)
    try:
        attributions, _ = occlusion_attributions(model, rows, reference_row(frame))
    except Exception as exc:  # any failure of the model on occluded rows means "no"
        return False, f"attributions failed: {type(exc).__name__}: {exc}"
    if not np.all(np.isfinite(attributions)):
        return False, "attributions are not finite numbers"
    return True, f"occlusion attributions for {len(rows.columns)} features ({model.flavor})"
