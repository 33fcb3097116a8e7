"""The metadata schema (SQLAlchemy Core). Alembic migrations under ``migrations/`` build it;
this module is their reference and the store's query vocabulary."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "alerts",
    "alias_history",
    "aliases",
    "approvals",
    "audit_events",
    "audit_head",
    "batch_jobs",
    "dataset_schemas",
    "dataset_versions",
    "datasets",
    "deployments",
    "environments",
    "feedback",
    "gate_reports",
    "locks",
    "metadata",
    "model_versions",
    "models",
    "monitor_results",
    "prediction_segments",
    "promotions",
    "run_inputs",
    "run_metrics",
    "run_params",
    "run_steps",
    "runs",
    "step_cache",
    "tokens",
    "triggers",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

dataset_schemas = Table(
    "dataset_schemas",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("change_kind", String(20), nullable=False),
    Column("changes_json", Text, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_schemas_version"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("parent_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("schema_id", Integer, ForeignKey("dataset_schemas.id"), nullable=False),
    Column("source", Text, nullable=False),
    Column("source_format", String(20), nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("validation_status", String(20), nullable=False),
    Column("validation_json", Text, nullable=True),
    Column("profile_json", Text, nullable=False),
    # The tombstone of an erased version (``data forget``): its bytes are gone.
    Column("forgotten_at", DateTime(timezone=True), nullable=True),
    Column("forgotten_by", String(200), nullable=True),
    Column("forgotten_reason", Text, nullable=True),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_version"),
    UniqueConstraint("dataset_id", "content_hash", name="uq_dataset_versions_content"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("time", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("details_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_subject", "subject"),
    # The console's filters: newest first by actor or by action, and by time.
    Index("ix_audit_events_actor_seq", "actor", "seq"),
    Index("ix_audit_events_action_seq", "action", "seq"),
    Index("ix_audit_events_time", "time"),
)

# One row (id = 1) naming the newest event: appends lock it, which serialises writers on
# every backend, and verify compares it with the table to notice a deleted tail.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("principal", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

_BIGINT = BigInteger().with_variant(Integer, "sqlite")

environments = Table(
    "environments",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("python", String(100), nullable=False),
    Column("platform", String(200), nullable=False),
    Column("packages_json", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("pipeline", String(200), nullable=True),
    Column("status", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("code_commit", String(64), nullable=True),
    Column("code_dirty", Boolean, nullable=False),
    Column("code_diff_hash", String(64), nullable=True),
    Column("pipelines_hash", String(64), nullable=True),
    Column("environment_digest", String(64), ForeignKey("environments.digest"), nullable=True),
    Column("params_json", Text, nullable=False),
    Column("graph_json", Text, nullable=True),
    Column("outputs_json", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("reproduces", String(40), nullable=True),
    # Renewed while a pipeline runs; a running run with an old one has lost its process.
    Column("heartbeat_at", DateTime(timezone=True), nullable=True),
    Index("ix_runs_started_at", "started_at"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_pipeline_started_at", "pipeline", "started_at"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(40), ForeignKey("runs.run_id"), primary_key=True),
    Column("parameter", String(200), primary_key=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Index("ix_run_inputs_dataset_version_id", "dataset_version_id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", String(40), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value_json", Text, nullable=False),
)

run_metrics = Table(
    "run_metrics",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("run_id", String(40), ForeignKey("runs.run_id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=True),
    Column("timestamp", Float, nullable=False),
    Index("ix_run_metrics_run_id_key", "run_id", "key"),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", String(40), ForeignKey("runs.run_id"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("cache_key", String(64), nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("output_digest", String(64), nullable=True),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("logs", Text, nullable=False),
    Column("error", Text, nullable=True),
)

step_cache = Table(
    "step_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("step", String(200), nullable=False),
    Column("output_digest", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_digest", String(64), nullable=False),
    Column("artifact_bytes", BigInteger, nullable=False),
    Column("flavor", String(40), nullable=False),
    Column("trusted_types_json", Text, nullable=False),
    Column("signature_json", Text, nullable=True),
    Column("metrics_json", Text, nullable=False),
    Column("run_id", String(40), ForeignKey("runs.run_id"), nullable=False),
    Column("source", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    Index("ix_model_versions_run_id", "run_id"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_alias_history_model_id_alias", "model_id", "alias"),
)

gate_reports = Table(
    "gate_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_gate_reports_model_version_id", "model_version_id"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("policy", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("gate_report_id", Integer, ForeignKey("gate_reports.id"), nullable=True),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("override_reason", Text, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Index("ix_promotions_status", "status"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("promotion_id", Integer, ForeignKey("promotions.id"), nullable=False),
    Column("approver", String(200), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# The serving settings of a model: the share of traffic its canary gets. The canary and
# shadow versions themselves are the aliases ``canary`` and ``shadow``.
deployments = Table(
    "deployments",
    metadata,
    Column("model_id", Integer, ForeignKey("models.id"), primary_key=True, autoincrement=False),
    Column("canary_share", Float, nullable=False, default=0.0, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# One row per Parquet segment of the prediction log (the bytes are in the ArtifactStore).
prediction_segments = Table(
    "prediction_segments",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("artifact_digest", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_prediction_segments_model_version_id_first_at", "model_version_id", "first_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("request_id", String(100), nullable=False),
    Column("label_json", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("model", String(200), nullable=True),
    # The row of a batch request the label is for (0, the first: a single-row request).
    Column("row", Integer, nullable=False, server_default=text("0")),
    Index("ix_feedback_request_id", "request_id"),
    # Counting a model's labels since a time: the bound on labels beyond the log.
    Index("ix_feedback_model_at", "model", "at"),
)

# Alerts raised by monitoring. ``key`` names what is alerted on (``drift:mileage``); at most
# one alert per (model, key) is open at a time: the partial unique index enforces it.
alerts = Table(
    "alerts",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("key", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("delivery_attempts", Integer, nullable=False, default=0, server_default=text("0")),
    # The webhook outbox: set while a delivery is outstanding (see 0009_alert_outbox).
    Column("delivery_id", String(64), nullable=True),
    Column("delivery_due_at", DateTime(timezone=True), nullable=True),
    Column("delivery_error", Text, nullable=True),
    Index(
        "ix_alerts_model_key",
        "model",
        "key",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
    Index("ix_alerts_model_status", "model", "status"),
    Index("ix_alerts_delivery_due_at", "delivery_due_at"),
)

# What starts a release (new data, drift, decay, a schedule, a person) and what became of
# it. ``dedupe_key`` makes creating a trigger idempotent; ``holder`` is the controller
# running it. ``run_id`` is a plain reference: a trigger outlives anything it points at.
triggers = Table(
    "triggers",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("cause", Text, nullable=False),
    Column("dedupe_key", String(300), nullable=False, unique=True),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("holder", String(200), nullable=True),
    Column("run_id", String(40), nullable=True),
    Column("model_version", Integer, nullable=True),
    Column("decision", Text, nullable=False, default="", server_default=text("''")),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0, server_default=text("0")),
    # A pending trigger whose release failed is tried again from this time on.
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Index("ix_triggers_status", "status"),
    Index("ix_triggers_model", "model"),
)

# Leases: a named lock held by one holder until ``expires_at`` (the controller's, so that
# only one controller acts; a holder renews it, anyone may take it over once expired).
# ``generation`` is the fencing token: it grows each time the lease passes to a holder,
# and a release's writes check it. A released lease keeps its row, so it never goes back.
locks = Table(
    "locks",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("generation", BigInteger, nullable=False, server_default=text("1")),
    Column("released", Boolean, nullable=False, server_default=text("false")),
)

# What ``monitor`` found in each window of a model version, kept so that the console
# draws drift and the metric over time from these rows alone, never from the prediction
# log. One row per (version, window); a later look at the same window replaces it.
# ``summary_json`` holds the figures per feature and the window's metric (what a heat map
# and a metric chart need, for many windows at once); ``histograms_json`` the reference
# and live histograms per feature, read for one window at a time. The unique index, by
# end first, also serves "the newest windows of a version".
monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    # How far apart the look's windows were (a series' step, else the window's length).
    Column("step_seconds", Float, nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("drifted", Integer, nullable=False),
    Column("summary_json", Text, nullable=False),
    Column("histograms_json", Text, nullable=False),
    Index(
        "ix_monitor_results_version_end_start",
        "model_version_id",
        "window_end",
        "window_start",
        unique=True,
    ),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", _BIGINT, primary_key=True, autoincrement=True),
    Column("job_id", String(200), nullable=False, unique=True),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("input_ref", Text, nullable=False),
    # The input's content hash: a dataset version's, or one over the files read.
    Column("input_hash", String(64), nullable=True),
    Column("output", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("partitions", Integer, nullable=False),
    Column("rows_in", BigInteger, nullable=False),
    Column("rows_out", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_batch_jobs_model_version_id_started_at", "model_version_id", "started_at"),
    Index("ix_batch_jobs_input_hash", "input_hash"),
)
