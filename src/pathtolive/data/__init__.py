"""Versioned datasets: canonical form, profile, schema (the data contract) and diff.

Pure domain logic over files: no database, no artifact store. The service layer calls::

    canonical = to_canonical_parquet(source, work_dir)
    profile = compute_profile(canonical.path, tags=tags)
    schema = infer_schema(canonical.arrow_schema, profile, tags=tags)   # first version
    report = validate(canonical.path, schema, profile)                   # later versions
    change = classify_change(old_schema, new_schema)
    diff = diff_profiles(old_schema, old_profile, new_schema, new_profile)
"""

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
from pathtolive.data.profiling import bin_values, category_counts, compute_profile, profile_frame
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
