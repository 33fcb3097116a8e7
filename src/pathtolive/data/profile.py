"""Profiles: the statistics of a dataset version, computed once when it is added.

A profile is the reference that drift is measured against, so drift never rereads the
training data. This module holds what a profile keeps, as frozen dataclasses that round
trip through JSON; :mod:`pathtolive.data.profiling` computes them in one streaming pass,
and :mod:`pathtolive.data.bins` explains how numeric columns are binned.

- numeric columns (integer, float): count, nulls, NaN and infinite values (floats), min,
  max, mean and standard deviation, a histogram on fixed equal-width bins, and 101
  quantiles p0..p100 of a uniform random sample of at most ``sample_size`` rows, with
  the sample's counts on equal-mass bins. Drift compares new data against the quantiles
  (Kolmogorov-Smirnov) and the equal-mass bins (PSI).
- categorical columns (string, boolean): the most frequent values with their counts, the
  count of the rest, and the number of distinct values (exact up to
  :data:`~pathtolive.data.accumulators.DISTINCT_CAP`, a lower bound beyond). Integers
  are numeric even when they take few values.
- datetime columns (dates, timestamps): count, nulls, min and max as ISO 8601 strings.

Tags change what is kept: a ``pii`` column keeps counts only (no value of it is stored in
the profile), an ``id`` column keeps no category frequencies.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pathtolive.data.formats import Kind
from pathtolive.errors import NotFoundError

__all__ = [
    "QUANTILE_POINTS",
    "CategoricalStats",
    "ColumnProfile",
    "DatetimeStats",
    "NumericStats",
    "Profile",
]

QUANTILE_POINTS = 101
"""Quantiles kept per numeric column: p0, p1, ..., p100."""

_FORMAT_VERSION = 1


@dataclass(frozen=True)
class NumericStats:
    """Statistics of the finite values of a numeric column.

    ``std`` is the sample standard deviation (n - 1). The histogram has ``bin_edges``
    (one more than ``bin_counts``): bins are half-open ``[e_i, e_i+1)`` except the last,
    which is closed. Integer columns that take at most ``bins`` values have one bin per
    integer. ``quantiles`` holds p0..p100 of a sample of ``sample_count`` values.

    ``mass_cuts`` cut the line into the equal-mass bins ``(-inf, c_1)``, ``[c_1, c_2)``,
    ..., ``[c_k, inf)``: at that sample's quantiles 1/bins, ..., (bins-1)/bins, around
    each value that holds half a bin's share or more, and just beyond the minimum and the
    maximum (see :func:`~pathtolive.data.bins.equal_mass_bins`). ``mass_counts`` (one
    more than the cuts) holds the sample's values in each: about equal, the outer two
    empty. Both are empty when the histogram already has one bin per integer (it is then
    exact), and in profiles made before they were kept.

    ``parent_counts`` holds the sample's values counted on the drift bins of the previous
    version of the dataset (its equal-mass bins, or its histogram's when it has none:
    the bins ``monitor`` takes the PSI on), so that ``data diff`` compares the two on the
    same bins; empty for a first version and in profiles made before they were kept
    (:attr:`Profile.counted_on` names that version).
    Statistics are None (and sequences empty) when the column has no finite value.
    """

    minimum: float | None
    maximum: float | None
    mean: float | None
    std: float | None
    quantiles: tuple[float, ...]
    sample_count: int
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    nan_count: int = 0
    inf_count: int = 0
    mass_cuts: tuple[float, ...] = ()
    mass_counts: tuple[int, ...] = ()
    parent_counts: tuple[int, ...] = ()

    @property
    def drift_counts(self) -> tuple[int, ...]:
        """The counts drift takes the PSI on: the equal-mass bins' when there are any,
        else the histogram's."""
        return self.mass_counts or self.bin_counts

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "std": self.std,
            "quantiles": list(self.quantiles),
            "sample_count": self.sample_count,
            "bin_edges": list(self.bin_edges),
            "bin_counts": list(self.bin_counts),
            "nan_count": self.nan_count,
            "inf_count": self.inf_count,
            "mass_cuts": list(self.mass_cuts),
            "mass_counts": list(self.mass_counts),
            "parent_counts": list(self.parent_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            minimum=data["minimum"],
            maximum=data["maximum"],
            mean=data["mean"],
            std=data["std"],
            quantiles=tuple(data["quantiles"]),
            sample_count=data["sample_count"],
            bin_edges=tuple(data["bin_edges"]),
            bin_counts=tuple(data["bin_counts"]),
            nan_count=data.get("nan_count", 0),
            inf_count=data.get("inf_count", 0),
            mass_cuts=tuple(data.get("mass_cuts", ())),
            mass_counts=tuple(data.get("mass_counts", ())),
            parent_counts=tuple(data.get("parent_counts", ())),
        )


@dataclass(frozen=True)
class CategoricalStats:
    """Value frequencies of a string or boolean column (booleans as "true"/"false").

    ``categories`` holds the most frequent values, most frequent first (ties by value),
    and ``other_count`` the non-null values outside them. When the column has more than
    :data:`~pathtolive.data.accumulators.DISTINCT_CAP` distinct values,
    ``distinct_exact`` is False, ``distinct`` is a lower bound, and the counts are those
    of the values that led when the cap was reached. ``categories`` is empty for columns
    tagged ``pii`` or ``id``.
    """

    categories: tuple[tuple[str, int], ...]
    other_count: int
    distinct: int
    distinct_exact: bool

    @property
    def complete(self) -> bool:
        """True when ``categories`` lists every value of the column."""
        return self.distinct_exact and len(self.categories) == self.distinct

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "categories": [[value, count] for value, count in self.categories],
            "other_count": self.other_count,
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            categories=tuple((str(value), int(count)) for value, count in data["categories"]),
            other_count=data["other_count"],
            distinct=data["distinct"],
            distinct_exact=data["distinct_exact"],
        )


@dataclass(frozen=True)
class DatetimeStats:
    """Earliest and latest value of a date or timestamp column, in ISO 8601."""

    minimum: str | None
    maximum: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"minimum": self.minimum, "maximum": self.maximum}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatetimeStats:
        """Inverse of :meth:`to_dict`."""
        return cls(minimum=data["minimum"], maximum=data["maximum"])


@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column: ``count`` rows of which ``nulls`` are null.

    Exactly one of ``numeric``, ``categorical`` and ``datetime`` is set, by ``kind`` —
    except for ``pii`` columns, which keep counts only (and ``distinct`` for categorical
    kinds).
    """

    name: str
    kind: Kind
    count: int
    nulls: int
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    datetime: DatetimeStats | None = None

    @property
    def non_null(self) -> int:
        """Values that are not null (NaN and infinities included)."""
        return self.count - self.nulls

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "numeric": self.numeric.to_dict() if self.numeric else None,
            "categorical": self.categorical.to_dict() if self.categorical else None,
            "datetime": self.datetime.to_dict() if self.datetime else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            kind=data["kind"],
            count=data["count"],
            nulls=data["nulls"],
            numeric=NumericStats.from_dict(data["numeric"]) if data.get("numeric") else None,
            categorical=(
                CategoricalStats.from_dict(data["categorical"]) if data.get("categorical") else None
            ),
            datetime=DatetimeStats.from_dict(data["datetime"]) if data.get("datetime") else None,
        )


@dataclass(frozen=True)
class Profile:
    """The profile of a dataset version: ``rows`` and one :class:`ColumnProfile` per column.

    ``bins``, ``max_categories`` and ``sample_size`` are the settings it was computed with.
    ``counted_on`` is the version of the same dataset whose drift bins the numeric
    columns' ``parent_counts`` were counted on (None: not counted).
    """

    rows: int
    columns: tuple[ColumnProfile, ...]
    bins: int = 20
    max_categories: int = 50
    sample_size: int = 100_000
    counted_on: int | None = None

    def uncounted(self) -> Profile:
        """This profile without counts on another version's bins."""
        if self.counted_on is None:
            return self
        columns = tuple(
            replace(column, numeric=replace(column.numeric, parent_counts=()))
            if column.numeric is not None
            else column
            for column in self.columns
        )
        return replace(self, columns=columns, counted_on=None)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``; ``NotFoundError`` if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFoundError(
            f"no column {name!r} in this profile; its columns are {', '.join(self.names)}"
        )

    def withholding(self, pii: Collection[str]) -> Profile:
        """This profile with the columns named in ``pii`` kept as a ``pii`` tag keeps them
        at add time: counts only (and ``distinct`` for categorical kinds), no value.

        A column becomes PII after its profile was stored when the workspace declares it
        (``[serve] pii_columns``) or a later schema tags it: what shows a profile withholds
        it through this, so that no report depends on when the column was declared."""
        private = set(pii)
        if not private & set(self.names):
            return self
        return replace(
            self,
            columns=tuple(
                _counts_only(column) if column.name in private else column
                for column in self.columns
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (no NaN or infinity), for storage as JSON text."""
        return {
            "format_version": _FORMAT_VERSION,
            "rows": self.rows,
            "bins": self.bins,
            "max_categories": self.max_categories,
            "sample_size": self.sample_size,
            "counted_on": self.counted_on,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rows=data["rows"],
            columns=tuple(ColumnProfile.from_dict(column) for column in data["columns"]),
            bins=data.get("bins", 20),
            max_categories=data.get("max_categories", 50),
            sample_size=data.get("sample_size", 100_000),
            counted_on=data.get("counted_on"),
        )


def _counts_only(column: ColumnProfile) -> ColumnProfile:
    """``column`` as a ``pii`` column's profile is computed: the same counts, no value."""
    stats = column.categorical
    categorical = None
    if stats is not None:
        categorical = CategoricalStats((), column.non_null, stats.distinct, stats.distinct_exact)
    return ColumnProfile(
        column.name, column.kind, column.count, column.nulls, categorical=categorical
    )
