"""A table stored as partitions: a folder of Parquet files, read, hashed, validated and
profiled one partition at a time, in this process or in parallel on a Dask cluster.

Each partition is kept as it is (a Parquet file is its own canonical form), so a
partitioned dataset version is content-addressed by its partitions' digests in order: its
digest is that of its manifest (:func:`partition_manifest`), a small JSON object naming
each partition's digest, rows and bytes in order. Its profile is merged from
per-partition accumulators (:mod:`pathtolive.data.accumulators`) in two passes:

1. per partition, its rows, its digest and the min and max of each numeric column (from
   the footer, or a scan when the footer lacks them): merged, they fix the histogram
   edges and the sampled row positions exactly as one pass over the concatenated rows
   would (:func:`~pathtolive.data.profiling.sample_positions` over the total rows);
2. per partition, the accumulators fed its rows, each numeric one also the sampled
   positions that fall in the partition; merged in partition order.

The merged profile therefore equals the single-process profile of the same rows: counts,
null counts, min and max, histogram counts and category counts exactly, and quantiles
and equal-mass cuts exactly too (they are taken of the same sample); only mean and
standard deviation differ, by floating-point rounding of the merge order.

:func:`parquet_partitions` and :func:`read_partitions` are the reusable folder reader.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from pathtolive.compute.ordered import map_ordered
from pathtolive.data.accumulators import ColumnAccumulator, scan_ranges
from pathtolive.data.canonical import folder_files
from pathtolive.data.formats import (
    check_columns,
    iter_batches,
    open_parquet,
    unnamed_pandas_index,
)
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import (
    check_settings,
    feed,
    finish_profile,
    footer_range,
    new_accumulators,
    numeric_columns,
    sample_positions,
)
from pathtolive.data.schema import Schema, check_tags
from pathtolive.data.validation import ValidationReport, Violation, validate
from pathtolive.errors import InvalidInputError
from pathtolive.hashing import hash_bytes, hash_file

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "MANIFEST_FORMAT",
    "MAX_PARTITIONS",
    "PARTITIONED_FORMAT",
    "ManifestEntry",
    "PartitionFacts",
    "PartitionedProfile",
    "is_parquet_folder",
    "parquet_partitions",
    "partition_manifest",
    "partitioned_digest",
    "partitions_frame",
    "profile_partitions",
    "read_manifest",
    "read_partitions",
    "validate_partitions",
]

_PARQUET_SUFFIXES = (".parquet", ".pq")

PARTITIONED_FORMAT: Final = "partitions"
"""The ``source_format`` of a dataset version stored as partitions."""

MANIFEST_FORMAT = "pathtolive.partitions/1"
"""The ``format`` field of a partition manifest."""

MAX_PARTITIONS = 2000
"""Partitions one version may have: its manifest stays small enough (under 256 KiB) for
garbage collection to read the partitions it names."""

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PartitionFacts:
    """What the first pass learns of one partition."""

    path: str
    rows: int
    digest: str
    size: int
    schema: pa.Schema
    ranges: Mapping[str, tuple[float, float] | None]


@dataclass(frozen=True)
class PartitionedProfile:
    """A partitioned table's partitions (in order), its digest and its merged profile."""

    partitions: tuple[PartitionFacts, ...]
    digest: str
    profile: Profile

    @property
    def rows(self) -> int:
        return sum(partition.rows for partition in self.partitions)

    @property
    def schema(self) -> pa.Schema:
        return self.partitions[0].schema


class ManifestEntry(NamedTuple):
    """One partition as a manifest names it."""

    digest: str
    rows: int
    bytes: int


def is_parquet_folder(source: object) -> bool:
    """Whether ``source`` is a folder whose data files are all Parquet (a partitioned
    table), rather than a file or a folder of text files."""
    if not isinstance(source, Path) or not source.is_dir():
        return False
    names = [
        entry.name.lower()
        for entry in source.iterdir()
        if entry.is_file() and not entry.name.startswith((".", "_"))
    ]
    return bool(names) and all(name.endswith(_PARQUET_SUFFIXES) for name in names)


def parquet_partitions(folder: Path) -> list[Path]:
    """The Parquet files of ``folder`` in name order (names starting with "." or "_" are
    bookkeeping and skipped); anything else in it is an ``InvalidInputError``."""
    files = folder_files(Path(folder))
    others = [file.name for file in files if not file.name.lower().endswith(_PARQUET_SUFFIXES)]
    if others:
        raise InvalidInputError(
            f"folder {folder} holds {others[0]!r}, which is not a Parquet file; a "
            "partitioned dataset is a folder of .parquet files only"
        )
    return files


def read_partitions(
    paths: Sequence[Path], columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The rows of ``paths`` in order, one record batch at a time (memory flat)."""
    for path in paths:
        parquet = open_parquet(path)
        try:
            yield from iter_batches(parquet, columns, label=str(path))
        finally:
            parquet.close()


def partitions_frame(paths: Sequence[Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The partitions concatenated in order into one DataFrame."""
    batches = list(read_partitions(paths, columns))
    frame: pd.DataFrame = pa.Table.from_batches(batches).to_pandas()
    return frame


def partition_manifest(partitions: Iterable[PartitionFacts | ManifestEntry]) -> bytes:
    """The manifest of a partitioned version: its partitions' digests, rows and bytes in
    order, as compact JSON whose bytes depend on nothing else."""
    entries = [
        [part.digest, part.rows, part.size if isinstance(part, PartitionFacts) else part.bytes]
        for part in partitions
    ]
    document = {"format": MANIFEST_FORMAT, "partitions": entries}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def partitioned_digest(partitions: Iterable[PartitionFacts | ManifestEntry]) -> str:
    """A partitioned version's digest: that of its manifest, so of its partitions'
    digests in order."""
    return hash_bytes(partition_manifest(partitions))


def read_manifest(data: bytes) -> list[ManifestEntry]:
    """The partitions a manifest names, in order."""
    try:
        document = json.loads(data)
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError(document.get("format"))
        return [ManifestEntry(str(d), int(r), int(b)) for d, r, b in document["partitions"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(
            f"a partitioned version's manifest is not {MANIFEST_FORMAT} ({exc}); "
            "this version was written by another release: upgrade pathtolive"
        ) from exc


def profile_partitions(
    paths: Sequence[Path],
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
    parent: tuple[int, Profile] | None = None,
    client: Client | None = None,
) -> PartitionedProfile:
    """Hash and profile the partitions ``paths`` (see the module docstring): on the
    cluster of ``client`` when given, else here one partition at a time."""
    check_settings(bins, max_categories, sample_size)
    if not paths:
        raise InvalidInputError("no partitions to profile; a dataset needs at least one file")
    if len(paths) > MAX_PARTITIONS:
        raise InvalidInputError(
            f"{len(paths):,} partitions is more than {MAX_PARTITIONS:,}; write the data as "
            "fewer, larger Parquet files (100 MB to 1 GB each suits most clusters)"
        )
    first = open_parquet(paths[0])
    schema = first.schema_arrow
    first.close()
    check_columns(schema, str(paths[0]))
    tag_map = check_tags(tags or {}, schema.names)
    numeric = numeric_columns(schema, tag_map)
    facts = list(map_ordered(_PartitionFirstPass(tuple(numeric)), [str(p) for p in paths], client))
    for fact in facts:
        _check_same_schema(schema, fact, paths[0])
    rows = sum(fact.rows for fact in facts)
    if rows == 0:
        raise InvalidInputError(f"{paths[0].parent} has no rows; a dataset needs at least one")
    ranges = {name: _merged_range(fact.ranges[name] for fact in facts) for name in numeric}
    positions = sample_positions(rows, sample_size)
    tasks: list[tuple[str, npt.NDArray[np.int64]]] = []
    start = 0
    for fact in facts:
        low, high = np.searchsorted(positions, (start, start + fact.rows))
        tasks.append((fact.path, positions[low:high] - start))
        start += fact.rows
    second = _PartitionSecondPass(schema, ranges, tag_map, bins, max_categories, parent)
    merged: list[ColumnAccumulator] | None = None
    for accumulators in map_ordered(second, tasks, client):
        if merged is None:
            merged = accumulators
            continue
        for total, part in zip(merged, accumulators, strict=True):
            total.merge(part)
    assert merged is not None
    profile = finish_profile(merged, rows, bins, max_categories, sample_size, parent)
    return PartitionedProfile(tuple(facts), partitioned_digest(facts), profile)


def validate_partitions(
    paths: Sequence[Path],
    schema: Schema,
    *,
    private: Sequence[str] = (),
    unseen_categories: Any = "refuse",
    client: Client | None = None,
) -> ValidationReport:
    """Validate every partition against ``schema`` (on the cluster of ``client`` when
    given); a violation's message names its partition. Checks span one partition at a
    time."""
    check = _PartitionValidation(schema, tuple(private), unseen_categories)
    reports = list(map_ordered(check, [str(p) for p in paths], client))
    violations: list[Violation] = []
    for path, report in zip(paths, reports, strict=True):
        violations.extend(
            Violation(
                v.column, v.kind, v.count, v.examples, f"{Path(path).name}: {v.message}", v.check
            )
            for v in report.violations
        )
    return ValidationReport(
        ok=all(report.ok for report in reports),
        rows_checked=sum(report.rows_checked for report in reports),
        violations=tuple(violations),
    )


# ---------------------------------------------------------------------------------------
# The per-partition tasks: module-level callables, so that Dask workers can unpickle them.


@dataclass(frozen=True)
class _PartitionFirstPass:
    numeric: tuple[str, ...]

    def __call__(self, path: str) -> PartitionFacts:
        if not Path(path).is_file():
            # Listed where the command runs, so missing here means another machine.
            raise InvalidInputError(
                f"partition {path} is not visible on {socket.gethostname()}; on a cluster, "
                "the folder must be on a filesystem every worker mounts at the same path"
            )
        parquet = open_parquet(Path(path))
        try:
            schema = parquet.schema_arrow
            index = sorted(unnamed_pandas_index(schema))
            if index:
                raise InvalidInputError(
                    f"partition {Path(path).name} holds a pandas index as a column "
                    f"({', '.join(index)}); partitions are stored as they are: write them "
                    "with DataFrame.to_parquet(..., index=False)"
                )
            check_columns(schema, path)
            ranges: dict[str, tuple[float, float] | None] = {}
            unknown: list[str] = []
            for name in self.numeric:
                if name not in schema.names:
                    continue  # reported by the schema check
                known, value_range = footer_range(parquet, schema, name)
                if known:
                    ranges[name] = value_range
                else:
                    unknown.append(name)
            if unknown:
                ranges.update(scan_ranges(iter_batches(parquet, unknown, label=path), unknown))
            rows = parquet.metadata.num_rows
        finally:
            parquet.close()
        size = Path(path).stat().st_size
        return PartitionFacts(path, rows, hash_file(path), size, schema, ranges)


@dataclass(frozen=True)
class _PartitionSecondPass:
    schema: pa.Schema
    ranges: Mapping[str, tuple[float, float] | None]
    tags: Mapping[str, tuple[str, ...]]
    bins: int
    max_categories: int
    parent: tuple[int, Profile] | None

    def __call__(self, task: tuple[str, npt.NDArray[np.int64]]) -> list[ColumnAccumulator]:
        path, sample_rows = task
        accumulators = new_accumulators(
            self.schema,
            self.ranges,
            self.tags,
            bins=self.bins,
            max_categories=self.max_categories,
            sample_rows=sample_rows,
            parent=self.parent,
        )
        parquet = open_parquet(Path(path))
        try:
            feed(iter_batches(parquet, label=path), accumulators)
        finally:
            parquet.close()
        return accumulators


@dataclass(frozen=True)
class _PartitionValidation:
    schema: Schema
    private: tuple[str, ...]
    unseen_categories: Any

    def __call__(self, path: str) -> ValidationReport:
        return validate(
            Path(path), self.schema, private=self.private, unseen_categories=self.unseen_categories
        )


def _check_same_schema(schema: pa.Schema, fact: PartitionFacts, first: Path) -> None:
    if fact.schema.remove_metadata().equals(schema.remove_metadata()):
        return
    expected = {field.name: field.type for field in schema}
    actual = {field.name: field.type for field in fact.schema}
    if set(expected) != set(actual):
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        what = f"missing {missing}" if missing else f"extra {extra}"
        if missing and extra:
            what += f", extra {extra}"
    else:
        changed = [n for n in expected if not expected[n].equals(actual[n])]
        what = (
            f"column {changed[0]!r} is {actual[changed[0]]}, not {expected[changed[0]]}"
            if changed
            else "its columns are in another order"
        )
    raise InvalidInputError(
        f"partition {Path(fact.path).name} does not have the columns of {first.name} ({what}); "
        "every partition needs the same columns and types, in the same order"
    )


def _merged_range(
    ranges: Iterable[tuple[float, float] | None],
) -> tuple[float, float] | None:
    known = [value_range for value_range in ranges if value_range is not None]
    if not known:
        return None
    return min(low for low, _ in known), max(high for _, high in known)
