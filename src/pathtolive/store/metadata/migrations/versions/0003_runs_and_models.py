"""Pipeline runs (steps, params, metrics, inputs, step cache), models, versions, aliases.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("python", sa.String(100), nullable=False),
        sa.Column("platform", sa.String(200), nullable=False),
        sa.Column("packages_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_environments"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_commit", sa.String(64), nullable=True),
        sa.Column("code_dirty", sa.Boolean, nullable=False),
        sa.Column("code_diff_hash", sa.String(64), nullable=True),
        sa.Column("pipelines_hash", sa.String(64), nullable=True),
        sa.Column("environment_digest", sa.String(64), nullable=True),
        sa.Column("params_json", sa.Text, nullable=False),
        sa.Column("graph_json", sa.Text, nullable=True),
        sa.Column("outputs_json", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("reproduces", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["environment_digest"],
            ["environments.digest"],
            name="fk_runs_environment_digest_environments",
        ),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("parameter", sa.String(200), nullable=False),
        sa.Column("dataset_version_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "parameter", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_inputs_run_id_runs"),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_run_inputs_dataset_version_id_dataset_versions",
        ),
    )
    op.create_index("ix_run_inputs_dataset_version_id", "run_inputs", ["dataset_version_id"])
    op.create_table(
        "run_params",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_run_params"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_params_run_id_runs"),
    )
    op.create_table(
        "run_metrics",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_metrics_run_id_runs"),
    )
    op.create_index("ix_run_metrics_run_id_key", "run_metrics", ["run_id", "key"])
    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("output_digest", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("logs", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_run_steps"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_run_steps_run_id_runs"),
    )
    op.create_table(
        "step_cache",
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("output_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cache_key", name="pk_step_cache"),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("artifact_bytes", sa.BigInteger, nullable=False),
        sa.Column("flavor", sa.String(40), nullable=False),
        sa.Column("trusted_types_json", sa.Text, nullable=False),
        sa.Column("signature_json", sa.Text, nullable=True),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_model_versions_model_id_models"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_model_versions_run_id_runs"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aliases_model_id_models"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_aliases_model_version_id_model_versions",
        ),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_history"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_alias_history_model_id_models"
        ),
    )
    op.create_index("ix_alias_history_model_id_alias", "alias_history", ["model_id", "alias"])


def downgrade() -> None:
    op.drop_index("ix_alias_history_model_id_alias", table_name="alias_history")
    op.drop_table("alias_history")
    op.drop_table("aliases")
    op.drop_index("ix_model_versions_run_id", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("models")
    op.drop_table("step_cache")
    op.drop_table("run_steps")
    op.drop_index("ix_run_metrics_run_id_key", table_name="run_metrics")
    op.drop_table("run_metrics")
    op.drop_table("run_params")
    op.drop_index("ix_run_inputs_dataset_version_id", table_name="run_inputs")
    op.drop_table("run_inputs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_table("runs")
    op.drop_table("environments")
