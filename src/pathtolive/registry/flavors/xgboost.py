"""XGBoost boosters and their scikit-learn wrappers, in XGBoost's UBJSON model format.

``XGBClassifier``/``XGBRegressor``/``XGBRanker`` are stored as their booster plus what the
wrapper knew (classes, objective); the booster keeps its feature names and, after early
stopping, its best iteration, which a wrapper predicts with as the wrapper did. A bare
``Booster`` predicts with every tree, as ``Booster.predict`` does; with a
``binary:logistic`` or ``multi:softprob`` objective it is a classifier of classes
``0..k-1``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.registry.flavors._booster import (
    BoosterFacts,
    BoosterFlavor,
    labels,
    most_likely,
    probabilities,
)
from pathtolive.registry.flavors.base import ClassLabel, LoadedModel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["XGBoostFlavor"]

_PROBABILITY = frozenset({"binary:logistic", "multi:softprob"})
_CLASS_INDEX = frozenset({"binary:hinge", "multi:softmax"})  # output is the class index
_MARGIN = frozenset({"binary:logitraw"})  # output is a log-odds score
_CLASSIFICATION = _PROBABILITY | _CLASS_INDEX | _MARGIN
_NATIVE_PREFIX = re.compile(r"^\[[^\]]*\]\s*\S+:\d+:\s*")


class XGBoostFlavor(BoosterFlavor):
    """XGBoost ``Booster`` and ``XGBModel`` wrappers, in XGBoost's UBJSON format."""

    name = "xgboost"
    extra = "xgboost"
    library = "xgboost"
    member = "model.ubj"
    wrapper = "XGBModel"
    classifier = "XGBClassifier"
    stores = "XGBoost boosters and XGB* estimators"
    kind = "an XGBoost model"

    def fitted_booster(self, wrapper: Any) -> Any | None:
        return wrapper.get_booster() if wrapper.__sklearn_is_fitted__() else None

    def facts(self, library: ModuleType, model: object, booster: Any) -> BoosterFacts:
        learner = json.loads(booster.save_config())["learner"]
        objective = str(learner["objective"]["name"])
        class_count: int | None = None
        # A wrapper that is not a classifier stays a regressor or ranker, whatever its
        # objective.
        if objective in _CLASSIFICATION and not isinstance(model, library.XGBModel):
            class_count = int(learner["learner_model_param"].get("num_class", "0"))
        names = booster.feature_names
        return BoosterFacts(
            objective=objective,
            class_count=class_count,
            feature_names=list(names) if names is not None else None,
            write=lambda: bytes(booster.save_raw(raw_format="ubj")),
        )

    def read(self, library: ModuleType, payload: bytes) -> Any:
        booster = library.Booster()
        try:
            booster.load_model(bytearray(payload))
        except self.library_error(library) as exc:
            raise self.unreadable(_native_message(exc)) from exc
        return booster

    def library_error(self, library: ModuleType) -> type[Exception]:
        error: type[Exception] = library.core.XGBoostError
        return error

    def score(self, model: LoadedModel, features: pd.DataFrame | np.ndarray) -> Any:
        booster: Any = model.model
        iterations = (0, 0)  # every tree, as Booster.predict
        best = booster.attr("best_iteration")
        if model.metadata.get("estimator") != "Booster" and best is not None:
            iterations = (0, int(best) + 1)  # as the wrapper after early stopping
        return booster.inplace_predict(features, iteration_range=iterations)

    def labels_of(
        self, model: LoadedModel, classes: Sequence[ClassLabel], raw: np.ndarray
    ) -> np.ndarray:
        objective = model.metadata.get("objective")
        if objective in _CLASS_INDEX:
            return labels(classes, raw.astype(np.int64))
        if objective in _MARGIN:
            return labels(classes, (raw > 0).astype(np.int64))
        return most_likely(classes, probabilities(raw))

    def gives_probabilities(self, model: LoadedModel) -> bool:
        return model.classes is not None and model.metadata.get("objective") in _PROBABILITY

    def n_features(self, model: LoadedModel) -> int | None:
        booster: Any = model.model
        return int(booster.num_features())


def _native_message(exc: Exception) -> str:
    # XGBoost prefixes its C++ messages with "[time] source/file.cc:123: ".
    lines = str(exc).strip().splitlines() or ["unreadable"]
    return _NATIVE_PREFIX.sub("", lines[0])
