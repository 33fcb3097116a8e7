"""Flavors: how each kind of model is stored safely, loaded and asked to predict.

:func:`flavor_for` picks the flavor that stores a model, :func:`get_flavor` finds one by
the name kept with a stored model, and :func:`predict` / :func:`predict_proba` predict
with any model, in memory or loaded, without the caller knowing its library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathtolive.errors import InvalidInputError, UnsupportedFormatError
from pathtolive.registry.flavors.base import (
    ClassLabel,
    Flavor,
    LoadedModel,
    UntrustedModelError,
    type_name,
    untrusted_message,
)
from pathtolive.registry.flavors.lightgbm import LightGBMFlavor
from pathtolive.registry.flavors.onnx import OnnxFlavor
from pathtolive.registry.flavors.python import PythonFlavor
from pathtolive.registry.flavors.sklearn import (
    DEFAULT_TRUSTED,
    TREE_TYPES,
    SklearnFlavor,
)
from pathtolive.registry.flavors.xgboost import XGBoostFlavor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "DEFAULT_TRUSTED",
    "FLAVORS",
    "TREE_TYPES",
    "ClassLabel",
    "Flavor",
    "LightGBMFlavor",
    "LoadedModel",
    "OnnxFlavor",
    "PythonFlavor",
    "SklearnFlavor",
    "UntrustedModelError",
    "XGBoostFlavor",
    "flavor_for",
    "get_flavor",
    "predict",
    "predict_proba",
    "untrusted_message",
    "wrap",
]

FLAVORS: tuple[Flavor, ...] = (
    SklearnFlavor(),
    LightGBMFlavor(),
    XGBoostFlavor(),
    OnnxFlavor(),
    PythonFlavor(),
)
"""Every flavor, in the order :func:`flavor_for` asks them."""

_SUPPORTED = (
    "scikit-learn estimators and pipelines, LightGBM and XGBoost boosters/sklearn wrappers, "
    "ONNX models (onnx.ModelProto or a .onnx file), and classes of the workspace's pipelines/ "
    "code with predict, get_state and from_state"
)


def flavor_for(model: object) -> Flavor:
    """The first flavor that can store ``model``; ``InvalidInputError`` when none can."""
    for flavor in FLAVORS:
        if flavor.can_save(model):
            return flavor
    raise InvalidInputError(
        f"cannot store a model of type {type_name(model)}: supported are {_SUPPORTED}"
    )


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; ``UnsupportedFormatError`` for an unknown name."""
    for flavor in FLAVORS:
        if flavor.name == name:
            return flavor
    known = ", ".join(flavor.name for flavor in FLAVORS)
    raise UnsupportedFormatError(
        f"unknown model flavor {name!r}; this pathtolive knows {known} "
        "(a newer pathtolive may know more)"
    )


def wrap(model: object) -> LoadedModel:
    """``model`` as a :class:`LoadedModel`: unchanged if it is one, else wrapped by its
    flavor (``InvalidInputError`` if it has none)."""
    if isinstance(model, LoadedModel):
        return model
    return flavor_for(model).wrap(model)


def predict(model: object, frame: pd.DataFrame) -> np.ndarray:
    """Labels (classifier) or values (regressor) of ``model`` on ``frame``; ``model`` is a
    fitted model of any flavor or a :class:`LoadedModel`."""
    return wrap(model).predict(frame)


def predict_proba(model: object, frame: pd.DataFrame) -> np.ndarray | None:
    """Class probabilities of ``model`` on ``frame`` (one column per class); None for a
    model that gives none."""
    return wrap(model).predict_proba(frame)
