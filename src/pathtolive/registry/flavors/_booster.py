"""What the LightGBM and XGBoost flavors share: one :class:`BoosterFlavor` template, the
archive and the classifier arithmetic.

A booster artifact is a zip (see :mod:`pathtolive.archive`) of two members: ``pathtolive.json``,
what the scikit-learn wrapper knew (estimator class, objective, classes, feature names,
library version), and the booster in the library's own format, readable by the library's
tools once unzipped.

Both libraries store the same way: a bare ``Booster`` or a fitted scikit-learn wrapper
(kept as its booster plus what the wrapper knew), refused when unfitted or trained on a
custom objective, loaded back without pickle and scored through the booster. The template
holds that walk once; a flavor says only where its library differs: how a wrapper gives
its booster, what the booster tells of its objective, classes and feature names, how the
booster is read back and how it scores.
"""

from __future__ import annotations

import abc
import importlib
import json
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError, UnsupportedFormatError
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

__all__ = ["BoosterFacts", "BoosterFlavor", "labels", "most_likely", "probabilities"]

_HEADER = "pathtolive.json"
_FORMAT = 1
_METADATA = ("estimator", "objective", "library_version")


@dataclass(frozen=True)
class BoosterFacts:
    """What a booster tells of itself.

    ``class_count`` is set when the booster alone makes a classifier of classes
    ``0..k-1`` (a bare booster with a classification objective; a classifier wrapper
    brings its own classes); ``feature_names`` is None for a booster fitted on a bare
    array. ``write`` gives the booster in the library's format, called only on save.
    """

    objective: str
    class_count: int | None
    feature_names: list[str] | None
    write: Callable[[], bytes]


class BoosterFlavor(Flavor):
    """A flavor for a gradient-boosting library's ``Booster`` and its scikit-learn
    wrappers, stored in the library's own format."""

    library: ClassVar[str]
    """The library's import name."""
    member: ClassVar[str]
    """The archive member holding the booster."""
    wrapper: ClassVar[str]
    """The library's scikit-learn base class."""
    classifier: ClassVar[str]
    """The library's scikit-learn classifier, whose ``classes_`` are the labels."""
    stores: ClassVar[str]
    """What the flavor stores, as its refusal says."""
    kind: ClassVar[str]
    """The kind of model, with its article, as errors say (``a LightGBM model``)."""

    # The library's part -------------------------------------------------------------

    @abc.abstractmethod
    def fitted_booster(self, wrapper: Any) -> Any | None:
        """The booster of a scikit-learn wrapper; None while it is not fitted."""

    @abc.abstractmethod
    def facts(self, library: ModuleType, model: object, booster: Any) -> BoosterFacts:
        """What ``booster`` (of ``model``, itself or its wrapper) tells of itself."""

    @abc.abstractmethod
    def read(self, library: ModuleType, payload: bytes) -> Any:
        """The booster stored as ``payload``; :meth:`unreadable` when it is not one."""

    @abc.abstractmethod
    def library_error(self, library: ModuleType) -> type[Exception]:
        """What the library raises on input it cannot score."""

    @abc.abstractmethod
    def score(self, model: LoadedModel, features: pd.DataFrame | np.ndarray) -> Any:
        """The booster's raw output on ``features``: values, probabilities or scores."""

    def labels_of(
        self, model: LoadedModel, classes: Sequence[ClassLabel], raw: np.ndarray
    ) -> np.ndarray:
        """The labels of a classifier's raw output: the most probable of ``classes``."""
        return most_likely(classes, probabilities(raw))

    # The shared walk ----------------------------------------------------------------

    def can_save(self, model: object) -> bool:
        if isinstance(model, LoadedModel):
            # One of ours read back (a step output from the cache or a Dask worker).
            return model.flavor == self.name
        found = sys.modules.get(self.library)  # None: not imported, so not one of its models
        if found is None:
            return False
        return isinstance(model, found.Booster | getattr(found, self.wrapper))

    def save(self, model: object) -> bytes:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            return self._save_loaded(model)
        _, facts, metadata = self._describe(model)
        return _pack(self.name, self.member, facts.write(), metadata)

    def _save_loaded(self, model: LoadedModel) -> bytes:
        # The same bytes the wrapper it was loaded from gave: both libraries write a
        # booster they read back exactly as it was, and the header is what was read.
        facts = self.facts(self.imported(), model.model, model.model)
        metadata: dict[str, Any] = {
            **model.metadata,
            "classes": None if model.classes is None else list(model.classes),
            "feature_names": None if model.feature_names is None else list(model.feature_names),
        }
        return _pack(self.name, self.member, facts.write(), metadata)

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        # The native formats hold numbers and names only: nothing in them is a type to trust.
        metadata, payload = _unpack(self.name, self.member, data)
        return self._loaded(self.read(self.imported(), payload), metadata)

    def wrap(self, model: object) -> LoadedModel:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            return model
        booster, _, metadata = self._describe(model)
        return self._loaded(booster, metadata)

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        raw = self._raw(model, frame)
        if model.classes is None:
            return raw
        return self.labels_of(model, model.classes, raw)

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.gives_probabilities(model):
            return None
        return probabilities(self._raw(model, frame))

    def imported(self) -> ModuleType:
        """The library, or the error naming the extra that installs it."""
        try:
            return importlib.import_module(self.library)
        except ImportError as exc:
            raise self.missing_extra(exc) from exc

    def unreadable(self, reason: str) -> InvalidInputError:
        """The error for a payload the library cannot read."""
        return InvalidInputError(f"not {self.kind}: {reason}")

    def custom_objective(self) -> InvalidInputError:
        """The error for a model trained on a custom objective function."""
        return InvalidInputError(
            f"{self.kind} with a custom objective function cannot be stored: its "
            "output is a raw score only that function can interpret"
        )

    def _raw(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        features = self.features(model, frame)
        with predicting(self.library_error(self.imported())):
            return np.asarray(self.score(model, features))

    def _describe(self, model: object) -> tuple[Any, BoosterFacts, dict[str, Any]]:
        if not self.can_save(model):
            raise InvalidInputError(
                f"the {self.name} flavor stores {self.stores}, not {type_name(model)}"
            )
        library = self.imported()
        wrapper: Any = model
        if isinstance(model, getattr(library, self.wrapper)):
            booster = self.fitted_booster(wrapper)
            if booster is None:
                raise InvalidInputError(
                    f"this {type(model).__name__} is not fitted; fit it before registering it"
                )
            if callable(wrapper.objective):
                raise self.custom_objective()
        else:
            booster = wrapper
        facts = self.facts(library, model, booster)
        classes: list[ClassLabel] | None = None
        if isinstance(model, getattr(library, self.classifier)):
            classes = [plain_label(value) for value in wrapper.classes_]
        elif facts.class_count is not None:
            classes = list(range(max(facts.class_count, 2)))
        metadata: dict[str, Any] = {
            "estimator": type(model).__name__,
            "objective": facts.objective,
            "classes": classes,
            "feature_names": facts.feature_names,
            "library_version": library.__version__,
        }
        return booster, facts, metadata

    def _loaded(self, booster: object, metadata: dict[str, Any]) -> LoadedModel:
        classes = metadata.get("classes")
        names = metadata.get("feature_names")
        return LoadedModel(
            flavor=self.name,
            model=booster,
            classes=tuple(classes) if classes is not None else None,
            feature_names=tuple(names) if names is not None else None,
            metadata={key: metadata.get(key) for key in _METADATA},
        )


def probabilities(raw: np.ndarray) -> np.ndarray:
    """One column per class: multiclass output as is, a binary output ``p`` as
    ``[1 - p, p]`` (what the libraries' scikit-learn wrappers return)."""
    if raw.ndim == 2 and raw.shape[1] > 1:
        return raw
    positive = raw.reshape(-1)
    return np.vstack((1.0 - positive, positive)).transpose()


def labels(classes: Sequence[ClassLabel], indices: np.ndarray) -> np.ndarray:
    """The class labels at ``indices``."""
    return np.asarray(np.asarray(classes)[indices])


def most_likely(classes: Sequence[ClassLabel], proba: np.ndarray) -> np.ndarray:
    """The label of the most probable class of each row (the first one on a tie)."""
    return labels(classes, np.argmax(proba, axis=1))


def _pack(flavor: str, member: str, payload: bytes, metadata: dict[str, Any]) -> bytes:
    header = {"flavor": flavor, "format": _FORMAT, **metadata}
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return write_archive([(_HEADER, text.encode()), (member, payload)])


def _unpack(flavor: str, member: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    not_ours = InvalidInputError(
        f"not a pathtolive {flavor} model artifact (a zip with {_HEADER} and {member})"
    )
    try:
        members = read_members(data)
        header = json.loads(members[_HEADER])
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise not_ours from exc
    if not isinstance(header, dict):
        raise not_ours
    if header.get("flavor") != flavor:
        raise InvalidInputError(
            f"this artifact holds a {header.get('flavor')!r} model, not a {flavor} one"
        )
    if header.get("format") != _FORMAT:
        raise UnsupportedFormatError(
            f"this {flavor} artifact has format {header.get('format')!r}; this pathtolive "
            f"reads format {_FORMAT}: upgrade pathtolive"
        )
    if member not in members:
        raise not_ours
    return header, members[member]
