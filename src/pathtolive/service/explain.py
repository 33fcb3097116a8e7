"""Per-row attributions that work for every flavor: occlusion against a reference row.

The arithmetic lives in :mod:`pathtolive.registry.explainers` (with the SHAP explainers the
live server uses); this module keeps the gate's check and re-exports the functions.

For each row and feature, the attribution is how much the model's output moves when that
feature alone is replaced by the reference value (the median of a numeric column, the most
frequent value of another). It needs only ``predict``/``predict_proba``, so it serves as
the documented fallback where a model-specific explainer is not available, and as the
explainability gate's proof that attributions can be computed for a version. The gate
also keeps each input's mean absolute attribution on holdout rows
(:func:`mean_absolute_attributions`): the importance that monitoring weighs drift by.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pathtolive.registry import LoadedModel
from pathtolive.registry.explainers import occlusion_attributions, reference_row

__all__ = [
    "attributions_available",
    "mean_absolute_attributions",
    "occlusion_attributions",
    "reference_row",
]

_CHECK_ROWS = 5
IMPORTANCE_ROWS = 200
"""Holdout rows the importance is averaged over (drawn with a fixed seed)."""


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


def mean_absolute_attributions(model: LoadedModel, frame: pd.DataFrame) -> dict[str, float] | None:
    """Each input's mean absolute occlusion attribution over up to :data:`IMPORTANCE_ROWS`
    rows of ``frame`` (a seeded sample): how much the model's output moves, on average,
    when that input alone is set to its typical value. None when it cannot be computed."""
    rows = frame.sample(n=min(IMPORTANCE_ROWS, len(frame)), random_state=0)
    try:
        attributions, _ = occlusion_attributions(model, rows, reference_row(frame))
    except Exception:  # the availability check has already said why
        return None
    means = np.abs(attributions).mean(axis=0)
    if not np.all(np.isfinite(means)):
        return None
    return {str(column): float(mean) for column, mean in zip(rows.columns, means, strict=True)}
