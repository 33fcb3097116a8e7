"""The data contract of a dataset: its schema, how it is inferred and how it changes.

A :class:`Schema` is inferred from the first version of a dataset and then versioned.
Every later version is validated against it (:mod:`pathtolive.data.validation`), and a
proposed new schema is classified against the old one by :func:`classify_change`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import pyarrow as pa

from pathtolive.config import COLUMN_TAGS
from pathtolive.data.formats import column_kind
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.format import exact, listing

if TYPE_CHECKING:
    from pathtolive.data.profile import ColumnProfile, Profile

__all__ = [
    "COLUMN_TYPES",
    "Change",
    "ChangeKind",
    "ColumnSchema",
    "ColumnType",
    "DeclaredBounds",
    "Schema",
    "SchemaChange",
    "Strength",
    "category_listing",
    "check_tags",
    "classify_change",
    "id_tags",
    "infer_schema",
    "merge_accepting",
    "range_text",
]

ColumnType = Literal["integer", "float", "boolean", "string", "category", "datetime"]
ChangeKind = Literal["none", "compatible", "breaking"]
Strength = Literal["hard", "soft"]
"""How a check is enforced: a hard one refuses the version, a soft one reports."""

COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)

_FORMAT_VERSION = 1
_STRUCTURAL_TAGS = ("target", "id")


@dataclass(frozen=True)
class ColumnSchema:
    """The contract of one column.

    ``minimum``/``maximum`` bound numeric columns (None: unbounded); ``categories`` lists
    the allowed values of a ``category`` column. For a float column ``nullable`` also
    allows NaN and infinite values: pandas writes a missing float as NaN.

    A bound is *hard* (a value beyond it refuses the version) or *soft* (``minimum_soft``,
    ``maximum_soft``: a value beyond it is reported and left to drift). Inferred bounds
    are soft: they are only what the first data happened to hold. Declared bounds
    (``[datasets.NAME.columns.COL]``, ``data schema set``) are hard, and so are the bounds
    of schemas stored before bounds had a strength: they keep what they were given.
    """

    name: str
    type: ColumnType
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    minimum_soft: bool = False
    maximum_soft: bool = False

    def __post_init__(self) -> None:
        # Only a bound that exists has a strength: keeps equal contracts equal.
        if self.minimum is None and self.minimum_soft:
            object.__setattr__(self, "minimum_soft", False)
        if self.maximum is None and self.maximum_soft:
            object.__setattr__(self, "maximum_soft", False)

    def softened(self) -> ColumnSchema:
        """This column with both its bounds soft."""
        return replace(
            self, minimum_soft=self.minimum is not None, maximum_soft=self.maximum is not None
        )

    def bound_strength(self, side: Literal["minimum", "maximum"]) -> Strength:
        """``hard`` or ``soft``: how a value beyond the bound on ``side`` is treated."""
        soft = self.minimum_soft if side == "minimum" else self.maximum_soft
        return "soft" if soft else "hard"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "categories": list(self.categories) if self.categories is not None else None,
            "tags": list(self.tags),
            "minimum_check": None if self.minimum is None else self.bound_strength("minimum"),
            "maximum_check": None if self.maximum is None else self.bound_strength("maximum"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSchema:
        """Inverse of :meth:`to_dict`; rejects unknown types and tags. A bound stored
        without its strength (a schema stored before bounds had one) is hard."""
        if data["type"] not in COLUMN_TYPES:
            raise InvalidInputError(
                f"column {data['name']!r} has the unknown type {data['type']!r}; "
                f"use one of {', '.join(COLUMN_TYPES)}"
            )
        categories = data.get("categories")
        tags = tuple(data.get("tags", ()))
        _check_tag_names(data["name"], tags)
        return cls(
            name=data["name"],
            type=data["type"],
            nullable=bool(data["nullable"]),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            categories=tuple(categories) if categories is not None else None,
            tags=tags,
            minimum_soft=data.get("minimum_check") == "soft",
            maximum_soft=data.get("maximum_check") == "soft",
        )


@dataclass(frozen=True)
class Schema:
    """The data contract of a dataset: one :class:`ColumnSchema` per column, in order."""

    columns: tuple[ColumnSchema, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnSchema:
        """The contract of column ``name``; ``NotFoundError`` if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFoundError(
            f"no column {name!r} in this schema; its columns are {', '.join(self.names)}"
        )

    def tagged(self, tag: str) -> tuple[str, ...]:
        """Names of the columns that carry ``tag``."""
        return tuple(column.name for column in self.columns if tag in column.tags)

    def withholding(self, pii: Collection[str]) -> Schema:
        """This schema as it is shown when the columns named in ``pii`` are PII: their
        bounds and allowed categories (values of the column) left out, as for a column
        inferred with a ``pii`` tag. For display only: it is no contract to validate by."""
        private = set(pii)
        if not private & set(self.names):
            return self
        return Schema(
            tuple(
                replace(column, minimum=None, maximum=None, categories=None)
                if column.name in private
                else column
                for column in self.columns
            )
        )

    def declaring(self, bounds: Mapping[str, DeclaredBounds], *, where: str) -> Schema:
        """This schema with ``bounds`` (column → (min, max), None: not declared) set as
        hard bounds; a side not declared keeps its stored bound. ``where`` names the
        declaration in the one-line error for a column that is not in the schema or is
        not numeric."""
        if not bounds:
            return self
        by_name = {column.name: column for column in self.columns}
        for name in bounds:
            column = by_name.get(name)
            if column is None:
                raise InvalidInputError(
                    f"{where} declares bounds for {name!r}, which is not a column; the "
                    f"columns are {listing(list(self.names), 10)}"
                )
            if column.type not in ("integer", "float"):
                raise InvalidInputError(
                    f"{where} declares bounds for {name!r}, a {column.type} column; bounds "
                    "apply to integer and float columns only"
                )
        return Schema(
            tuple(
                _declared(column, bounds[column.name]) if column.name in bounds else column
                for column in self.columns
            )
        )

    def softened(self, columns: Collection[str] | None = None) -> Schema:
        """This schema with the bounds of ``columns`` (every column: None) soft."""
        if columns is not None:
            for name in columns:
                self.column(name)  # NotFoundError naming the columns
        return Schema(
            tuple(
                column.softened() if columns is None or column.name in columns else column
                for column in self.columns
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for storage as JSON text."""
        return {
            "format_version": _FORMAT_VERSION,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`."""
        return cls(columns=tuple(ColumnSchema.from_dict(column) for column in data["columns"]))


DeclaredBounds = tuple[float | None, float | None]
"""A column's declared (minimum, maximum); None: that side is not declared."""


def _declared(column: ColumnSchema, bounds: DeclaredBounds) -> ColumnSchema:
    minimum, maximum = bounds
    if minimum is not None:
        column = replace(column, minimum=float(minimum), minimum_soft=False)
    if maximum is not None:
        column = replace(column, maximum=float(maximum), maximum_soft=False)
    return column


@dataclass(frozen=True)
class Change:
    """One difference between two schemas, and whether it breaks consumers."""

    column: str
    description: str
    breaking: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"column": self.column, "description": self.description, "breaking": self.breaking}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """Inverse of :meth:`to_dict`."""
        return cls(data["column"], data["description"], bool(data["breaking"]))


@dataclass(frozen=True)
class SchemaChange:
    """The classified difference between an old and a new schema."""

    kind: ChangeKind
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> tuple[Change, ...]:
        """The changes that break consumers."""
        return tuple(change for change in self.changes if change.breaking)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"kind": self.kind, "changes": [change.to_dict() for change in self.changes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchemaChange:
        """Inverse of :meth:`to_dict`."""
        return cls(data["kind"], tuple(Change.from_dict(change) for change in data["changes"]))


def check_tags(
    tags: Mapping[str, Sequence[str]], columns: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Validate a column → tags mapping against the table's columns; return it normalised.

    Tags of a column come back sorted and without repeats. Raises ``InvalidInputError``
    naming the valid tags or columns.
    """
    known = set(columns)
    normalised: dict[str, tuple[str, ...]] = {}
    for column, column_tags in tags.items():
        if column not in known:
            raise InvalidInputError(
                f"cannot tag {column!r}: there is no such column; the columns are "
                f"{', '.join(columns)}"
            )
        if isinstance(column_tags, str):
            column_tags = (column_tags,)
        _check_tag_names(column, column_tags)
        normalised[column] = tuple(sorted(set(column_tags)))
    for tag in _STRUCTURAL_TAGS:
        holders = [column for column, column_tags in normalised.items() if tag in column_tags]
        if tag == "target" and len(holders) > 1:
            raise InvalidInputError(
                f"only one column can be the target, not {', '.join(holders)}; tag one of them"
            )
    return normalised


def _check_tag_names(column: str, tags: Sequence[str]) -> None:
    for tag in tags:
        if tag not in COLUMN_TAGS:
            raise InvalidInputError(
                f"unknown tag {tag!r} on column {column!r}; the tags are {', '.join(COLUMN_TAGS)}"
            )


_ID_NAME = re.compile(r"^(id|.+_id|.+Id|.+ID)$")


def id_tags(
    arrow_schema: pa.Schema, tags: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """``id`` tags for integer or string columns named like identifiers (``id``,
    ``loan_id``, ``loanId``) that the caller did not tag. An identifier grows with every
    batch, so a range or a category list inferred from it would refuse the next batch."""
    found: dict[str, tuple[str, ...]] = {}
    for field in arrow_schema:
        if field.name in tags or not _ID_NAME.match(field.name):
            continue
        if column_kind(field.type) in ("integer", "string"):
            found[field.name] = ("id",)
    return found


def infer_schema(
    arrow_schema: pa.Schema,
    profile: Profile,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    max_categories: int = 50,
) -> Schema:
    """Infer the contract of a dataset from its first version.

    - types follow the Arrow types; a string column becomes a ``category`` when it has at
      most ``max_categories`` distinct values, every one of them is listed in the profile,
      its values repeat (at most half as many distinct values as values), and it is not
      tagged ``id`` or ``pii``;
    - a column is nullable when the profile saw a null in it (for floats: or a NaN or an
      infinite value);
    - numeric columns are bounded by the observed min and max, except ``id`` columns;
      these bounds are soft (see :class:`ColumnSchema`).
    """
    tag_map = check_tags(tags or {}, arrow_schema.names)
    if tuple(arrow_schema.names) != profile.names:
        raise InvalidInputError(
            "the profile does not belong to this table (its columns differ); "
            "profile the same file the schema is inferred from"
        )
    columns = tuple(
        _infer_column(
            field, profile.column(field.name), tag_map.get(field.name, ()), max_categories
        )
        for field in arrow_schema
    )
    return Schema(columns)


def _infer_column(
    field: pa.Field, profile: ColumnProfile, tags: tuple[str, ...], max_categories: int
) -> ColumnSchema:
    kind = column_kind(field.type)
    if kind is None:
        raise InvalidInputError(
            f"column {field.name!r} has type {field.type}, which pathtolive does not support"
        )
    nullable = profile.nulls > 0
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    column_type: ColumnType = kind
    numeric = profile.numeric
    if numeric is not None:
        nullable = nullable or numeric.nan_count > 0 or numeric.inf_count > 0
        if "id" not in tags:
            minimum, maximum = numeric.minimum, numeric.maximum
    stats = profile.categorical
    if (
        kind == "string"
        and stats is not None
        and stats.complete
        and 0 < stats.distinct <= max_categories
        and stats.distinct * 2 <= profile.non_null
        and not {"id", "pii"} & set(tags)
    ):
        column_type = "category"
        categories = tuple(sorted(value for value, _ in stats.categories))
    return ColumnSchema(
        field.name,
        column_type,
        nullable,
        minimum,
        maximum,
        categories,
        tags,
        minimum_soft=True,
        maximum_soft=True,
    )


def merge_accepting(
    old: Schema,
    arrow_schema: pa.Schema,
    profile: Profile,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    max_categories: int = 50,
) -> Schema:
    """The schema that accepts a new version as well as the data the old schema accepted.

    Used by ``data schema accept``. Columns and types come from the new data; where a
    column keeps its type, the contract is widened to admit both: the range is the union
    of the old and new ranges, the categories the union of both lists, and the column is
    nullable if either was. Tags of kept columns carry over from the old schema;
    ``tags`` adds or replaces tags for the columns it names.
    """
    new_tags = check_tags(tags or {}, arrow_schema.names)
    carried = {
        column.name: column.tags
        for column in old.columns
        if column.name in arrow_schema.names and column.tags
    }
    merged_tags = {**carried, **new_tags}
    inferred = infer_schema(arrow_schema, profile, tags=merged_tags, max_categories=max_categories)
    old_by_name = {column.name: column for column in old.columns}
    columns = []
    for column in inferred.columns:
        before = old_by_name.get(column.name)
        if before is None:
            columns.append(column)
        else:
            columns.append(_widen(before, column, profile.column(column.name)))
    return Schema(tuple(columns))


def _widen(old: ColumnSchema, new: ColumnSchema, profile: ColumnProfile) -> ColumnSchema:
    nullable = old.nullable or new.nullable
    numeric = ("integer", "float")
    if old.type in numeric and new.type in numeric:
        has_values = profile.numeric is not None and profile.numeric.minimum is not None
        # A widened bound keeps the strength it had: accepting new data moves a bound,
        # it does not turn a hard one soft.
        widened = replace(
            new,
            type="float" if "float" in (old.type, new.type) else "integer",
            nullable=nullable,
            minimum_soft=old.minimum_soft,
            maximum_soft=old.maximum_soft,
        )
        if "id" in new.tags or not has_values:
            # No new values: the old bounds stand (id columns have none).
            return replace(widened, minimum=old.minimum, maximum=old.maximum)
        return replace(
            widened,
            minimum=_union_bound(old.minimum, new.minimum, min),
            maximum=_union_bound(old.maximum, new.maximum, max),
        )
    stats = profile.categorical
    # A category column stays one while the new data still lists all its values.
    still_listed = new.type == "category" or (stats is not None and stats.complete)
    if old.type == "category" and new.type in ("category", "string") and still_listed:
        seen = {value for value, _ in stats.categories} if stats is not None else set()
        union = set(old.categories or ()) | set(new.categories or ()) | seen
        return replace(new, type="category", nullable=nullable, categories=tuple(sorted(union)))
    if old.type == new.type:
        return replace(new, nullable=nullable)
    return new


def _union_bound(old: float | None, new: float | None, pick: Any) -> float | None:
    # An unbounded side (None) stays unbounded.
    if old is None or new is None:
        return None
    return cast(float, pick(old, new))


def classify_change(old: Schema, new: Schema) -> SchemaChange:
    """Classify how ``new`` differs from ``old``: ``none``, ``compatible`` or ``breaking``.

    A change is *breaking* when a consumer built on data of the old schema (a trained
    model, a pipeline step) may fail on data that meets the new one:

    ============================================  ===========
    change                                         breaking?
    ============================================  ===========
    column removed                                 yes
    column added                                   no (consumers select their columns)
    type changed                                   yes, except integer → float (widening)
                                                   and category ↔ string (still text)
    nullable false → true                          yes (many models reject nulls)
    nullable true → false                          no
    range widened or narrowed                      no
    a bound made soft or hard                      no
    categories added or removed                    no (unseen values are drift, and the
                                                   contract already flags them)
    ``target`` or ``id`` tag moved, added, removed  yes (labels and keys change meaning)
    ``pii`` tag removed                            yes (values would stop being protected)
    ``pii`` tag added, ``timestamp`` tag changed   no
    ============================================  ===========

    The result is ``breaking`` if any change is, ``compatible`` if there are only
    compatible changes, and ``none`` if the schemas are equal (column order is ignored).
    """
    changes: list[Change] = []
    new_by_name = {column.name: column for column in new.columns}
    old_by_name = {column.name: column for column in old.columns}
    for column in old.columns:
        if column.name not in new_by_name:
            changes.append(Change(column.name, f"column {column.name!r} removed", True))
    for column in new.columns:
        before = old_by_name.get(column.name)
        if before is None:
            nullable = "nullable" if column.nullable else "not nullable"
            changes.append(
                Change(
                    column.name, f"column {column.name!r} added ({column.type}, {nullable})", False
                )
            )
        else:
            changes.extend(_column_changes(before, column))
    if not changes:
        return SchemaChange("none", ())
    kind: ChangeKind = "breaking" if any(change.breaking for change in changes) else "compatible"
    return SchemaChange(kind, tuple(changes))


def _column_changes(old: ColumnSchema, new: ColumnSchema) -> list[Change]:
    name = old.name
    quoted = repr(name)
    changes: list[Change] = []
    if old.type != new.type:
        widening = (old.type, new.type) in (
            ("integer", "float"),
            ("category", "string"),
            ("string", "category"),
        )
        changes.append(Change(name, f"column {quoted}: type {old.type} → {new.type}", not widening))
    if old.nullable != new.nullable:
        if new.nullable:
            changes.append(Change(name, f"column {quoted} may now be null", True))
        else:
            changes.append(Change(name, f"column {quoted} is no longer nullable", False))
    if (old.minimum, old.maximum) != (new.minimum, new.maximum):
        changes.append(
            Change(
                name,
                f"column {quoted}: range {_range(old)} → {_range(new)}",
                False,
            )
        )
    for side in ("minimum", "maximum"):
        before, after = old.bound_strength(side), new.bound_strength(side)
        if getattr(old, side) is not None and getattr(new, side) is not None and before != after:
            changes.append(Change(name, f"column {quoted}: {side} check {before} → {after}", False))
    if old.categories is not None and new.categories is not None:
        added = sorted(set(new.categories) - set(old.categories))
        removed = sorted(set(old.categories) - set(new.categories))
        if added:
            changes.append(
                Change(name, f"column {quoted}: new categories {category_listing(added)}", False)
            )
        if removed:
            changes.append(
                Change(
                    name, f"column {quoted}: categories dropped {category_listing(removed)}", False
                )
            )
    for tag in sorted(set(old.tags) | set(new.tags)):
        if (tag in old.tags) == (tag in new.tags):
            continue
        gained = tag in new.tags
        breaking = tag in _STRUCTURAL_TAGS or (tag == "pii" and not gained)
        verb = "gains" if gained else "loses"
        changes.append(Change(name, f"column {quoted} {verb} the tag {tag!r}", breaking))
    return changes


def _range(column: ColumnSchema) -> str:
    low = "-∞" if column.minimum is None else exact(column.minimum)
    high = "∞" if column.maximum is None else exact(column.maximum)
    return f"[{low}, {high}]"


def range_text(column: ColumnSchema, shown: Any = exact) -> str:
    """A column's range with each bound's strength, e.g. ``[0 hard, 95 soft]``; ``shown``
    formats a bound. Empty for a column without bounds."""
    if column.minimum is None and column.maximum is None:
        return ""
    low, high = "-∞", "∞"
    if column.minimum is not None:
        low = f"{shown(column.minimum)} {column.bound_strength('minimum')}"
    if column.maximum is not None:
        high = f"{shown(column.maximum)} {column.bound_strength('maximum')}"
    return f"[{low}, {high}]"


def category_listing(values: Sequence[str]) -> str:
    """Categories for a one-line message: quoted, the first five and a count of the rest."""
    return listing([repr(value) for value in values], 5)
