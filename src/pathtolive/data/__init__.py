"""Versioned datasets: canonical form, profile, schema (the data contract) and diff.

Pure domain logic over files: no database, no artifact store. The service layer calls::

    canonical = to_canonical_parquet(source, work_dir)
    profile = compute_profile(canonical.path, tags=tags)
    schema = infer_schema(canonical.arrow_schema, profile, tags=tags)   # first version
    report = validate(canonical.path, schema, profile)                   # later versions
    change = classify_change(old_schema, new_schema)
    diff = diff_profiles(old_schema, old_profile, new_schema, new_profile)
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from pathtolive.data.canonical import (
        SUPPORTED_FORMATS,
        CanonicalTable,
        to_canonical_parquet,
    )
    from pathtolive.data.diff import (
        PSI_FLOOR,
        CategoryShift,
        ColumnDiff,
        DatasetDiff,
        TypeChange,
        diff_profiles,
        population_stability_index,
    )
    from pathtolive.data.profile import (
        QUANTILE_POINTS,
        CategoricalStats,
        ColumnProfile,
        DatetimeStats,
        NumericStats,
        Profile,
    )
    from pathtolive.data.profiling import (
        bin_values,
        category_counts,
        compute_profile,
        profile_frame,
    )
    from pathtolive.data.schema import (
        COLUMN_TYPES,
        Change,
        ColumnSchema,
        Schema,
        SchemaChange,
        check_tags,
        classify_change,
        id_tags,
        infer_schema,
        merge_accepting,
    )
    from pathtolive.data.validation import (
        VIOLATION_KINDS,
        ValidationReport,
        Violation,
        to_pandera,
        validate,
        validate_frame,
    )

__all__ = [
    "COLUMN_TYPES",
    "PSI_FLOOR",
    "QUANTILE_POINTS",
    "SUPPORTED_FORMATS",
    "VIOLATION_KINDS",
    "CanonicalTable",
    "CategoricalStats",
    "CategoryShift",
    "Change",
    "ColumnDiff",
    "ColumnProfile",
    "ColumnSchema",
    "DatasetDiff",
    "DatetimeStats",
    "NumericStats",
    "Profile",
    "Schema",
    "SchemaChange",
    "TypeChange",
    "ValidationReport",
    "Violation",
    "bin_values",
    "category_counts",
    "check_tags",
    "classify_change",
    "compute_profile",
    "diff_profiles",
    "id_tags",
    "infer_schema",
    "merge_accepting",
    "population_stability_index",
    "profile_frame",
    "to_canonical_parquet",
    "to_pandera",
    "validate",
    "validate_frame",
]

# Each name is imported from its module on first use, so a caller pays only for the
# libraries it needs: profiling a Parquet file needs pyarrow and numpy, while reading
# a DataFrame or validating rows needs pandas too.
_MODULE_OF: dict[str, str] = {
    "CanonicalTable": "canonical",
    "SUPPORTED_FORMATS": "canonical",
    "to_canonical_parquet": "canonical",
    "CategoryShift": "diff",
    "ColumnDiff": "diff",
    "DatasetDiff": "diff",
    "PSI_FLOOR": "diff",
    "TypeChange": "diff",
    "diff_profiles": "diff",
    "population_stability_index": "diff",
    "CategoricalStats": "profile",
    "ColumnProfile": "profile",
    "DatetimeStats": "profile",
    "NumericStats": "profile",
    "Profile": "profile",
    "QUANTILE_POINTS": "profile",
    "bin_values": "profiling",
    "category_counts": "profiling",
    "compute_profile": "profiling",
    "profile_frame": "profiling",
    "COLUMN_TYPES": "schema",
    "Change": "schema",
    "ColumnSchema": "schema",
    "Schema": "schema",
    "SchemaChange": "schema",
    "check_tags": "schema",
    "classify_change": "schema",
    "id_tags": "schema",
    "infer_schema": "schema",
    "merge_accepting": "schema",
    "VIOLATION_KINDS": "validation",
    "ValidationReport": "validation",
    "Violation": "validation",
    "to_pandera": "validation",
    "validate": "validation",
    "validate_frame": "validation",
}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
