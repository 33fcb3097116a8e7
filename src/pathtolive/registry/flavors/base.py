"""The Flavor seam: how a model object becomes bytes and back, and how it predicts.

A flavor serializes one family of models in a format that cannot run code when loaded
(skops for scikit-learn, the native formats of LightGBM and XGBoost). Loading gives a
:class:`LoadedModel`, which predicts the same way whatever library is behind it:
``predict`` returns labels for a classifier and values for a regressor; ``predict_proba``
returns one column per class, in the order of ``classes``, or None.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pathtolive.errors import InvalidInputError, MissingExtraError, UntrustedModelError
from pathtolive.faces import spelled
from pathtolive.format import first_line, listing

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ClassLabel",
    "Flavor",
    "LoadedModel",
    "UntrustedModelError",
    "missing_columns_error",
    "plain_label",
    "predicting",
    "type_name",
    "untrusted_message",
]

ClassLabel = str | int | float
"""A class label as plain Python (``bool`` is an ``int`` here, as in Python)."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready to predict, whatever library it came from.

    ``model`` is the library's own object: a scikit-learn estimator, or a LightGBM or
    XGBoost ``Booster`` (their scikit-learn wrappers are kept as the booster plus what the
    wrapper knew). ``classes`` orders the columns of :meth:`predict_proba` (None for a
    regressor); ``feature_names`` are the columns the model was fitted on, in order, as
    the library spells them (None when it was fitted on a bare array).
    """

    flavor: str
    model: object
    classes: tuple[ClassLabel, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classifier) or values (regressor), one per row of ``frame``."""
        from pathtolive.registry.flavors import get_flavor

        return get_flavor(self.flavor).predict(self, frame)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, one column per class in ``classes``; None if not a classifier."""
        from pathtolive.registry.flavors import get_flavor

        return get_flavor(self.flavor).predict_proba(self, frame)


class Flavor(abc.ABC):
    """One way of storing a family of models. Implementations: sklearn, lightgbm, xgboost,
    onnx, python."""

    name: ClassVar[str]
    extra: ClassVar[str]
    """The pathtolive extra that installs the flavor's libraries."""
    trusted_on_registration: ClassVar[tuple[str, ...]] = ()
    """Types of :meth:`untrusted_types` that registering a model trusts without being
    told: ones refused on load for what a crafted file could do with them, but that the
    library itself built here, from a fitted model in this process. Any other type needs
    ``trusted=[...]`` at registration, and is audited."""

    @abc.abstractmethod
    def can_save(self, model: object) -> bool:
        """True when ``model`` is of a kind this flavor stores. Never imports a library the
        caller has not imported: a model of that library cannot exist without it."""

    @abc.abstractmethod
    def save(self, model: object) -> bytes:
        """The fitted ``model`` as bytes; the same model gives the same bytes."""

    @abc.abstractmethod
    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        """The model saved in ``data``. Types beyond the flavor's default allow-list load
        only when named in ``trusted``; otherwise :class:`UntrustedModelError`."""

    @abc.abstractmethod
    def wrap(self, model: object) -> LoadedModel:
        """An in-memory fitted ``model`` as a :class:`LoadedModel`, as :meth:`load` would
        give it back after :meth:`save`."""

    @abc.abstractmethod
    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classifier) or values (regressor), one per row of ``frame``."""

    @abc.abstractmethod
    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        """Class probabilities, one column per class; None if the model has none."""

    def gives_probabilities(self, model: LoadedModel) -> bool:
        """True when :meth:`predict_proba` answers for ``model``."""
        return model.classes is not None

    def untrusted_types(self, data: bytes) -> tuple[str, ...]:
        """Types in ``data`` that :meth:`load` refuses unless they are trusted explicitly."""
        return ()

    def input_columns(self, model: LoadedModel, columns: Sequence[str]) -> list[str] | None:
        """The names in ``columns`` that feed the model's features, in the model's order;
        None when the model was fitted without feature names. ``InvalidInputError`` names
        the features ``columns`` lacks."""
        if model.feature_names is None:
            return None
        available = set(columns)
        missing = [name for name in model.feature_names if name not in available]
        if missing:
            raise missing_columns_error(missing)
        return list(model.feature_names)

    def features(self, model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """The part of ``frame`` the model reads: its feature columns in fitting order, or
        the bare values when it was fitted without feature names (then by position)."""
        names = self.input_columns(model, [str(column) for column in frame.columns])
        if names is None:
            expected = self.n_features(model)
            if expected is not None and frame.shape[1] != expected:
                raise InvalidInputError(
                    f"the model expects {expected} columns (it was fitted without column "
                    f"names, so by position) but got {frame.shape[1]}"
                )
            return frame.to_numpy()
        if len(names) == frame.shape[1] and all(
            str(column) == name for column, name in zip(frame.columns, names, strict=True)
        ):
            return frame  # already the model's columns in its order: no copy
        return frame[names]

    def declared_fields(self, model: LoadedModel) -> list[tuple[str, str]] | None:
        """The ``(name, signature type)`` of each input column when the model itself
        declares them (an ONNX graph's inputs); None when only data can tell."""
        return None

    def check_fields(  # noqa: B027 (a hook: most flavors check nothing)
        self, model: LoadedModel, fields: Sequence[tuple[str, str]]
    ) -> None:
        """``InvalidInputError`` when a column of ``(name, signature type)`` ``fields`` has
        a type the model cannot read; models that take any type the server feeds them
        (scikit-learn, the boosters) accept all."""

    def n_features(self, model: LoadedModel) -> int | None:
        """How many features the model reads, where the library says."""
        count = getattr(model.model, "n_features_in_", None)
        return int(count) if count is not None else None

    def missing_extra(self, exc: ImportError) -> MissingExtraError:
        """The error raised when the flavor's library is not installed."""
        library = (exc.name or "a library").partition(".")[0]
        return MissingExtraError(
            f"the {self.name} flavor needs {library}, which is not installed: "
            f"pip install 'pathtolive[{self.extra}]'"
        )


def missing_columns_error(missing: Sequence[str]) -> InvalidInputError:
    """The error for input that lacks some of the model's feature columns."""
    return InvalidInputError(
        f"the input lacks columns the model was fitted on: "
        f"{listing([repr(name) for name in missing], 10)}",
        details={"missing_columns": list(missing)},
    )


@contextmanager
def predicting(*library_errors: type[Exception]) -> Iterator[None]:
    """Turn what a library raises on input it cannot score into ``InvalidInputError``."""
    caught: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, *library_errors)
    try:
        yield
    except caught as exc:
        raise InvalidInputError(
            f"the model cannot predict on this input: {first_line(exc)}"
        ) from exc


def plain_label(value: object) -> ClassLabel:
    """A class label from a NumPy scalar or Python value, as plain ``str``, ``int`` or
    ``float`` (so it survives JSON)."""
    item = value.item() if isinstance(value, np.generic) else value
    if isinstance(item, str | int | float):
        return item
    raise InvalidInputError(
        f"class label {item!r} of type {type(item).__name__} cannot be stored; "
        "use string, integer or float labels"
    )


def type_name(model: object) -> str:
    """``module.QualifiedName`` of the model's type, as users see it in errors."""
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def untrusted_message(refused: Sequence[str]) -> str:
    """The one-line refusal of a model that refers to ``refused`` types, saying how to
    trust them in the words of the caller's face (flags, or a keyword argument)."""
    flags = " ".join(f"--trust {name}" for name in refused)
    return (
        f"the model refers to types pathtolive does not trust by default: "
        f"{', '.join(refused)}; a crafted model could run code or crash the process through "
        f"them. If you trust where this model came from, trust them explicitly: "
        f"{spelled(flags, f'trusted={list(refused)!r}')}"
    )
