"""The Python API for notebooks and scripts: one object per workspace.

It does what the command line does, through the same service operations, so the same
permissions apply (the token in ``PATHTOLIVE_TOKEN``, else the local user and
``[auth] local_role``) and the same audit events are written. It returns typed results
instead of printing: gate reports, promotions, monitoring reports, model cards and
explanations; in Jupyter, reports, runs, model and dataset versions and drift results
render as the HTML reports do. Its errors name keyword arguments (``policy="warn"``),
not flags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import pandas as pd

from pathtolive.data import DatasetDiff, ValidationReport
from pathtolive.entities import (
    AliasMove,
    AuditEvent,
    BatchJob,
    Dataset,
    DatasetVersion,
    Model,
    ModelVersion,
    Promotion,
    SchemaVersion,
)
from pathtolive.errors import InvalidInputError
from pathtolive.faces import speaks_python
from pathtolive.gates import GateReport
from pathtolive.lineage import LineageNode
from pathtolive.registry import LoadedModel
from pathtolive.service import audit as audit_service
from pathtolive.service import datasets as dataset_service
from pathtolive.service import lineage as lineage_service
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import runs as run_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.promotion import PromotionOutcome
from pathtolive.service.runs import ReproduceReport, RunResult
from pathtolive.service.tracked_runs import TrackedRun, start_tracked_run
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.store.metadata.browsing import RunRow
from pathtolive.ui.notebook import register_renderers

if TYPE_CHECKING:
    from pathtolive.audit.checkpoint import AuditVerification
    from pathtolive.monitoring.report import MonitorReport
    from pathtolive.registry.explainers import Explanation
    from pathtolive.service.card import ModelCard
    from pathtolive.service.scoring import ScoreResult

__all__ = ["Workspace"]

register_renderers()  # the results this API returns render inline in Jupyter


@speaks_python
class Workspace:
    """A pathtolive workspace.

    >>> ws = Workspace.open(".")                       # doctest: +SKIP
    >>> v = ws.add_dataset(df, "loans")                 # doctest: +SKIP
    >>> ws.load("loans@latest").shape                   # doctest: +SKIP

    Batch scoring (``pathtolive score``) is not part of it yet: it joins when batch
    scoring does, as ``ws.score``.
    """

    def __init__(self, context: ServiceContext) -> None:
        self._ctx = context

    @classmethod
    def open(
        cls, path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
    ) -> Self:
        """Open the workspace at ``path`` (default: found from the current folder)."""
        return cls(open_workspace(None if path is None else Path(path), environ=environ))

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        metadata_url: str | None = None,
        artifact_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        local_role: str | None = None,
    ) -> Self:
        """Create a new workspace at ``path`` and open it. ``local_role`` writes
        ``[auth] local_role`` (on a shared database, local users need it or a token)."""
        return cls(
            init_workspace(
                Path(path),
                name=name,
                metadata_url=metadata_url,
                artifact_url=artifact_url,
                local_role=local_role,
                environ=environ,
            )
        )

    @property
    def root(self) -> Path:
        return self._ctx.settings.root

    @property
    def context(self) -> ServiceContext:
        """The service context, for the lower-level ``pathtolive.service`` functions."""
        return self._ctx

    def close(self) -> None:
        self._ctx.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- datasets ----------------------------------------------------------------------

    def add_dataset(
        self,
        data: pd.DataFrame | str | Path,
        name: str,
        *,
        tags: Mapping[str, Sequence[str]] | None = None,
        policy: str | None = None,
        accept_schema: bool = False,
        reason: str = "",
    ) -> DatasetVersion:
        """Add a DataFrame or a file as a new version of ``name`` (or find it if identical)."""
        source = data if isinstance(data, pd.DataFrame) else Path(data)
        result = dataset_service.add_dataset(
            self._ctx,
            source,
            name,
            tags=tags,
            policy=policy,
            accept_schema=accept_schema,
            reason=reason,
        )
        return result.version

    def dataset(self, ref: str) -> DatasetVersion:
        """The version ``ref`` names: ``loans``, ``loans@2``, ``loans@latest``."""
        return dataset_service.get_version(self._ctx, ref)

    def datasets(self) -> list[Dataset]:
        return dataset_service.list_datasets(self._ctx)

    def versions(self, name: str) -> list[DatasetVersion]:
        return dataset_service.list_versions(self._ctx, name)

    def load(
        self, ref: str, columns: Sequence[str] | None = None, *, purpose: str = "load"
    ) -> pd.DataFrame:
        """A version's data as a DataFrame, verified against its content hash. The read is
        audited (``dataset.read``) with ``purpose``."""
        return dataset_service.load_frame(self._ctx, ref, columns, purpose=purpose)

    def schema(self, name: str, version: int | None = None) -> SchemaVersion:
        return dataset_service.dataset_schema(self._ctx, name, version)

    def validate(self, name: str, data: pd.DataFrame | str | Path) -> ValidationReport:
        """Check data against ``name``'s contract without storing it."""
        source = data if isinstance(data, pd.DataFrame) else Path(data)
        return dataset_service.validate_source(self._ctx, name, source).report

    def diff(self, old: str, new: str) -> DatasetDiff:
        return dataset_service.diff_versions(self._ctx, old, new)

    # -- pipelines, runs and models ------------------------------------------------------

    def run(
        self,
        pipeline: str,
        *,
        data: Mapping[str, str] | str | None = None,
        params: Mapping[str, Any] | None = None,
        register: str | None = None,
        use_cache: bool = True,
        trusted: Sequence[str] = (),
        scheduler: str | None = None,
    ) -> RunResult:
        """Run a workspace pipeline on dataset versions, as ``pathtolive run`` does.
        ``params`` are typed values; those not given take the configured or default ones.
        ``trusted`` names the types the model to ``register`` may refer to beyond the
        safe defaults, as in :meth:`register_model`. ``scheduler`` is the Dask scheduler
        steps with ``compute="dask"`` run on (default: ``PATHTOLIVE_DASK_SCHEDULER``, then
        ``[compute] scheduler``; none: in this process)."""
        text_params = {key: _param_text(value) for key, value in (params or {}).items()}
        return run_service.run_pipeline(
            self._ctx,
            pipeline,
            data=data,
            params=text_params,
            register=register,
            use_cache=use_cache,
            trusted=trusted,
            scheduler=scheduler,
        )

    def register_model(
        self,
        model: object,
        *,
        name: str,
        data: Mapping[str, str] | str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        sample: pd.DataFrame | None = None,
        trusted: Sequence[str] = (),
    ) -> ModelVersion:
        """Register a model trained by hand; recorded as a run of kind ``notebook`` with
        its lineage as far as it is known (the dataset versions in ``data``, this
        process's code version and environment). ``model`` is a fitted scikit-learn,
        LightGBM or XGBoost model, an ONNX model (an ``onnx.ModelProto`` or the path of
        a ``.onnx`` file), or an instance of a class of this workspace's ``pipelines/``
        code with ``predict``, ``get_state`` and ``from_state`` (stored as its state,
        pinned to the code's hash; a class defined elsewhere is refused). A model that
        refers to code beyond the safe defaults (a custom step's function) is refused
        unless ``trusted`` names those types; the audit event lists them."""
        return model_service.register_model(
            self._ctx,
            model,
            name,
            data=data,
            metrics=metrics,
            description=description,
            tags=tags,
            signature_sample=sample,
            trusted=trusted,
        )

    def model(self, ref: str) -> ModelVersion:
        """The model version ``ref`` names: ``risk``, ``risk@3``, ``risk@live``."""
        return model_service.model_version(self._ctx, ref)

    def models(self) -> list[Model]:
        return model_service.list_models(self._ctx)

    def load_model(self, ref: str) -> LoadedModel:
        """A model version ready to predict, its artifact checked against its hash."""
        return model_service.load_model(self._ctx, ref)

    def set_alias(
        self, ref: str, alias: str, *, reason: str = "", override: str | None = None
    ) -> AliasMove:
        """Move an alias without a promotion policy; one with a policy (``live``) moves
        by promotion, or by an admin's ``override`` (a reason, audited)."""
        return model_service.set_alias(self._ctx, ref, alias, reason=reason, override=override)

    def runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[str] = (),
        sort: str = "-started",
        limit: int | None = 50,
    ) -> pd.DataFrame:
        """Runs as a DataFrame, one row each, as ``runs list`` filters and sorts them:
        ``params`` values to match, ``metrics`` conditions such as ``"roc_auc>0.8"``,
        ``sort`` a field or metric name (``"-roc_auc"``: best first), ``limit`` None for
        all. Columns: run_id, pipeline, kind, status, actor, started_at, finished_at,
        code_commit, then ``metrics.KEY`` per final metric, ``params.KEY`` per param and
        ``data.PARAM`` per dataset version read (as MLflow's ``search_runs`` names them)."""
        wanted = [f"{key}={json.dumps(value)}" for key, value in (params or {}).items()]
        rows: list[RunRow] = []
        while limit is None or len(rows) < limit:
            left = run_service.MAX_PAGE if limit is None else limit - len(rows)
            page = run_service.run_table(
                self._ctx,
                pipeline=pipeline,
                status=status,
                params=wanted,
                metrics=metrics,
                sort=sort,
                offset=len(rows),
                limit=min(run_service.MAX_PAGE, left),
            )
            rows.extend(page.rows)
            if not page.has_next:
                break
        return _runs_frame(rows)

    def reproduce(self, run_id: str) -> ReproduceReport:
        return run_service.reproduce_run(self._ctx, run_id)

    def lineage(self, ref: str, *, reverse: bool = False) -> LineageNode:
        return lineage_service.lineage(self._ctx, ref, reverse=reverse)

    def score(
        self,
        model: str,
        source: str | Path,
        out: str | Path,
        *,
        id_columns: Sequence[str] = (),
        scheduler: str | None = None,
        job_id: str | None = None,
    ) -> ScoreResult:
        """Score every row of ``source`` (a dataset version ``name@N``, a Parquet or CSV
        file, or a folder of them) with ``model`` into the Parquet folder ``out``, as
        ``pathtolive score`` does: on the Dask cluster at ``scheduler`` (or the
        configured one) when there is one, else here, streaming."""
        from pathtolive.service.scoring import score

        return score(
            self._ctx,
            model,
            str(source),
            str(out),
            id_columns=id_columns,
            scheduler=scheduler,
            job_id=job_id,
        )

    def batch_jobs(
        self, *, model: str | None = None, source: str | Path | None = None
    ) -> list[BatchJob]:
        """Batch-scoring jobs, newest first: of ``model``, or that read ``source``."""
        from pathtolive.service.scoring import batch_jobs

        return batch_jobs(self._ctx, model=model, source=None if source is None else str(source))

    def start_run(
        self,
        name: str,
        *,
        data: Mapping[str, str] | str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> TrackedRun:
        """A run for work outside a pipeline, recorded with a pipeline run's lineage (code
        version, environment, params, the exact dataset versions in ``data``):

        >>> with ws.start_run(name="by-hand", data="loans@latest") as run:  # doctest: +SKIP
        ...     frame = run.load()
        ...     run.log_param("C", 0.5)
        ...     run.log_metric("roc_auc", 0.81)
        ...     run.log_holdout(test_df)          # the test rows, for the gates
        >>> version = run.register(model)        # doctest: +SKIP

        An exception leaving the block marks the run failed. ``register`` names the model
        after the run unless given ``name``."""
        return start_tracked_run(self._ctx, name, data=data, params=params)

    # -- release: gates, promotion, rollback ---------------------------------------------

    def check_gates(
        self, ref: str, *, holdout: str | None = None, target: str | None = None
    ) -> GateReport:
        """Run every gate on model version ``ref`` (``pathtolive gates check``); the report
        is kept with the version and audited. A failing gate is a verdict: read
        ``report.passed``. ``holdout`` names the dataset version to judge on
        (``"loans@3"``; ``--holdout``), ``target`` the column the model predicts in it; a
        version the model was trained on is refused."""
        from pathtolive.service.gates import check_gates

        return check_gates(self._ctx, ref, holdout=holdout, target=target)

    def promote(
        self,
        ref: str,
        *,
        to: str = "live",
        reason: str = "",
        override: str | None = None,
        holdout: str | None = None,
        target: str | None = None,
    ) -> PromotionOutcome:
        """Run the gates, then apply the alias's policy (``pathtolive promote``): under
        ``auto`` the alias moves (``outcome.applied``), else a promotion waits for an
        approver. Failing gates refuse it unless an admin gives ``override`` (a reason).
        ``holdout`` and ``target`` as for :meth:`check_gates`."""
        return promotion_service.promote(
            self._ctx,
            ref,
            to,
            reason=reason,
            override=override,
            holdout=holdout,
            target=target,
        )

    def approve(self, ref: str, *, to: str = "live", comment: str = "") -> Promotion:
        """Approve the pending promotion of ``ref`` to ``to`` and move the alias (an
        approver; under four-eyes, one a token vouches for who neither trained nor asked)."""
        return promotion_service.approve(self._ctx, ref, to, comment=comment)

    def refuse(self, ref: str, *, reason: str, to: str = "live") -> Promotion:
        """Refuse the pending promotion of ``ref`` to ``to``, saying why (an approver)."""
        return promotion_service.decline(self._ctx, ref, to, reason=reason)

    def withdraw(self, ref: str, *, to: str = "live") -> Promotion:
        """Withdraw the pending promotion of ``ref`` to ``to`` (its requester or an admin)."""
        return promotion_service.withdraw(self._ctx, ref, to)

    def promotions(self, *, status: str | None = None, model: str | None = None) -> list[Promotion]:
        """Promotions, pending ones first (``status``: pending, applied, withdrawn…)."""
        return promotion_service.list_promotions(self._ctx, status=status, model=model)

    def rollback(self, model: str, *, alias: str = "live", reason: str = "") -> AliasMove:
        """Move ``alias`` back to the version it pointed at before (no gates: it was live)."""
        return promotion_service.rollback(self._ctx, model, alias, reason=reason)

    # -- monitoring, cards, explanations -------------------------------------------------

    def monitor(
        self,
        model: str,
        *,
        window: str | timedelta | None = None,
        last: int | None = None,
        every: str | timedelta | None = None,
        count: int | None = None,
        version: int | None = None,
        alerts: bool = True,
        report: str | Path | None = None,
    ) -> MonitorReport:
        """Drift, decay and alerts of ``model``'s live version (``pathtolive monitor``):
        ``window`` as ``"24h"`` or a timedelta, or the ``last`` N requests; ``every`` adds a
        series of windows. With ``alerts`` (needs the scientist role) alerts are recorded
        and sent to the webhook as the command sends them; ``report`` also writes the HTML
        report there."""
        from pathtolive.monitoring.config import parse_window
        from pathtolive.service.alerts import deliver_alerts
        from pathtolive.service.monitor import monitor

        if count is not None and count < 1:
            raise InvalidInputError(f"count={count}: give a positive number of windows")

        def duration(value: str | timedelta | None, where: str) -> timedelta | None:
            return parse_window(value, where=where) if isinstance(value, str) else value

        outcome = monitor(
            self._ctx,
            model,
            window=duration(window, "window"),
            last=last,
            version=version,
            record_alerts=alerts,
            every=duration(every, "every"),
            count=count,
        )
        if report is not None:
            from pathtolive.ui import monitoring_report_html

            Path(report).write_text(monitoring_report_html(outcome.report), encoding="utf-8")
        if alerts:
            deliver_alerts(self._ctx)
        return outcome.report

    def model_card(self, ref: str, *, out: str | Path | None = None) -> ModelCard:
        """The model card of ``ref``; with ``out``, also written there as
        ``NAME-vN.md`` and ``.html`` (``pathtolive models card``)."""
        from pathtolive.service.card import model_card

        version = model_service.model_version(self._ctx, ref)
        card = model_card(self._ctx, version.ref)
        if out is not None:
            from pathtolive.ui import model_card_html, model_card_markdown

            folder = Path(out)
            folder.mkdir(parents=True, exist_ok=True)
            stem = folder / f"{version.model}-v{version.version}"
            stem.with_suffix(".md").write_text(model_card_markdown(card), encoding="utf-8")
            stem.with_suffix(".html").write_text(model_card_html(card), encoding="utf-8")
        return card

    def explain(self, ref: str, rows: pd.DataFrame) -> Explanation:
        """Per-input attributions of ``rows`` for model version ``ref``, as the live
        server's ``:explain`` computes them (SHAP where it applies, else occlusion)."""
        from pathtolive.service.servables import explain_rows

        return explain_rows(self._ctx, ref, rows)

    # -- audit -------------------------------------------------------------------------

    def audit_log(self, *, subject: str | None = None, limit: int | None = 50) -> list[AuditEvent]:
        return audit_service.audit_log(self._ctx, subject=subject, limit=limit)

    def verify_audit(self) -> AuditVerification:
        return audit_service.verify_audit(self._ctx)

    def data_access(self, ref: str) -> list[AuditEvent]:
        """Who read dataset version ``ref``'s rows, when and why, newest first."""
        from pathtolive.service.erasure import dataset_access

        return dataset_access(self._ctx, ref)

    def forget(self, ref: str, *, reason: str) -> DatasetVersion:
        """Erase dataset version ``ref``'s rows (admin); returns its tombstone."""
        from pathtolive.service.erasure import forget_version

        return forget_version(self._ctx, ref, reason=reason).version


_RUN_FIELDS = (
    "run_id",
    "pipeline",
    "kind",
    "status",
    "actor",
    "started_at",
    "finished_at",
    "code_commit",
)


def _runs_frame(rows: Sequence[RunRow]) -> pd.DataFrame:
    """One row per run: its fields, then its metrics, params and data as columns."""
    records = []
    for row in rows:
        record: dict[str, Any] = {field: getattr(row, field) for field in _RUN_FIELDS}
        record.update({f"metrics.{key}": value for key, value in row.metrics.items()})
        record.update({f"params.{key}": value for key, value in row.params.items()})
        record.update({f"data.{key}": value for key, value in row.inputs.items()})
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=None if records else list(_RUN_FIELDS))
    prefixes = ("metrics.", "params.", "data.")
    extra = sorted(
        (c for c in frame.columns if c not in _RUN_FIELDS),
        key=lambda c: (next(i for i, p in enumerate(prefixes) if c.startswith(p)), c),
    )
    return frame[[*_RUN_FIELDS, *extra]]


def _param_text(value: Any) -> str:
    """The command-line spelling of a typed value, so one binder types both."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)
