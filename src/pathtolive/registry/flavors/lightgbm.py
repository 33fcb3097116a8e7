"""LightGBM boosters and their scikit-learn wrappers, in LightGBM's text model format.

``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker`` are stored as their booster plus what
the wrapper knew (classes, objective, feature names), so loading needs no pickle and
predicts as the wrapper did. A bare ``Booster`` with a ``binary`` or ``multiclass``
objective is a classifier of classes ``0..k-1``. LightGBM writes a space in a feature name
as ``_``; columns are matched under either spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.registry.flavors._booster import BoosterFacts, BoosterFlavor
from pathtolive.registry.flavors.base import LoadedModel, missing_columns_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LightGBMFlavor"]

_CLASSIFICATION = frozenset({"binary", "multiclass", "multiclassova"})


class LightGBMFlavor(BoosterFlavor):
    """LightGBM ``Booster`` and ``LGBMModel`` wrappers, in LightGBM's text format."""

    name = "lightgbm"
    extra = "lightgbm"
    library = "lightgbm"
    member = "model.txt"
    wrapper = "LGBMModel"
    classifier = "LGBMClassifier"
    stores = "LightGBM boosters and LGBM* estimators"
    kind = "a LightGBM model"

    def fitted_booster(self, wrapper: Any) -> Any | None:
        return wrapper.booster_ if getattr(wrapper, "fitted_", False) else None

    def facts(self, library: ModuleType, model: object, booster: Any) -> BoosterFacts:
        text: str = booster.model_to_string()
        header = _header(text)
        objective = header.get("objective", "").split(" ")[0]
        if objective == "custom":
            raise self.custom_objective()
        names = [str(name) for name in booster.feature_name()]
        if names == [f"Column_{index}" for index in range(len(names))]:
            names_or_none: list[str] | None = None  # fitted on a bare array: by position
        else:
            names_or_none = names
        return BoosterFacts(
            objective=objective,
            class_count=(
                int(header.get("num_class", "1")) if objective in _CLASSIFICATION else None
            ),
            feature_names=names_or_none,
            write=text.encode,  # the header was read from the text: write it once
        )

    def read(self, library: ModuleType, payload: bytes) -> Any:
        try:
            return library.Booster(model_str=payload.decode())
        except (self.library_error(library), UnicodeDecodeError, ValueError) as exc:
            raise self.unreadable(str(exc)) from exc

    def library_error(self, library: ModuleType) -> type[Exception]:
        error: type[Exception] = library.basic.LightGBMError
        return error

    def score(self, model: LoadedModel, features: pd.DataFrame | np.ndarray) -> Any:
        booster: Any = model.model
        return booster.predict(features)

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


def _header(text: str) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            header[key] = value
    return header
