"""XGBoost boosters and their scikit-learn wrappers, in XGBoost's UBJSON model format.

``XGBClassifier``/``XGBRegressor``/``XGBRanker`` are stored as their booster plus what the
wrapper knew (classes, objective); the booster keeps its feature names and, after early
stopping, its best iteration, which a wrapper predicts with as the wrapper did. A bare
``Booster`` predicts with every tree, as ``Booster.predict`` does; with a
``binary:logistic`` or ``multi:softprob`` objective it is a classifier of classes
``0..k-1``.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.errors import InvalidInputError
from pathtolive.registry.flavors._booster import (
    labels,
    most_likely,
    pack,
    probabilities,
    unpack,
)
from pathtolive.registry.flavors.base import (
    ClassLabel,
    Flavor,
    LoadedModel,
    plain_label,
    predicting,
    type_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["XGBoostFlavor"]

_MEMBER = "model.ubj"
_PROBABILITY = frozenset({"binary:logistic", "multi:softprob"})
_CLASS_INDEX = frozenset({"binary:hinge", "multi:softmax"})  # output is the class index
_MARGIN = frozenset({"binary:logitraw"})  # output is a log-odds score
_CLASSIFICATION = _PROBABILITY | _CLASS_INDEX | _MARGIN
_NATIVE_PREFIX = re.compile(r"^\[[^\]]*\]\s*\S+:\d+:\s*")


class XGBoostFlavor(Flavor):
    """XGBoost ``Booster`` and ``XGBModel`` wrappers, in XGBoost's UBJSON format."""

    name = "xgboost"
    extra = "xgboost"

    def can_save(self, model: object) -> bool:
        xgb = sys.modules.get("xgboost")  # None: not imported, so not a xgboost model
        if xgb is None:
            return False
        return isinstance(model, xgb.Booster | xgb.XGBModel)

    def save(self, model: object) -> bytes:
        booster, metadata = self._describe(model)
        return pack(self.name, _MEMBER, bytes(booster.save_raw(raw_format="ubj")), metadata)

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        # UBJSON holds numbers and names only: nothing in it is a type to trust.
        metadata, payload = unpack(self.name, _MEMBER, data)
        xgb = self._xgboost()
        booster = xgb.Booster()
        try:
            booster.load_model(bytearray(payload))
        except xgb.core.XGBoostError as exc:
            raise InvalidInputError(f"not an XGBoost model: {_native_message(exc)}") from exc
        return _loaded(booster, metadata)

    def wrap(self, model: object) -> LoadedModel:
        booster, metadata = self._describe(model)
        return _loaded(booster, metadata)

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        raw = self._raw(model, frame)
        if model.classes is None:
            return raw
        objective = model.metadata.get("objective")
        if objective in _CLASS_INDEX:
            return labels(model.classes, raw.astype(np.int64))
        if objective in _MARGIN:
            return labels(model.classes, (raw > 0).astype(np.int64))
        return most_likely(model.classes, probabilities(raw))

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.gives_probabilities(model):
            return None
        return probabilities(self._raw(model, frame))

    def gives_probabilities(self, model: LoadedModel) -> bool:
        return model.classes is not None and model.metadata.get("objective") in _PROBABILITY

    def n_features(self, model: LoadedModel) -> int | None:
        booster: Any = model.model
        return int(booster.num_features())

    def _raw(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        booster: Any = model.model
        features = self.features(model, frame)
        iterations = (0, 0)  # every tree, as Booster.predict
        best = booster.attr("best_iteration")
        if model.metadata.get("estimator") != "Booster" and best is not None:
            iterations = (0, int(best) + 1)  # as the wrapper after early stopping
        with predicting(self._xgboost().core.XGBoostError):
            return np.asarray(booster.inplace_predict(features, iteration_range=iterations))

    def _xgboost(self) -> ModuleType:
        try:
            return importlib.import_module("xgboost")
        except ImportError as exc:
            raise self.missing_extra(exc) from exc

    def _describe(self, model: object) -> tuple[Any, dict[str, Any]]:
        if not self.can_save(model):
            raise InvalidInputError(
                f"the xgboost flavor stores XGBoost boosters and XGB* estimators, "
                f"not {type_name(model)}"
            )
        xgb = self._xgboost()
        wrapper: Any = model
        if isinstance(model, xgb.XGBModel):
            if not model.__sklearn_is_fitted__():
                raise InvalidInputError(
                    f"this {type(model).__name__} is not fitted; fit it before registering it"
                )
            if callable(wrapper.objective):
                raise InvalidInputError(
                    "an XGBoost model with a custom objective function cannot be stored: its "
                    "output is a raw score only that function can interpret"
                )
            booster = wrapper.get_booster()
        else:
            booster = wrapper
        learner = json.loads(booster.save_config())["learner"]
        objective = str(learner["objective"]["name"])
        classes: list[ClassLabel] | None = None
        if isinstance(model, xgb.XGBClassifier):
            classes = [plain_label(value) for value in wrapper.classes_]
        elif objective in _CLASSIFICATION and not isinstance(model, xgb.XGBModel):
            count = int(learner["learner_model_param"].get("num_class", "0"))
            classes = list(range(max(count, 2)))
        names = booster.feature_names
        metadata: dict[str, Any] = {
            "estimator": type(model).__name__,
            "objective": objective,
            "classes": classes,
            "feature_names": list(names) if names is not None else None,
            "library_version": xgb.__version__,
        }
        return booster, metadata


def _native_message(exc: Exception) -> str:
    # XGBoost prefixes its C++ messages with "[time] source/file.cc:123: ".
    lines = str(exc).strip().splitlines() or ["unreadable"]
    return _NATIVE_PREFIX.sub("", lines[0])


def _loaded(booster: object, metadata: dict[str, Any]) -> LoadedModel:
    classes = metadata.get("classes")
    names = metadata.get("feature_names")
    return LoadedModel(
        flavor="xgboost",
        model=booster,
        classes=tuple(classes) if classes is not None else None,
        feature_names=tuple(names) if names is not None else None,
        metadata={key: metadata.get(key) for key in ("estimator", "objective", "library_version")},
    )
