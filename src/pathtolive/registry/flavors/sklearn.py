"""scikit-learn estimators and pipelines, stored with skops.

skops writes an object as a zip of JSON and ``.npy`` arrays and rebuilds it without
pickle: on load it lists every type the file names, and refuses the ones not known to be
safe. pathtolive refuses them too, unless the caller names them in ``trusted``.

The default allow-list adds one type to skops' own (scikit-learn estimators, NumPy and
SciPy ufuncs, builtins): ``numpy.dtype``, which skops rebuilds from an empty ``.npy``
array read with ``allow_pickle=False`` and so cannot run code. It is in nearly every
pipeline (``SimpleImputer`` and ``ColumnTransformer`` keep dtypes). Two types stay out,
as skops decided: the tree of ``DecisionTree``/``RandomForest``/``GradientBoosting``
(``sklearn.tree._tree.Tree``) and of ``HistGradientBoosting`` (``TreePredictor``) keep raw
node indices that scikit-learn follows without bounds checks, so a crafted file can crash
the process at predict time. :data:`TREE_TYPES` names them for callers that decide to
trust models they wrote themselves. Registering a fitted model does: scikit-learn built
those trees in this process, so they (and an MLP's optimizer state, numbers only) are
trusted on registration; any other type, a custom step's function first of all, needs
``trusted=[...]``.

skops names arrays after ``id()`` of the objects and stamps the zip with the time, so two
saves of one model differ. :func:`canonical_skops` renames, renumbers and rewrites the zip
so that the bytes depend only on the model (and the library versions).
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError
from pathtolive.format import first_line
from pathtolive.registry.flavors.base import (
    Flavor,
    LoadedModel,
    UntrustedModelError,
    plain_label,
    predicting,
    type_name,
    untrusted_message,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_TRUSTED", "TREE_TYPES", "SklearnFlavor", "canonical_skops"]

DEFAULT_TRUSTED: tuple[str, ...] = ("numpy.dtype",)
"""Types trusted beyond skops' defaults; see the module docstring for why each is safe."""

TREE_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
"""The tree types of tree ensembles, refused by default (see the module docstring)."""

_OPTIMIZER_TYPES: tuple[str, ...] = (
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)
"""What an ``MLPClassifier`` or ``MLPRegressor`` keeps of its training: numbers only."""

_SCHEMA = "schema.json"
# Estimators of these libraries have a native flavor; a Pipeline around one stays here.
_NATIVE_LIBRARIES = frozenset({"lightgbm", "xgboost"})
# What skops and scikit-learn raise on a file they cannot read or rebuild.
_LOAD_ERRORS = (
    zipfile.BadZipFile,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
)


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines (including custom steps, which must then be
    trusted explicitly on load), in the skops format."""

    name = "sklearn"
    extra = "sklearn"
    trusted_on_registration = (*TREE_TYPES, *_OPTIMIZER_TYPES)

    def can_save(self, model: object) -> bool:
        if sys.modules.get("sklearn") is None:  # not imported, so not a scikit-learn model
            return False
        from sklearn.base import BaseEstimator

        library = type(model).__module__.partition(".")[0]
        return isinstance(model, BaseEstimator) and library not in _NATIVE_LIBRARIES

    def save(self, model: object) -> bytes:
        if not self.can_save(model):
            raise InvalidInputError(
                f"the sklearn flavor stores scikit-learn estimators and pipelines, "
                f"not {type_name(model)}"
            )
        _check_fitted(model)
        skops_io = self._skops()
        try:
            raw = skops_io.dumps(model)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"skops cannot store this {type(model).__name__}: {first_line(exc)}"
            ) from exc
        return canonical_skops(raw)

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        skops_io = self._skops()
        found = self._types_in(data, skops_io)
        refused = [name for name in found if name not in DEFAULT_TRUSTED and name not in trusted]
        if refused:
            raise UntrustedModelError(
                untrusted_message(refused), details={"untrusted_types": refused}
            )
        try:
            model = skops_io.loads(data, trusted=found)
        except _LOAD_ERRORS as exc:
            raise InvalidInputError(
                f"cannot rebuild this scikit-learn model: {first_line(exc)}"
            ) from exc
        return self.wrap(model)

    def untrusted_types(self, data: bytes) -> tuple[str, ...]:
        found = self._types_in(data, self._skops())
        return tuple(name for name in found if name not in DEFAULT_TRUSTED)

    def wrap(self, model: object) -> LoadedModel:
        if not self.can_save(model):
            raise InvalidInputError(
                f"the sklearn flavor serves scikit-learn estimators, not {type_name(model)}"
            )
        names = getattr(model, "feature_names_in_", None)
        return LoadedModel(
            flavor=self.name,
            model=model,
            classes=_classes(model),
            feature_names=tuple(str(name) for name in names) if names is not None else None,
            metadata={"estimator": type_name(model)},
        )

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        estimator: Any = model.model
        features = self.features(model, frame)
        with predicting():
            return np.asarray(estimator.predict(features))

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        estimator: Any = model.model
        if not self.gives_probabilities(model):
            return None
        features = self.features(model, frame)
        with predicting():
            return np.asarray(estimator.predict_proba(features))

    def gives_probabilities(self, model: LoadedModel) -> bool:
        return model.classes is not None and hasattr(model.model, "predict_proba")

    def _skops(self) -> ModuleType:
        try:
            return importlib.import_module("skops.io")
        except ImportError as exc:
            raise self.missing_extra(exc) from exc

    @staticmethod
    def _types_in(data: bytes, skops_io: ModuleType) -> list[str]:
        try:
            found: list[str] = skops_io.get_untrusted_types(data=data)
        except _LOAD_ERRORS as exc:
            raise InvalidInputError(f"not a skops model file: {first_line(exc)}") from exc
        return found


def canonical_skops(raw: bytes) -> bytes:
    """The skops archive ``raw`` rewritten so that its bytes depend only on its content.

    Object ids become 1, 2, 3… in the order they first appear in the schema (shared objects
    keep sharing an id), array files are renamed ``0.npy``, ``1.npy``… in the same order,
    the padding bytes of structured arrays (the nodes of a tree) are zeroed, nested
    ``.npz`` archives (SciPy sparse matrices) are rewritten the same way, and the zip is
    written by :func:`write_archive`. skops reads the result like the original.
    """
    members = read_members(raw)
    schema = json.loads(members.pop(_SCHEMA))
    ids: dict[int, int] = {}
    renamed: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        result: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                result[key] = ids.setdefault(value, len(ids) + 1)
            elif key == "file" and isinstance(value, str) and value in members:
                if value not in renamed:
                    suffix = PurePosixPath(value).suffix
                    renamed[value] = f"{len(renamed)}{suffix}"
                    content = members[value]
                    if suffix == ".npy":
                        content = _zero_padding(content)
                    elif suffix == ".npz":
                        content = write_archive(read_members(content).items())
                    files.append((renamed[value], content))
                result[key] = renamed[value]
            else:
                result[key] = visit(value)
        return result

    canonical = visit(schema)
    unreferenced = sorted(set(members) - set(renamed))
    files.extend((name, members[name]) for name in unreferenced)
    text = json.dumps(canonical, indent=2)
    return write_archive([(_SCHEMA, text.encode()), *files])


def _zero_padding(content: bytes) -> bytes:
    # A structured array's padding bytes hold whatever memory held: a tree saved, loaded
    # and saved again would differ there alone.
    array = np.load(io.BytesIO(content), allow_pickle=False)
    if array.dtype.names is None:
        return content
    buffer = io.BytesIO()
    np.save(buffer, _copy_fields(array), allow_pickle=False)
    return buffer.getvalue()


def _copy_fields(array: np.ndarray) -> np.ndarray:
    clean = np.zeros(array.shape, dtype=array.dtype)  # zeroed memory, padding included
    for name in array.dtype.names or ():
        field = array[name]
        clean[name] = _copy_fields(field) if field.dtype.names is not None else field
    return clean


def _check_fitted(model: object) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(model, "predict"):
        raise InvalidInputError(
            f"a {type(model).__name__} cannot predict; register an estimator or a pipeline "
            "that ends in one"
        )
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidInputError(
            f"this {type(model).__name__} is not fitted; fit it before registering it"
        ) from exc


def _classes(model: object) -> tuple[str | int | float, ...] | None:
    # getattr's default also covers a Pipeline whose last step has no classes
    classes = getattr(model, "classes_", None)
    if classes is None or isinstance(classes, list):  # a list: one array per output
        return None
    return tuple(plain_label(value) for value in np.asarray(classes, dtype=object))
