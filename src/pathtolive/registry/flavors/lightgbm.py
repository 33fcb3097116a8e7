"""LightGBM boosters and their scikit-learn wrappers, in LightGBM's text model format.

``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker`` are stored as their booster plus what
the wrapper knew (classes, objective, feature names), so loading needs no pickle and
predicts as the wrapper did. A bare ``Booster`` with a ``binary`` or ``multiclass``
objective is a classifier of classes ``0..k-1``. LightGBM writes a space in a feature name
as ``_``; columns are matched under either spelling.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.errors import InvalidInputError
from pathtolive.registry.flavors._booster import most_likely, pack, probabilities, unpack
from pathtolive.registry.flavors.base import (
    ClassLabel,
    Flavor,
    LoadedModel,
    missing_columns_error,
    plain_label,
    predicting,
    type_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LightGBMFlavor"]

_MEMBER = "model.txt"
_CLASSIFICATION = frozenset({"binary", "multiclass", "multiclassova"})


class LightGBMFlavor(Flavor):
    """LightGBM ``Booster`` and ``LGBMModel`` wrappers, in LightGBM's text format."""

    name = "lightgbm"
    extra = "lightgbm"

    def can_save(self, model: object) -> bool:
        lgb = sys.modules.get("lightgbm")  # None: not imported, so not a lightgbm model
        if lgb is None:
            return False
        return isinstance(model, lgb.Booster | lgb.LGBMModel)

    def save(self, model: object) -> bytes:
        _, text, metadata = self._describe(model)
        return pack(self.name, _MEMBER, text.encode(), metadata)

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        # The text format holds numbers only: nothing in it is a type to trust.
        metadata, payload = unpack(self.name, _MEMBER, data)
        lgb = self._lightgbm()
        try:
            booster = lgb.Booster(model_str=payload.decode())
        except (lgb.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(f"not a LightGBM model: {exc}") from exc
        return _loaded(booster, metadata)

    def wrap(self, model: object) -> LoadedModel:
        booster, _, metadata = self._describe(model)
        return _loaded(booster, metadata)

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        raw = self._raw(model, frame)
        if model.classes is None:
            return raw
        return most_likely(model.classes, probabilities(raw))

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.gives_probabilities(model):
            return None
        return probabilities(self._raw(model, frame))

    def input_columns(self, model: LoadedModel, columns: Sequence[str]) -> list[str] | None:
        if model.feature_names is None:
            return None
        exact = set(columns)
        spelled: dict[str, list[str]] = {}
        for column in columns:
            spelled.setdefault(column.replace(" ", "_"), []).append(column)
        found: list[str] = []
        missing: list[str] = []
        for name in model.feature_names:
            if name in exact:
                found.append(name)
            elif len(spelled.get(name, ())) == 1:
                found.append(spelled[name][0])
            else:
                missing.append(name)
        if missing:
            raise missing_columns_error(missing)
        return found

    def n_features(self, model: LoadedModel) -> int | None:
        booster: Any = model.model
        return int(booster.num_feature())

    def _raw(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        booster: Any = model.model
        features = self.features(model, frame)
        with predicting(self._lightgbm().basic.LightGBMError):
            return np.asarray(booster.predict(features))

    def _lightgbm(self) -> ModuleType:
        try:
            return importlib.import_module("lightgbm")
        except ImportError as exc:
            raise self.missing_extra(exc) from exc

    def _describe(self, model: object) -> tuple[Any, str, dict[str, Any]]:
        if not self.can_save(model):
            raise InvalidInputError(
                f"the lightgbm flavor stores LightGBM boosters and LGBM* estimators, "
                f"not {type_name(model)}"
            )
        lgb = self._lightgbm()
        wrapper: Any = model
        if isinstance(model, lgb.LGBMModel):
            if not getattr(model, "fitted_", False):
                raise InvalidInputError(
                    f"this {type(model).__name__} is not fitted; fit it before registering it"
                )
            if callable(wrapper.objective):
                raise InvalidInputError(
                    "a LightGBM model with a custom objective function cannot be stored: its "
                    "output is a raw score only that function can interpret"
                )
            booster = wrapper.booster_
        else:
            booster = wrapper
        text: str = booster.model_to_string()
        header = _header(text)
        objective = header.get("objective", "").split(" ")[0]
        if objective == "custom":
            raise InvalidInputError(
                "a LightGBM model with a custom objective function cannot be stored: its "
                "output is a raw score only that function can interpret"
            )
        classes: list[ClassLabel] | None = None
        if isinstance(model, lgb.LGBMClassifier):
            classes = [plain_label(value) for value in wrapper.classes_]
        elif objective in _CLASSIFICATION:
            classes = list(range(max(int(header.get("num_class", "1")), 2)))
        names = [str(name) for name in booster.feature_name()]
        if names == [f"Column_{index}" for index in range(len(names))]:
            names_or_none: list[str] | None = None  # fitted on a bare array: by position
        else:
            names_or_none = names
        metadata: dict[str, Any] = {
            "estimator": type(model).__name__,
            "objective": objective,
            "classes": classes,
            "feature_names": names_or_none,
            "library_version": lgb.__version__,
        }
        return booster, text, metadata


def _header(text: str) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            header[key] = value
    return header


def _loaded(booster: object, metadata: dict[str, Any]) -> LoadedModel:
    classes = metadata.get("classes")
    names = metadata.get("feature_names")
    return LoadedModel(
        flavor="lightgbm",
        model=booster,
        classes=tuple(classes) if classes is not None else None,
        feature_names=tuple(names) if names is not None else None,
        metadata={key: metadata.get(key) for key in ("estimator", "objective", "library_version")},
    )
