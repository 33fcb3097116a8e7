"""Queries on runs: environments, params, metrics, steps, inputs and the step cache."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from pathtolive.entities import Metric, Run, RunStep
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, utc, utc_or_none

__all__ = ["RunQueries"]


class RunQueries(Queries):
    def ensure_environment(
        self, digest: str, *, python: str, platform: str, packages: Sequence[str]
    ) -> None:
        """Record an environment once (they are shared by every run made in it)."""
        exists = self.connection.scalar(
            select(t.environments.c.digest).where(t.environments.c.digest == digest)
        )
        if exists is None:
            self.connection.execute(
                insert(t.environments).values(
                    digest=digest,
                    python=python,
                    platform=platform,
                    packages_json=dumps(list(packages)),
                )
            )

    def environment(self, digest: str) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(t.environments).where(t.environments.c.digest == digest)
        ).first()
        if row is None:
            return None
        return {
            "digest": row.digest,
            "python": row.python,
            "platform": row.platform,
            "packages": json.loads(row.packages_json),
        }

    def insert_run(self, run: Run) -> None:
        self.connection.execute(
            insert(t.runs).values(
                run_id=run.run_id,
                kind=run.kind,
                pipeline=run.pipeline,
                status=run.status,
                actor=run.actor,
                started_at=run.started_at,
                finished_at=run.finished_at,
                code_commit=run.code_commit,
                code_dirty=run.code_dirty,
                code_diff_hash=run.code_diff_hash,
                pipelines_hash=run.pipelines_hash,
                environment_digest=run.environment_digest,
                params_json=dumps(run.params),
                graph_json=None if run.graph is None else dumps(run.graph),
                outputs_json=None if run.outputs is None else dumps(run.outputs),
                error=run.error,
                reproduces=run.reproduces,
                heartbeat_at=run.heartbeat_at,
            )
        )
        if run.params:
            self.connection.execute(
                insert(t.run_params),
                [
                    {"run_id": run.run_id, "key": k, "value_json": dumps(v)}
                    for k, v in run.params.items()
                ],
            )
        for parameter, ref in run.inputs.items():
            name, _, number = ref.partition("@")
            version_id = self.connection.scalar(
                select(t.dataset_versions.c.id)
                .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
                .where(t.datasets.c.name == name, t.dataset_versions.c.version == int(number))
            )
            self.connection.execute(
                insert(t.run_inputs).values(
                    run_id=run.run_id, parameter=parameter, dataset_version_id=version_id
                )
            )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        finished_at: datetime,
        error: str | None = None,
        outputs: Mapping[str, Any] | None = None,
        graph: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": finished_at, "error": error}
        if outputs is not None:
            values["outputs_json"] = dumps(dict(outputs))
        if graph is not None:
            values["graph_json"] = dumps(dict(graph))
        self.connection.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(**values))

    def beat_run(self, run_id: str, at: datetime) -> bool:
        """Renew a running run's heartbeat; False when the run is no longer running
        (finished, or found lost by another process)."""
        result = self.connection.execute(
            update(t.runs)
            .where(t.runs.c.run_id == run_id, t.runs.c.status == "running")
            .values(heartbeat_at=at)
        )
        return bool(result.rowcount)

    def stale_runs(self, before: datetime) -> list[Run]:
        """Running runs whose last heartbeat (or start, without one) is before ``before``."""
        last = func.coalesce(t.runs.c.heartbeat_at, t.runs.c.started_at)
        query = (
            select(t.runs)
            .where(
                t.runs.c.status == "running",
                # Both renew a heartbeat while they last: a pipeline, a notebook's block.
                t.runs.c.kind.in_(("pipeline", "notebook")),
                last < before,
            )
            .order_by(t.runs.c.started_at)
        )
        return [self._run(row) for row in self.connection.execute(query)]

    def add_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if params:
            self.connection.execute(
                insert(t.run_params),
                [{"run_id": run_id, "key": k, "value_json": dumps(v)} for k, v in params.items()],
            )

    def add_metrics(self, run_id: str, metrics: Iterable[Metric]) -> int:
        """Insert metrics in one batch (one statement, one round trip)."""
        rows = [
            {
                "run_id": run_id,
                "key": m.key,
                "value": m.value,
                "step": m.step,
                "timestamp": m.timestamp,
            }
            for m in metrics
        ]
        if rows:
            self.connection.execute(insert(t.run_metrics), rows)
        return len(rows)

    def add_step(self, run_id: str, step: RunStep) -> None:
        self.connection.execute(
            insert(t.run_steps).values(
                run_id=run_id,
                position=step.position,
                name=step.name,
                cache_key=step.cache_key,
                cached=step.cached,
                output_digest=step.output_digest,
                status=step.status,
                started_at=step.started_at,
                seconds=step.seconds,
                logs=step.logs,
                error=step.error,
            )
        )

    def _inputs_query(self) -> Any:
        """The dataset version each run input names (``name@version``), by parameter."""
        return (
            select(
                t.run_inputs.c.run_id,
                t.run_inputs.c.parameter,
                t.datasets.c.name,
                t.dataset_versions.c.version,
            )
            .join(t.dataset_versions, t.dataset_versions.c.id == t.run_inputs.c.dataset_version_id)
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .order_by(t.run_inputs.c.parameter)
        )

    def runs_inputs(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The inputs of each of ``run_ids`` (``{parameter: "name@version"}``) in one
        query; a run without inputs maps to an empty mapping."""
        found: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
        if not run_ids:
            return found
        query = self._inputs_query().where(t.run_inputs.c.run_id.in_(list(run_ids)))
        for r in self.connection.execute(query):
            found[r.run_id][r.parameter] = f"{r.name}@{r.version}"
        return found

    def _run(self, row: Any) -> Run:
        inputs_query = self._inputs_query().where(t.run_inputs.c.run_id == row.run_id)
        inputs = {
            r.parameter: f"{r.name}@{r.version}" for r in self.connection.execute(inputs_query)
        }
        return Run(
            run_id=row.run_id,
            kind=row.kind,
            pipeline=row.pipeline,
            status=row.status,
            actor=row.actor,
            started_at=utc(row.started_at),
            finished_at=utc_or_none(row.finished_at),
            code_commit=row.code_commit,
            code_dirty=bool(row.code_dirty),
            code_diff_hash=row.code_diff_hash,
            pipelines_hash=row.pipelines_hash,
            environment_digest=row.environment_digest,
            params=json.loads(row.params_json),
            inputs=inputs,
            outputs=None if row.outputs_json is None else json.loads(row.outputs_json),
            graph=None if row.graph_json is None else json.loads(row.graph_json),
            error=row.error,
            reproduces=row.reproduces,
            heartbeat_at=utc_or_none(row.heartbeat_at),
        )

    def get_run(self, run_id: str) -> Run | None:
        row = self.connection.execute(select(t.runs).where(t.runs.c.run_id == run_id)).first()
        return None if row is None else self._run(row)

    def find_runs(self, prefix: str) -> list[str]:
        """Run ids starting with ``prefix`` (so a user may type a short id)."""
        query = select(t.runs.c.run_id).where(self._starts_with(t.runs.c.run_id, prefix))
        return list(self.connection.scalars(query.limit(5)))

    def list_runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Run]:
        query = select(t.runs).order_by(t.runs.c.started_at.desc(), t.runs.c.run_id.desc())
        if pipeline is not None:
            query = query.where(t.runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(t.runs.c.status == status)
        return [self._run(row) for row in self.connection.execute(query.limit(limit))]

    def run_params(self, run_id: str) -> dict[str, Any]:
        query = select(t.run_params).where(t.run_params.c.run_id == run_id)
        return {
            row.key: json.loads(row.value_json)
            for row in self.connection.execute(query.order_by(t.run_params.c.key))
        }

    def run_steps(self, run_id: str) -> list[RunStep]:
        query = (
            select(t.run_steps)
            .where(t.run_steps.c.run_id == run_id)
            .order_by(t.run_steps.c.position)
        )
        return [
            RunStep(
                position=row.position,
                name=row.name,
                cache_key=row.cache_key,
                cached=bool(row.cached),
                output_digest=row.output_digest,
                status=row.status,
                started_at=utc(row.started_at),
                seconds=row.seconds,
                logs=row.logs,
                error=row.error,
            )
            for row in self.connection.execute(query)
        ]

    def run_metrics(self, run_id: str, key: str | None = None) -> list[Metric]:
        query = (
            select(t.run_metrics)
            .where(t.run_metrics.c.run_id == run_id)
            .order_by(t.run_metrics.c.id)
        )
        if key is not None:
            query = query.where(t.run_metrics.c.key == key)
        return [
            Metric(row.key, row.value, row.step, row.timestamp)
            for row in self.connection.execute(query)
        ]

    def metric_count(self, run_id: str) -> int:
        return int(
            self.connection.scalar(
                select(func.count())
                .select_from(t.run_metrics)
                .where(t.run_metrics.c.run_id == run_id)
            )
            or 0
        )

    def runs_using_dataset(self, dataset: str, version: int) -> list[Run]:
        query = (
            select(t.runs)
            .join(t.run_inputs, t.run_inputs.c.run_id == t.runs.c.run_id)
            .join(t.dataset_versions, t.dataset_versions.c.id == t.run_inputs.c.dataset_version_id)
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .where(t.datasets.c.name == dataset, t.dataset_versions.c.version == version)
            .order_by(t.runs.c.started_at)
        )
        return [self._run(row) for row in self.connection.execute(query)]

    def erased_inputs(self, run_id: str) -> list[str]:
        """The refs (``name@version``) of the forgotten dataset versions ``run_id`` read."""
        query = (
            select(t.datasets.c.name, t.dataset_versions.c.version)
            .join(t.dataset_versions, t.dataset_versions.c.dataset_id == t.datasets.c.id)
            .join(t.run_inputs, t.run_inputs.c.dataset_version_id == t.dataset_versions.c.id)
            .where(t.run_inputs.c.run_id == run_id, t.dataset_versions.c.forgotten_at.is_not(None))
            .order_by(t.datasets.c.name, t.dataset_versions.c.version)
        )
        return [f"{row.name}@{row.version}" for row in self.connection.execute(query)]

    def release_derived_outputs(self, run_ids: Sequence[str]) -> list[str]:
        """The step outputs of ``run_ids`` that nothing else refers to (no other run's
        step, no model version's artifact, no live dataset version), forgotten by the
        step cache too; the caller deletes their objects."""
        if not run_ids:
            return []
        steps = t.run_steps.c
        ours = set(
            self.connection.scalars(
                select(steps.output_digest).where(
                    steps.run_id.in_(run_ids), steps.output_digest.is_not(None)
                )
            )
        )
        if not ours:
            return []
        others = set(
            self.connection.scalars(
                select(steps.output_digest).where(
                    steps.output_digest.in_(ours), steps.run_id.not_in(run_ids)
                )
            )
        )
        others |= set(
            self.connection.scalars(
                select(t.model_versions.c.artifact_digest).where(
                    t.model_versions.c.artifact_digest.in_(ours)
                )
            )
        )
        others |= set(
            self.connection.scalars(
                select(t.dataset_versions.c.content_hash).where(
                    t.dataset_versions.c.content_hash.in_(ours),
                    t.dataset_versions.c.forgotten_at.is_(None),
                )
            )
        )
        released = sorted(ours - others)
        if released:
            self.connection.execute(
                delete(t.step_cache).where(t.step_cache.c.output_digest.in_(released))
            )
        return released

    # -- step cache --------------------------------------------------------------------

    def cached_output(self, cache_key: str) -> str | None:
        return self.connection.scalar(
            select(t.step_cache.c.output_digest).where(t.step_cache.c.cache_key == cache_key)
        )

    def remember_output(self, cache_key: str, step: str, digest: str, at: datetime) -> None:
        if self.cached_output(cache_key) is None:
            self.connection.execute(
                insert(t.step_cache).values(
                    cache_key=cache_key, step=step, output_digest=digest, created_at=at
                )
            )

    def forget_output(self, cache_key: str) -> None:
        self.connection.execute(t.step_cache.delete().where(t.step_cache.c.cache_key == cache_key))
