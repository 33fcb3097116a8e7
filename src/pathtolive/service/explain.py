"""Per-row attributions that work for every flavor: occlusion against a reference row.

The arithmetic lives in :mod:`pathtolive.registry.explainers` (with the SHAP explainers the
live server uses); this module keeps the gate's check and re-exports the functions.

For each row and feature, the attribution is how much the model's output moves when that
feature alone is replaced by the reference value (the median of a numeric column, the most
frequent value of another). It needs only ``predict``/``predict_proba``, so it serves as
the documented fallback where a model-specific explainer is not available, and as the
explainability gate's proof that attributions can be computed for a version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pathtolive.registry import LoadedModel
from pathtolive.registry.explainers import occlusion_attributions, reference_row

__all__ = ["attributions_available", "occlusion_attributions", "reference_row"]

_CHECK_ROWS = 5


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
