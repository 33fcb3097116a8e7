"""What changed between two versions of a dataset, from their schemas and profiles alone.

``data diff loans@1 loans@2`` never rereads either table: the profiles hold enough.

The population stability index (PSI) of a numeric column is taken on the OLD version's
drift bins, the bins ``monitor`` takes it on (its equal-mass bins, or its histogram's
when it has none). A version is counted on its parent's drift bins when it is added
(``parent_counts`` in its profile), so diffing a version against its parent compares the
two on the same bins, with the same formula as monitoring (``psi_method="parent_bins"``).
Other pairs, and versions stored before those counts were kept, fall back to the
histograms: when both profiles share the same bin edges the new counts are used as they
are (``psi_method="same_bins"``); otherwise the new histogram is moved onto the old edges
assuming its values spread evenly inside each of its bins, with mass outside the old
range going to the first or last old bin, as :func:`~pathtolive.data.profiling.bin_values`
does for raw values (``psi_method="rebinned"``: an approximation, good to the width of
the new bins, which overstates the PSI of zero-inflated and integer columns). For
categorical columns PSI is computed on the shares of the categories of both profiles
plus one bucket for all other values (``psi_method="categories"``). Shares below
:data:`PSI_FLOOR` are raised to it, so that an empty bin does not make PSI infinite.

Columns are ranked by how much they moved (:attr:`ColumnDiff.movement`): the PSI, or
the change of the null rate when larger.

Columns tagged ``id`` in the new version's schema are not compared: every batch brings
new identifiers, so their spread and PSI say nothing about the data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pathtolive.data.profile import CategoricalStats, ColumnProfile, NumericStats, Profile
from pathtolive.data.schema import Schema, category_listing

__all__ = [
    "PSI_FLOOR",
    "CategoryShift",
    "ColumnDiff",
    "DatasetDiff",
    "PsiMethod",
    "TypeChange",
    "diff_profiles",
    "population_stability_index",
]

PsiMethod = Literal["parent_bins", "same_bins", "rebinned", "categories"]

PSI_FLOOR = 1e-4
"""Smallest share used in PSI, so that an empty bin gives a large but finite term."""

_SHIFTS_KEPT = 5


@dataclass(frozen=True)
class TypeChange:
    """A column whose schema type differs between the versions."""

    column: str
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"column": self.column, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TypeChange:
        """Inverse of :meth:`to_dict`."""
        return cls(data["column"], data["before"], data["after"])


@dataclass(frozen=True)
class CategoryShift:
    """How the share of one category among non-null values moved."""

    value: str
    share_before: float
    share_after: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "value": self.value,
            "share_before": self.share_before,
            "share_after": self.share_after,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoryShift:
        """Inverse of :meth:`to_dict`."""
        return cls(data["value"], data["share_before"], data["share_after"])


@dataclass(frozen=True)
class ColumnDiff:
    """The change of one column present in both versions.

    Numeric statistics are None for non-numeric columns; ``minimum``/``maximum`` are ISO
    strings for datetime columns. ``new_categories`` and ``vanished_categories`` are only
    filled when the profile they are judged against lists every value of the column.
    ``shifts`` holds the largest moves in category share, largest first.
    """

    column: str
    kind: str
    null_rate_before: float
    null_rate_after: float
    mean_before: float | None = None
    mean_after: float | None = None
    std_before: float | None = None
    std_after: float | None = None
    minimum_before: float | str | None = None
    minimum_after: float | str | None = None
    maximum_before: float | str | None = None
    maximum_after: float | str | None = None
    new_categories: tuple[str, ...] = ()
    vanished_categories: tuple[str, ...] = ()
    shifts: tuple[CategoryShift, ...] = ()
    psi: float | None = None
    psi_method: PsiMethod | None = None

    @property
    def movement(self) -> float:
        """How far the column moved: its PSI, or the change of its null rate when larger."""
        nulls = abs(self.null_rate_after - self.null_rate_before)
        return max(self.psi or 0.0, nulls)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "column": self.column,
            "kind": self.kind,
            "null_rate_before": self.null_rate_before,
            "null_rate_after": self.null_rate_after,
            "mean_before": self.mean_before,
            "mean_after": self.mean_after,
            "std_before": self.std_before,
            "std_after": self.std_after,
            "minimum_before": self.minimum_before,
            "minimum_after": self.minimum_after,
            "maximum_before": self.maximum_before,
            "maximum_after": self.maximum_after,
            "new_categories": list(self.new_categories),
            "vanished_categories": list(self.vanished_categories),
            "shifts": [shift.to_dict() for shift in self.shifts],
            "psi": self.psi,
            "psi_method": self.psi_method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDiff:
        """Inverse of :meth:`to_dict`."""
        return cls(
            column=data["column"],
            kind=data["kind"],
            null_rate_before=data["null_rate_before"],
            null_rate_after=data["null_rate_after"],
            mean_before=data["mean_before"],
            mean_after=data["mean_after"],
            std_before=data["std_before"],
            std_after=data["std_after"],
            minimum_before=data["minimum_before"],
            minimum_after=data["minimum_after"],
            maximum_before=data["maximum_before"],
            maximum_after=data["maximum_after"],
            new_categories=tuple(data["new_categories"]),
            vanished_categories=tuple(data["vanished_categories"]),
            shifts=tuple(CategoryShift.from_dict(shift) for shift in data["shifts"]),
            psi=data["psi"],
            psi_method=data["psi_method"],
        )

    def line(self) -> str:
        """One human-readable line, or an empty string when nothing moved."""
        parts: list[str] = []
        if self.null_rate_before != self.null_rate_after:
            parts.append(
                f"nulls {_percent(self.null_rate_before)} → {_percent(self.null_rate_after)}"
            )
        for label, before, after in (
            ("mean", self.mean_before, self.mean_after),
            ("std", self.std_before, self.std_after),
            ("min", self.minimum_before, self.minimum_after),
            ("max", self.maximum_before, self.maximum_after),
        ):
            if before != after:
                plain = _plain(self.column)
                parts.append(f"{label} {_value(before, plain)} → {_value(after, plain)}")
        if self.new_categories:
            parts.append(f"new categories {category_listing(self.new_categories)}")
        if self.vanished_categories:
            parts.append(f"vanished {category_listing(self.vanished_categories)}")
        moved = [shift for shift in self.shifts if shift.share_before != shift.share_after]
        if moved:
            parts.append(
                "largest shifts "
                + ", ".join(
                    f"{shift.value!r} {_percent(shift.share_before)} → "
                    f"{_percent(shift.share_after)}"
                    for shift in moved[:3]
                )
            )
        if not parts:
            return ""
        if self.psi is not None:
            approximate = " (approximate: rebinned)" if self.psi_method == "rebinned" else ""
            parts.append(f"PSI {self.psi:.3f}{approximate}")
        return f"{self.column}: " + "; ".join(parts)


@dataclass(frozen=True)
class DatasetDiff:
    """The difference between two versions of a dataset."""

    rows_before: int
    rows_after: int
    added_columns: tuple[str, ...]
    removed_columns: tuple[str, ...]
    type_changes: tuple[TypeChange, ...]
    columns: tuple[ColumnDiff, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "added_columns": list(self.added_columns),
            "removed_columns": list(self.removed_columns),
            "type_changes": [change.to_dict() for change in self.type_changes],
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetDiff:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rows_before=data["rows_before"],
            rows_after=data["rows_after"],
            added_columns=tuple(data["added_columns"]),
            removed_columns=tuple(data["removed_columns"]),
            type_changes=tuple(TypeChange.from_dict(change) for change in data["type_changes"]),
            columns=tuple(ColumnDiff.from_dict(column) for column in data["columns"]),
        )

    def ranked(self) -> tuple[ColumnDiff, ...]:
        """The columns by how much they moved (:attr:`ColumnDiff.movement`), most first."""
        return tuple(sorted(self.columns, key=lambda column: (-column.movement, column.column)))

    def lines(self) -> list[str]:
        """Human-readable lines: rows, columns added/removed/retyped, then the columns
        that moved, most first."""
        change = self.rows_after - self.rows_before
        relative = f" ({change / self.rows_before:+.1%})" if self.rows_before else ""
        lines = [f"rows: {self.rows_before:,} → {self.rows_after:,}{relative}"]
        lines.extend(f"added column: {name}" for name in self.added_columns)
        lines.extend(f"removed column: {name}" for name in self.removed_columns)
        lines.extend(
            f"type changed: {change.column} {change.before} → {change.after}"
            for change in self.type_changes
        )
        lines.extend(line for column in self.ranked() if (line := column.line()))
        return lines


def diff_profiles(
    old_schema: Schema,
    old_profile: Profile,
    new_schema: Schema,
    new_profile: Profile,
    *,
    counted_on_old: bool = False,
) -> DatasetDiff:
    """Compare two dataset versions by their schemas and profiles (see the module docstring).

    ``counted_on_old``: the new profile's ``parent_counts`` were counted on the old
    version's bins (it is the old version's child)."""
    old_types = {column.name: column.type for column in old_schema.columns}
    new_types = {column.name: column.type for column in new_schema.columns}
    identifiers = {column.name for column in new_schema.columns if "id" in column.tags}
    added = tuple(name for name in new_schema.names if name not in old_types)
    removed = tuple(name for name in old_schema.names if name not in new_types)
    type_changes: list[TypeChange] = []
    columns: list[ColumnDiff] = []
    for name in new_schema.names:
        if name not in old_types:
            continue
        before, after = old_types[name], new_types[name]
        if before != after:
            type_changes.append(TypeChange(name, before, after))
        comparable = (
            before == after
            or {before, after} <= {"integer", "float"}
            or ({before, after} <= {"string", "category"})
        )
        if name in identifiers:
            continue
        if comparable and name in old_profile.names and name in new_profile.names:
            columns.append(
                _column_diff(
                    old_profile.column(name), new_profile.column(name), after, counted_on_old
                )
            )
    return DatasetDiff(
        rows_before=old_profile.rows,
        rows_after=new_profile.rows,
        added_columns=added,
        removed_columns=removed,
        type_changes=tuple(type_changes),
        columns=tuple(columns),
    )


def population_stability_index(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """PSI of two distributions over the same buckets (counts or shares).

    ``sum((a - e) * ln(a / e))`` over the buckets' shares, each share at least
    :data:`PSI_FLOOR`. Zero when either side is empty.
    """
    before = np.asarray(expected, dtype=np.float64)
    after = np.asarray(actual, dtype=np.float64)
    if before.sum() <= 0 or after.sum() <= 0:
        return 0.0
    before = np.maximum(before / before.sum(), PSI_FLOOR)
    after = np.maximum(after / after.sum(), PSI_FLOOR)
    return float(np.sum((after - before) * np.log(after / before)))


def _column_diff(
    old: ColumnProfile, new: ColumnProfile, kind: str, counted_on_old: bool
) -> ColumnDiff:
    diff = ColumnDiff(
        column=new.name,
        kind=kind,
        null_rate_before=_rate(old.nulls, old.count),
        null_rate_after=_rate(new.nulls, new.count),
    )
    if old.numeric is not None and new.numeric is not None:
        return _numeric_diff(diff, old.numeric, new.numeric, counted_on_old)
    if old.categorical is not None and new.categorical is not None:
        return _categorical_diff(diff, old.categorical, new.categorical)
    if old.datetime is not None and new.datetime is not None:
        return replace(
            diff,
            minimum_before=old.datetime.minimum,
            minimum_after=new.datetime.minimum,
            maximum_before=old.datetime.maximum,
            maximum_after=new.datetime.maximum,
        )
    return diff


def _numeric_diff(
    diff: ColumnDiff, old: NumericStats, new: NumericStats, counted_on_old: bool
) -> ColumnDiff:
    psi: float | None = None
    method: PsiMethod | None = None
    reference = old.drift_counts
    counted = new.parent_counts
    if counted_on_old and reference and len(counted) == len(reference) and sum(counted):
        psi, method = population_stability_index(reference, counted), "parent_bins"
    elif old.bin_counts and new.bin_counts:
        if tuple(old.bin_edges) == tuple(new.bin_edges):
            psi, method = population_stability_index(old.bin_counts, new.bin_counts), "same_bins"
        else:
            moved = _rebin(new.bin_edges, new.bin_counts, old.bin_edges)
            psi, method = population_stability_index(old.bin_counts, moved), "rebinned"
    return replace(
        diff,
        mean_before=old.mean,
        mean_after=new.mean,
        std_before=old.std,
        std_after=new.std,
        minimum_before=old.minimum,
        minimum_after=new.minimum,
        maximum_before=old.maximum,
        maximum_after=new.maximum,
        psi=psi,
        psi_method=method,
    )


def _rebin(
    edges: Sequence[float], counts: Sequence[int], target: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Spread ``counts`` on ``edges`` over the ``target`` bins, evenly within each bin."""
    if not (math.isfinite(target[-1] - target[0]) and math.isfinite(edges[-1] - edges[0])):
        # Spans beyond the largest float: halving every edge (exactly) changes no overlap.
        edges, target = [edge * 0.5 for edge in edges], [edge * 0.5 for edge in target]
    low, high = target[0], target[-1]
    bins = len(target) - 1
    result = np.zeros(bins, dtype=np.float64)
    width = (high - low) / bins if high > low else 0.0

    def bin_of(value: float) -> int:
        if width == 0.0:
            return 0
        return min(max(int((value - low) / width), 0), bins - 1)

    for index, count in enumerate(counts):
        if count == 0:
            continue
        start, stop = edges[index], edges[index + 1]
        if stop <= start or width == 0.0:
            result[bin_of(start)] += count
            continue
        # Mass below or above the target range goes to its first or last bin.
        below = max(0.0, min(stop, low) - start) / (stop - start)
        above = max(0.0, stop - max(start, high)) / (stop - start)
        result[0] += count * below
        result[-1] += count * above
        inside_start, inside_stop = max(start, low), min(stop, high)
        if inside_stop <= inside_start:
            continue
        for target_bin in range(bin_of(inside_start), bin_of(inside_stop) + 1):
            bin_start = low + target_bin * width
            bin_stop = high if target_bin == bins - 1 else bin_start + width
            overlap = min(inside_stop, bin_stop) - max(inside_start, bin_start)
            if overlap > 0:
                result[target_bin] += count * overlap / (stop - start)
    return result


def _categorical_diff(diff: ColumnDiff, old: CategoricalStats, new: CategoricalStats) -> ColumnDiff:
    old_counts, new_counts = dict(old.categories), dict(new.categories)
    old_total = sum(old_counts.values()) + old.other_count
    new_total = sum(new_counts.values()) + new.other_count
    new_values = tuple(sorted(set(new_counts) - set(old_counts))) if old.complete else ()
    vanished = tuple(sorted(set(old_counts) - set(new_counts))) if new.complete else ()
    values = sorted(set(old_counts) | set(new_counts))
    # A value missing from a truncated list has an unknown share: compare listed values only.
    shifts = [
        CategoryShift(
            value,
            _rate(old_counts.get(value, 0), old_total),
            _rate(new_counts.get(value, 0), new_total),
        )
        for value in values
        if (value in old_counts or old.complete) and (value in new_counts or new.complete)
    ]
    shifts.sort(key=lambda shift: (-abs(shift.share_after - shift.share_before), shift.value))
    psi: float | None = None
    if old_total and new_total:
        before = [old_counts.get(value, 0) for value in values] + [old.other_count]
        after = [new_counts.get(value, 0) for value in values] + [new.other_count]
        psi = population_stability_index(before, after)
    return replace(
        diff,
        new_categories=new_values,
        vanished_categories=vanished,
        shifts=tuple(shifts[:_SHIFTS_KEPT]),
        psi=psi,
        psi_method="categories" if psi is not None else None,
    )


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _percent(rate: float) -> str:
    return f"{rate:.1%}"


_YEAR_NAME = re.compile(r"(^|[_\W])(year|yr)s?($|[_\W])|year$", re.IGNORECASE)


def _plain(column: str) -> bool:
    """Whether a column's whole numbers are labels rather than amounts (a year: 2015)."""
    return bool(_YEAR_NAME.search(column))


def _value(value: float | str | None, plain: bool = False) -> str:
    """A figure as its meaning reads: whole numbers of four digits or fewer, and every
    whole number of a year-like column, without a thousands separator (2015, 9999), larger
    amounts with one (12,500)."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or float(value).is_integer():
        if abs(value) >= 1e15:
            return repr(value)
        return f"{value:.0f}" if plain or abs(value) < 10_000 else f"{value:,.0f}"
    magnitude = abs(value)
    return f"{value:.4g}" if magnitude < 1e-3 or magnitude >= 1e6 else f"{value:.4f}".rstrip("0")
