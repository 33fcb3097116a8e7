"""The explainer a model version is explained with, and the explainability gate's check.

:func:`served_explainer` is the one place that decides how a version's predictions are
explained: :func:`pathtolive.registry.explainers.build_explainer` (SHAP's TreeExplainer for
tree ensembles, its LinearExplainer for linear models, occlusion otherwise) on background
rows of the version's training data (:func:`explainer_background`). The server's
``:explain`` route and the explainability gate both call it, so the gate proves, and
reports, the very method that serving will use.

The gate also keeps each input's mean absolute attribution on seeded holdout rows
(:func:`check_explanations`): the importance that monitoring weighs drift by. Occlusion
against a reference row (:func:`occlusion_attributions`) stays available for callers that
explain one row from a stored profile, without reading a dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pathtolive.errors import NotFoundError
from pathtolive.format import first_line
from pathtolive.registry import LoadedModel
from pathtolive.registry.explainers import (
    Explainer,
    build_explainer,
    occlusion_attributions,
    reference_row,
)
from pathtolive.service.context import ServiceContext

__all__ = [
    "BACKGROUND_ROWS",
    "IMPORTANCE_ROWS",
    "ExplainabilityCheck",
    "check_explanations",
    "explainer_background",
    "mean_absolute_attributions",
    "occlusion_attributions",
    "reference_row",
    "served_explainer",
]

BACKGROUND_ROWS = 100
"""Training rows (a seeded sample) an explainer is built on."""

IMPORTANCE_ROWS = 200
"""Holdout rows (drawn with a fixed seed) the gate explains: it bounds the gate's cost,
and the importance is averaged over them."""


def explainer_background(
    ctx: ServiceContext,
    columns: Sequence[str],
    trained_on: Sequence[str],
    rows: int = BACKGROUND_ROWS,
    *,
    purpose: str = "explainer background",
) -> pd.DataFrame | None:
    """Up to ``rows`` rows of ``columns`` (the model's inputs) from the first dataset
    version in ``trained_on`` that has them all (None when none has): the background an
    explainer compares a row against. The read is audited with ``purpose``."""
    from pathtolive.service.datasets import load_frame

    for ref in trained_on:
        try:
            frame = load_frame(ctx, ref, purpose=purpose)
        except NotFoundError:
            continue
        if set(columns) <= set(frame.columns):
            sample = frame[list(columns)]
            return sample.sample(n=min(rows, len(sample)), random_state=0).reset_index(drop=True)
    return None


def served_explainer(model: LoadedModel, background: pd.DataFrame) -> Explainer:
    """The explainer of ``model`` on ``background`` rows (its training data, see
    :func:`explainer_background`): what ``:explain`` answers with and the gate checks."""
    return build_explainer(model, background, max_background=BACKGROUND_ROWS)


@dataclass(frozen=True)
class ExplainabilityCheck:
    """Whether the served explainer explained holdout rows: ``method`` (e.g.
    ``shap.TreeExplainer``; None when no explainer could be built), a one-line
    ``detail``, and each input's mean absolute attribution (``importance``) when it did."""

    available: bool
    detail: str
    method: str | None = None
    importance: dict[str, float] | None = None


def check_explanations(
    model: LoadedModel, frame: pd.DataFrame, background: pd.DataFrame | None = None
) -> ExplainabilityCheck:
    """Explain up to :data:`IMPORTANCE_ROWS` rows of ``frame`` (a seeded sample) with the
    explainer serving uses, built on ``background`` (``frame`` itself when there is none).
    The mean absolute attribution of each input is the importance monitoring weighs drift
    by; the values are in the explained output's units (a probability, log-odds…)."""
    rows = frame.sample(n=min(IMPORTANCE_ROWS, len(frame)), random_state=0)
    try:
        explainer = served_explainer(model, frame if background is None else background)
    except Exception as exc:  # a model no method can explain fails the gate, with why
        return ExplainabilityCheck(False, f"no explainer could be built: {_why(exc)}")
    method = explainer.method
    try:
        explanation = explainer.explain(rows)
    except Exception as exc:  # any failure on holdout rows means "no"
        return ExplainabilityCheck(False, f"{method} failed: {_why(exc)}", method)
    if not np.all(np.isfinite(explanation.values)):
        return ExplainabilityCheck(False, f"{method} gave attributions that are not finite", method)
    means = np.abs(explanation.values).mean(axis=0) if len(rows) else np.zeros(0)
    importance = {
        str(feature): float(mean) for feature, mean in zip(explanation.features, means, strict=True)
    }
    detail = (
        f"{method} attributions of the {explanation.output} for "
        f"{len(explanation.features)} features on {len(rows)} holdout rows ({model.flavor})"
    )
    reason = getattr(explainer, "reason", None)
    if reason:
        detail += f"; SHAP is not used: {reason}"
    return ExplainabilityCheck(True, detail, method, importance)


def mean_absolute_attributions(
    model: LoadedModel, frame: pd.DataFrame, background: pd.DataFrame | None = None
) -> dict[str, float] | None:
    """Each input's mean absolute attribution by the served explainer over up to
    :data:`IMPORTANCE_ROWS` rows of ``frame`` (see :func:`check_explanations`); None when
    it cannot be computed."""
    return check_explanations(model, frame, background).importance


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"
