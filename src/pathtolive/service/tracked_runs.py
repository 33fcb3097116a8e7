"""Runs tracked by hand: work done in a notebook, recorded with a pipeline run's lineage.

``with ws.start_run(name="by-hand", data="loans@latest") as run:`` records a run of kind
``notebook`` as a pipeline run is recorded: the workspace's code version (commit, dirty
flag and diff hash), this process's environment, the params given and logged, and the
exact dataset versions it reads. Inside the block ``run.log_metric`` (or
``pathtolive.log_metric``, as in a pipeline's step) buffers metrics, written when the run
ends. An exception leaving the block marks the run failed with its traceback;
``KeyboardInterrupt`` marks it cancelled. Without a ``with`` block (a run across a
notebook's cells) the run lasts until ``run.end()``. A heartbeat is renewed until the run
ends, so a kernel that dies leaves the run marked ``failed`` ("lost"), as a killed
pipeline does.

The run's name stands where a pipeline run's pipeline name does (``runs list --pipeline
NAME`` finds it). ``run.log_holdout(test_df)`` keeps the rows the model was evaluated on
(a frame of the run's one dataset, its index the rows' positions as ``run.load()`` gives
them), so ``gates check`` can score the candidate, the live version and the baseline on
the same rows, as it does for a pipeline that evaluates its model in a step.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, SupportsFloat

import pandas as pd

from pathtolive.entities import ModelVersion, Run
from pathtolive.errors import ConflictError, InvalidInputError, PathToLiveError
from pathtolive.faces import speaks_python
from pathtolive.pipelines import capture_code_version, capture_environment, dumps
from pathtolive.pipelines import tracking as logging_api
from pathtolive.pipelines.canonical import is_plain
from pathtolive.pipelines.tracking import ActiveRun
from pathtolive.redaction import redact
from pathtolive.refs import check_name
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service import runs as run_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.holdout import LOGGED_HOLDOUT, LOGGED_TARGET

__all__ = ["TrackedRun", "start_tracked_run"]


def start_tracked_run(
    ctx: ServiceContext,
    name: str,
    *,
    data: Mapping[str, str] | str | None = None,
    params: Mapping[str, Any] | None = None,
) -> TrackedRun:
    """Record the start of a run of kind ``notebook`` named ``name`` reading the dataset
    versions ``data`` (``"loans@latest"``, or ``{"train": "loans@2", ...}``), made exact."""
    from pathtolive.auth import Permission

    actor = ctx.require(Permission.WRITE, "start runs")
    check_name(name, kind="run")
    given = dict(params or {})
    for key, value in given.items():
        if not isinstance(key, str) or not key or not is_plain(value):
            raise InvalidInputError(
                f"param {key!r} is a {type(value).__name__}; give numbers, strings, "
                "booleans, None, or lists and dicts of them"
            )
    named = {"data": data} if isinstance(data, str) else dict(data or {})
    inputs = {
        parameter: dataset_service.check_readable(dataset_service.get_version(ctx, ref)).ref
        for parameter, ref in named.items()
    }
    code = capture_code_version(ctx.settings.root)
    environment = capture_environment()
    started = datetime.now(UTC)
    run = Run(
        run_id=uuid.uuid4().hex,
        kind="notebook",
        pipeline=name,
        status="running",
        actor=actor.name,
        started_at=started,
        finished_at=None,
        code_commit=code.commit,
        code_dirty=code.dirty,
        code_diff_hash=code.diff_hash,
        pipelines_hash=code.pipelines_hash,
        environment_digest=environment.digest,
        params=given,
        inputs=inputs,
        heartbeat_at=started,
    )
    run_service.record_started_run(
        ctx,
        actor,
        run,
        environment,
        {
            "name": name,
            "kind": "notebook",
            "inputs": inputs,
            "params": given,
            "code": code.describe(),
        },
    )
    return TrackedRun(ctx, run)


@speaks_python
class TrackedRun:
    """A run in progress outside a pipeline; a context manager that ends it. A face of
    the Python API: its errors name keyword arguments.

    >>> with ws.start_run(name="by-hand", data="loans@latest") as run:  # doctest: +SKIP
    ...     frame = run.load()
    ...     run.log_param("C", 0.5)
    ...     run.log_metric("roc_auc", 0.81)
    >>> run.register(model)                                            # doctest: +SKIP
    """

    def __init__(self, ctx: ServiceContext, run: Run) -> None:
        self._ctx = ctx
        self._run = run
        # The pipeline runs' own sink and heartbeat: one way of persisting a run.
        self._active = ActiveRun(run_service.RunMetricSink(ctx, run.run_id, run.params))
        # Beats from now until the run ends, in a ``with`` block or across a notebook's
        # cells (``run = ws.start_run(...)`` … ``run.end()``).
        self._heartbeat = run_service.RunHeartbeat(ctx, run.run_id)
        self._heartbeat.__enter__()
        self._holdout: str | None = None
        self._target: str | None = None
        self._ended = False
        self._activation: Any = None
        # CPU counts only while this process works, not while a notebook waits.
        self._clock = run_service.ResourceClock()

    # -- what it is ------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self._run.run_id

    @property
    def name(self) -> str:
        return self._run.pipeline or ""

    @property
    def inputs(self) -> dict[str, str]:
        """The exact dataset versions it reads, by name (``{"data": "loans@3"}``)."""
        return dict(self._run.inputs)

    @property
    def run(self) -> Run:
        """The run as stored now (its status, its outputs once ended)."""
        return run_service.get_run(self._ctx, self._run.run_id)

    @property
    def metrics(self) -> dict[str, float]:
        """The last value logged for each metric."""
        return self._active.latest

    def _repr_html_(self) -> str | None:
        return self.run._repr_html_()

    # -- the block -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._check_open("enter")
        # pathtolive.log_metric in the block logs to this run, as in a pipeline's step.
        self._activation = logging_api.activate(self._active)
        self._activation.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._activation is not None:
            self._activation.__exit__(kind, error, trace)
            self._activation = None
        if self._ended:
            return
        if error is None:
            self.end()
        elif isinstance(error, KeyboardInterrupt):
            self.end("cancelled", error="interrupted (Ctrl-C)")
        elif isinstance(error, PathToLiveError):
            self.end("failed", error=error.message)
        else:
            text = "".join(traceback.format_exception(kind, error, trace))
            self.end("failed", error=redact(text), summary=f"{type(error).__name__}: {error}")

    # -- logging ---------------------------------------------------------------------------

    def log_metric(self, key: str, value: SupportsFloat, step: int | None = None) -> None:
        """Log a metric (a finite number; ``step`` an optional iteration number)."""
        self._check_open("log to")
        with self._logging():
            logging_api.log_metric(key, value, step)

    def log_metrics(self, metrics: Mapping[str, SupportsFloat], step: int | None = None) -> None:
        self._check_open("log to")
        with self._logging():
            logging_api.log_metrics(metrics, step)

    def log_param(self, key: str, value: Any) -> None:
        """Record a value chosen (a setting, a feature list): a plain JSON value."""
        self._check_open("log to")
        with self._logging():
            logging_api.log_param(key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._check_open("log to")
        with self._logging():
            logging_api.log_params(params)

    def log_holdout(self, frame: pd.DataFrame, *, target: str | None = None) -> None:
        """Keep the rows the model is evaluated on, with their target, for the gates: a
        frame of the run's one dataset whose index is the rows' positions in it (as
        :meth:`load` and ``train_test_split`` leave it). ``target`` names the column the
        model predicts, where neither ``[models.NAME] target`` nor a ``target`` tag does."""
        self._check_open("log to")
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise InvalidInputError("the holdout is a non-empty DataFrame of the test rows")
        if len(self._run.inputs) != 1:
            raise InvalidInputError(
                f"run {self.name!r} reads {len(self._run.inputs)} datasets; a holdout's rows "
                "can be tied to one dataset only: start the run with data= naming one"
            )
        if not pd.api.types.is_integer_dtype(frame.index.dtype):
            raise InvalidInputError(
                f"the holdout has a {frame.index.dtype} index, not the dataset's row "
                "positions; keep the index run.load() gives (do not reset it)"
            )
        if target is not None and target not in frame.columns:
            raise InvalidInputError(
                f"the holdout has no column {target!r}; keep the target in the test rows"
            )
        self._holdout = self._ctx.artifacts.put_bytes(dumps(frame)).digest
        self._target = target

    def load(self, name: str | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The rows of the dataset version the run reads as ``name`` (default: its only
        one), audited as read by this run."""
        if name is None:
            if len(self._run.inputs) != 1:
                raise InvalidInputError(
                    f"run {self.name!r} reads {', '.join(self._run.inputs) or 'no dataset'}; "
                    "name the one to load"
                )
            name = next(iter(self._run.inputs))
        if name not in self._run.inputs:
            raise InvalidInputError(
                f"run {self.name!r} reads no dataset named {name!r}; it reads "
                f"{', '.join(self._run.inputs) or 'none'} (start it with data=...)"
            )
        return dataset_service.load_frame(
            self._ctx, self._run.inputs[name], columns, purpose=f"run {self.run_id}"
        )

    # -- ending and registering ---------------------------------------------------------

    def end(
        self, status: str = "succeeded", *, error: str | None = None, summary: str | None = None
    ) -> Run:
        """End the run (the ``with`` block does this): write what was logged and mark it
        ``succeeded``, ``failed`` or ``cancelled``."""
        self._check_open("end")
        if status not in ("succeeded", "failed", "cancelled"):
            raise InvalidInputError(f"status {status!r}: give succeeded, failed or cancelled")
        self._ended = True
        self._heartbeat.__exit__(None, None, None)
        found = self.run
        if found.status != "running":  # taken for lost meanwhile: its outcome stands
            raise ConflictError(
                f"run {self.name!r} ({self.run_id[:12]}) was marked {found.status} "
                f"meanwhile ({found.error or 'no reason given'}); start a new run"
            )
        self._active.flush()
        actor = self._ctx.actor()
        outputs: dict[str, Any] | None = None
        if status == "succeeded":
            outputs = {
                "metrics": self._active.latest,
                "model_digest": None,
                run_service.RESOURCES_OUTPUT: self._clock.elapsed(),
            }
            if self._holdout is not None:
                outputs[LOGGED_HOLDOUT] = self._holdout
                outputs[LOGGED_TARGET] = self._target
        run_service.finish_run(
            self._ctx,
            actor,
            self.run_id,
            status,
            error=error,
            summary=summary or error,
            outputs=outputs,
        )
        return self.run

    def register(
        self,
        model: object,
        *,
        name: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        sample: pd.DataFrame | None = None,
        trusted: Sequence[str] = (),
    ) -> ModelVersion:
        """Register ``model`` as the next version of ``name`` (default: the run's name),
        made by this run: its lineage is the run's, its metrics the last logged ones."""
        stored = self.run
        if stored.status in ("failed", "cancelled"):
            raise ConflictError(
                f"run {self.name!r} {stored.status}, so its model is not registered; "
                "start a new run"
            )
        self._active.flush()
        return model_service.register_model(
            self._ctx,
            model,
            name or self.name,
            run_id=self.run_id,
            data=stored.inputs,
            metrics=self._active.latest,
            description=description,
            tags=tags,
            signature_sample=sample,
            source="notebook",
            trusted=trusted,
        )

    def _check_open(self, doing: str) -> None:
        if self._ended:
            raise ConflictError(
                f"run {self.name!r} ({self.run_id[:12]}) has ended; cannot {doing} it: "
                "start a new run"
            )

    def _logging(self) -> Any:
        """The run made active for one logging call, inside the block or not."""
        return logging_api.activate(self._active)
