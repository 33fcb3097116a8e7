"""A model's signature: the columns it reads and what it answers.

The input types are those of a dataset schema (``integer``, ``float``, ``boolean``,
``string``, ``category``, ``datetime``), so a signature can be checked against the
contract of the data the model is fed. :func:`infer_signature` builds one from a fitted
model and a sample of its input, or from the schema's columns when the caller has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import pandas as pd

from pathtolive.errors import InvalidInputError
from pathtolive.registry.flavors import get_flavor, wrap
from pathtolive.registry.flavors.base import ClassLabel, LoadedModel

__all__ = [
    "FIELD_TYPES",
    "OUTPUT_KINDS",
    "FieldSpec",
    "FieldType",
    "OutputKind",
    "OutputSpec",
    "Signature",
    "declared_signature",
    "infer_signature",
    "output_spec",
]

FieldType = Literal["integer", "float", "boolean", "string", "category", "datetime"]
OutputKind = Literal["class_label", "probability", "regression"]

FIELD_TYPES: tuple[FieldType, ...] = get_args(FieldType)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)

_EXCLUDED_TAGS = ("target", "id")  # never an input: the label, and row identifiers


@dataclass(frozen=True)
class FieldSpec:
    """One input column: its name, type, whether it may be missing, and for a
    ``category`` column the allowed values (None when not known)."""

    name: str
    type: FieldType
    nullable: bool
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "categories": list(self.categories) if self.categories is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldSpec:
        """Inverse of :meth:`to_dict`; ``InvalidInputError`` on a malformed field."""
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"a signature input has no name: {dict(data)!r}")
        kind = data.get("type")
        if kind not in FIELD_TYPES:
            raise InvalidInputError(
                f"signature input {name!r} has the unknown type {kind!r}; "
                f"use one of {', '.join(FIELD_TYPES)}"
            )
        categories = data.get("categories")
        return cls(
            name=name,
            type=cast(FieldType, kind),
            nullable=bool(data.get("nullable", False)),
            categories=tuple(str(value) for value in categories)
            if categories is not None
            else None,
        )


@dataclass(frozen=True)
class OutputSpec:
    """What the model answers: ``probability`` (a classifier with probabilities, one per
    class in ``classes``), ``class_label`` (a classifier without), or ``regression``."""

    kind: OutputKind
    classes: tuple[ClassLabel, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "kind": self.kind,
            "classes": list(self.classes) if self.classes is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputSpec:
        """Inverse of :meth:`to_dict`; ``InvalidInputError`` on a malformed output."""
        kind = data.get("kind")
        if kind not in OUTPUT_KINDS:
            raise InvalidInputError(
                f"signature output has the unknown kind {kind!r}; "
                f"use one of {', '.join(OUTPUT_KINDS)}"
            )
        classes = data.get("classes")
        if classes is not None and (
            not isinstance(classes, list)
            or not all(isinstance(value, str | int | float) for value in classes)
        ):
            raise InvalidInputError(
                f"signature output classes must be a list of labels, not {classes!r}"
            )
        return cls(kind=cast(OutputKind, kind), classes=tuple(classes) if classes else None)


@dataclass(frozen=True)
class Signature:
    """A model's input columns, in the order it was fitted on, and its output."""

    inputs: tuple[FieldSpec, ...]
    output: OutputSpec

    @property
    def input_names(self) -> tuple[str, ...]:
        """The input column names, in order."""
        return tuple(field.name for field in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "inputs": [field.to_dict() for field in self.inputs],
            "output": self.output.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Inverse of :meth:`to_dict`; ``InvalidInputError`` on a malformed signature."""
        inputs = data.get("inputs")
        output = data.get("output")
        if not isinstance(inputs, list) or not isinstance(output, Mapping):
            raise InvalidInputError("a signature needs a list of inputs and an output")
        fields = tuple(
            FieldSpec.from_dict(item) if isinstance(item, Mapping) else _bad_field(item)
            for item in inputs
        )
        _check_unique(field.name for field in fields)
        return cls(inputs=fields, output=OutputSpec.from_dict(output))


def infer_signature(
    model: object,
    sample: pd.DataFrame,
    *,
    schema_columns: Sequence[Mapping[str, Any]] | None = None,
) -> Signature:
    """The signature of a fitted ``model`` (or a loaded one) fed with frames like ``sample``.

    Without ``schema_columns`` the inputs are the sample's columns the model reads, typed
    from their dtypes; a column is nullable when the sample has a missing value in it.
    With a dataset schema's column dicts (``name``, ``type``, ``nullable``,
    ``categories``, ``tags``) the inputs are those columns less the ones tagged ``target``
    or ``id``, typed as the schema says. Either way they follow the order the model was
    fitted on when it knows its feature names; a model fitted on a bare array reads the
    columns by position. The output is ``probability`` for a classifier with
    ``predict_proba``, ``class_label`` for one without, else ``regression``.
    """
    loaded = wrap(model)
    if schema_columns is None:
        columns = {str(name): _field_from_series(str(name), sample[name]) for name in sample}
        excluded: dict[str, str] = {}
    else:
        columns, excluded = _fields_from_schema(schema_columns)
    names = get_flavor(loaded.flavor).input_columns(loaded, [*columns, *excluded])
    if names is None:
        names = list(columns)
        expected = get_flavor(loaded.flavor).n_features(loaded)
        if expected is not None and expected != len(names):
            raise InvalidInputError(
                f"the model reads {expected} columns by position but the "
                f"{'schema' if schema_columns is not None else 'sample'} offers {len(names)}: "
                f"{', '.join(names)}"
            )
    for name in names:
        if name in excluded:
            raise InvalidInputError(
                f"the model was fitted on column {name!r}, which the dataset schema tags "
                f"{excluded[name]!r}; a {excluded[name]} column must not be a feature: refit "
                "the model without it"
            )
    # A model that declares its input types (an ONNX graph) cannot read every column.
    get_flavor(loaded.flavor).check_fields(loaded, [(name, columns[name].type) for name in names])
    return Signature(inputs=tuple(columns[name] for name in names), output=output_spec(loaded))


def declared_signature(model: object) -> Signature | None:
    """The signature a fitted or loaded ``model`` declares by itself (an ONNX graph with one
    input per column: their names and types, none nullable); None when only its data can
    tell (then :func:`infer_signature` with a sample or the dataset's schema)."""
    loaded = wrap(model)
    fields = get_flavor(loaded.flavor).declared_fields(loaded)
    if fields is None:
        return None
    inputs = tuple(
        FieldSpec(name=name, type=cast(FieldType, kind), nullable=False) for name, kind in fields
    )
    return Signature(inputs=inputs, output=output_spec(loaded))


def output_spec(model: object) -> OutputSpec:
    """What a fitted or loaded ``model`` answers (see :class:`OutputSpec`)."""
    loaded: LoadedModel = wrap(model)
    if loaded.classes is None:
        return OutputSpec(kind="regression")
    if get_flavor(loaded.flavor).gives_probabilities(loaded):
        return OutputSpec(kind="probability", classes=loaded.classes)
    return OutputSpec(kind="class_label", classes=loaded.classes)


def _fields_from_schema(
    schema_columns: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, FieldSpec], dict[str, str]]:
    fields: dict[str, FieldSpec] = {}
    excluded: dict[str, str] = {}
    for column in schema_columns:
        field = FieldSpec.from_dict(column)
        if field.name in fields or field.name in excluded:
            raise InvalidInputError(f"the schema lists column {field.name!r} twice")
        tags = [tag for tag in _EXCLUDED_TAGS if tag in column.get("tags", ())]
        if tags:
            excluded[field.name] = tags[0]
        else:
            fields[field.name] = field
    return fields, excluded


def _field_from_series(name: str, series: pd.Series) -> FieldSpec:
    dtype = series.dtype
    categories: tuple[str, ...] | None = None
    kind: FieldType
    if isinstance(dtype, pd.CategoricalDtype):
        kind = "category"
        categories = tuple(str(value) for value in dtype.categories)
    elif pd.api.types.is_bool_dtype(dtype):
        kind = "boolean"
    elif pd.api.types.is_integer_dtype(dtype):
        kind = "integer"
    elif pd.api.types.is_float_dtype(dtype):
        kind = "float"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        kind = "datetime"
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        kind = "string"
    else:
        raise InvalidInputError(
            f"column {name!r} has the dtype {dtype}, which a signature cannot describe; "
            f"use one of {', '.join(FIELD_TYPES)}"
        )
    return FieldSpec(
        name=name, type=kind, nullable=bool(series.isna().any()), categories=categories
    )


def _check_unique(names: Any) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"the signature lists input {name!r} twice")
        seen.add(name)


def _bad_field(item: object) -> FieldSpec:
    raise InvalidInputError(f"a signature input must be an object, not {item!r}")
