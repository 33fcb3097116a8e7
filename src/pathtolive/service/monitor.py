"""``pathtolive monitor``: how a live model's traffic compares with what it was trained on.

One call reads the prediction log of a model version over a window, segment by segment
(so memory follows a segment, not the window), and answers three questions:

- **drift**: the live inputs against the profile stored with the training data's version
  (never the training data itself), per feature and method;
- **prediction drift**: the model's outputs in the window against its first outputs once
  live (the earliest ``min_rows`` logged rows of the version);
- **decay**: the metric on the rows of requests that got feedback labels, window by window,
  against the figure the version had at its gates, with a confidence-based estimate where
  labels are missing.

Thresholds crossed raise alerts (one open alert per model and key, audited, and put into
the webhook outbox of :mod:`pathtolive.service.alerts` when the model has a webhook); an
alert whose cause has gone is cleared.

A look that records alerts also keeps each of its windows' results (the series' windows,
else its one window of time; not a look at the last N requests) in the metadata store:
the console draws drift and the metric over time from them and never reads the log.
``--no-alerts`` changes nothing in the store.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pathtolive import compute, progress
from pathtolive.auth import Permission
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import profile_frame
from pathtolive.data.schema import Schema
from pathtolive.entities import Alert, ModelVersion, PredictionSegment
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.faces import spelled
from pathtolive.format import duration, utc
from pathtolive.gates.config import GateConfig
from pathtolive.monitoring.config import MonitoringConfig
from pathtolive.monitoring.decay import DecayResult, decay, feedback_frame
from pathtolive.monitoring.drift import (
    CurrentSketch,
    DriftResult,
    DriftThresholds,
    compare,
    drift,
    with_importance,
)
from pathtolive.monitoring.report import (
    DriftAlerting,
    MonitorReport,
    MonitorWindow,
    PredictionDrift,
)
from pathtolive.monitoring.series import (
    DEFAULT_WINDOWS,
    MonitorSeries,
    SeriesWindow,
    series_bounds,
)
from pathtolive.monitoring.stored import to_stored
from pathtolive.predlog import INPUT_PREFIX
from pathtolive.refs import is_number
from pathtolive.registry.signature import Signature
from pathtolive.service.alerts import clear_alerts_of, open_alert
from pathtolive.service.context import ServiceContext
from pathtolive.service.models import model_version
from pathtolive.service.named_holdout import reference_data
from pathtolive.service.privacy import shown_profile
from pathtolive.store.artifacts import ArtifactStore

__all__ = ["MonitorOutcome", "monitor", "monitoring_config"]

logger = logging.getLogger("pathtolive.monitoring")

_LOG_COLUMNS = ("request_id", "row", "at", "role", "prediction", "label", "output")


@dataclass(frozen=True)
class MonitorOutcome:
    """The report (its ``to_dict()`` is what ``--json`` prints), the alerts this call
    opened and cleared, and how many windows' results it ``stored`` for the console."""

    report: MonitorReport
    opened: list[Alert] = field(default_factory=list)
    cleared: list[Alert] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    stored: int = 0


def monitoring_config(ctx: ServiceContext, model: str) -> MonitoringConfig:
    return MonitoringConfig.from_toml(model, ctx.settings.document.get("models", {}))


def monitor(
    ctx: ServiceContext,
    model: str,
    *,
    window: timedelta | None = None,
    last: int | None = None,
    version: int | None = None,
    now: datetime | None = None,
    record_alerts: bool = True,
    every: timedelta | None = None,
    count: int | None = None,
    scheduler: str | None = None,
) -> MonitorOutcome:
    """Compare the live traffic of ``model`` (its live version, or ``version``) over the
    last ``window`` (default: the configured one), or over its ``last`` requests, with
    its reference; record alerts when ``record_alerts`` (needs the ``scientist`` role).

    With ``every``, also a series of ``count`` such windows, each ending ``every`` before
    the next (default: back to the version's first logged row); with a configured
    persistence, drift alerts are judged on the last windows of a series (of consecutive
    windows when ``every`` is not given). See :mod:`pathtolive.monitoring.series`.

    The log's segments are read in parallel on the Dask cluster named by ``scheduler``,
    ``PATHTOLIVE_DASK_SCHEDULER`` or ``[compute] scheduler`` when there is one; the
    figures are the same as when they are read here."""
    ctx.require(Permission.WRITE if record_alerts else Permission.READ, "monitor models")
    if window is not None and last is not None:
        raise InvalidInputError("give a window or a number of requests, not both")
    if last is not None and last < 1:
        raise InvalidInputError(
            f"{spelled('--last', 'last=')}{last}: give a positive number of requests"
        )
    if last is not None and (every is not None or count is not None):
        raise InvalidInputError(
            "a series of windows is of time: give "
            + spelled("--every with --window, not with --last", "every= with window=, not last=")
        )
    if count is not None and every is None:
        raise InvalidInputError(
            spelled("--count", "count=")
            + " is the number of windows of a series: give "
            + spelled("--every", "every=")
            + " too"
        )
    config = monitoring_config(ctx, model)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    served = model_version(ctx, f"{model}@{version}" if version else f"{model}@live")
    if served.signature is None:
        raise InvalidInputError(f"{served.ref} has no signature: nothing to compare inputs on")
    signature = Signature.from_dict(served.signature)
    reference_ref, reference = _reference_profile(ctx, served, signature)
    length = window or config.window
    bounds = None
    if last is None and (every is not None or config.persistence is not None):
        bounds = _bounds(ctx, served, config, now, length, every, count)
    newest = None if last is not None else now - length
    since = bounds[0][0] if bounds else newest
    segments = _segments(ctx, served, since=since, until=now)
    progress.stage(
        f"monitor {served.ref}: reading the prediction log", total=len(segments), unit="items"
    )
    thresholds = DriftThresholds.from_mapping(config.drift_threshold, verdict=config.verdict)
    inputs = list(signature.input_names)

    sketches = [CurrentSketch(reference, inputs) for _ in range(len(bounds) if bounds else 1)]
    log_parts: list[pd.DataFrame] = []
    first_at: datetime | None = None
    last_at: datetime | None = None
    batches = _live_batches(
        ctx, segments, inputs, since=since, until=now, last=last, scheduler=scheduler
    )
    for batch in batches:
        if bounds:
            for (start, end), each in zip(bounds, sketches, strict=True):
                part = _between(batch, start, end)
                if part.num_rows:
                    each.add(part, prefix=INPUT_PREFIX)
        else:
            sketches[0].add(batch, prefix=INPUT_PREFIX)
        log_parts.append(batch.select(list(_LOG_COLUMNS)).to_pandas())
        stamps = batch.column("at")
        if len(stamps):
            low, high = pc.min(stamps).as_py(), pc.max(stamps).as_py()
            first_at = low if first_at is None or low < first_at else first_at
            last_at = high if last_at is None or high > last_at else last_at
    log = pd.concat(log_parts, ignore_index=True) if log_parts else _empty_log()
    sketch = sketches[-1]
    rows = sketch.rows
    progress.stage(f"monitor {served.ref}: drift against the training data, decay on feedback")
    drift_result: DriftResult | None = (
        compare(reference, sketch, thresholds, min_rows=config.min_rows) if rows else None
    )
    importance = _importance(ctx, served)
    if drift_result is not None and importance is not None:
        drift_result = with_importance(drift_result, importance)
    alerting = _drift_alerting(config, drift_result, importance is not None)
    newest_log = log if not bounds else _rows_between(log, newest, now)
    prediction_drift = _prediction_drift(ctx, served, newest_log, thresholds, config.min_rows)
    labels = _feedback(ctx, served, log, since=since) if not log.empty else None
    assessor = _DecayAssessor.build(ctx, served, signature, config)
    decay_result = None
    if labels is not None and not newest_log.empty:
        decay_result = assessor.assess(
            newest_log,
            labels,
            config.window / 8 if newest is not None else max(len(newest_log) // 8, 1),
        )
    series = None
    if bounds:
        series = MonitorSeries(
            window=length,
            every=every or length,
            windows=tuple(
                _series_window(
                    reference, each, thresholds, config, assessor, log, labels, start, end
                )
                for (start, end), each in zip(bounds, sketches, strict=True)
            ),
            persistence=config.persistence,
        )

    description = f"last {last} requests" if last is not None else f"last {duration(length)}"
    opened: list[Alert] = []
    cleared: list[Alert] = []
    if record_alerts:
        drift_alerts = _drift_alerts(served, config, drift_result, series, rows)
        opened, cleared = _record_alerts(
            ctx,
            model,
            served,
            config,
            drift_alerts,
            alerting,
            prediction_drift,
            decay_result,
            rows,
            now,
        )
    stored = 0
    if record_alerts and last is None and newest is not None:
        if series is not None:
            windows, step = list(series.windows), series.every
        else:
            newest_decay = None
            if labels is not None and not newest_log.empty:
                newest_decay = assessor.assess(newest_log, labels, len(newest_log))
            windows = [SeriesWindow(newest, now, rows, drift_result, newest_decay)]
            step = length
        stored = _store_results(ctx, served, reference_ref, windows, step)
    with ctx.metadata.read() as session:
        current = session.list_alerts(model, status="open")
    report = MonitorReport(
        model=model,
        version=served.version,
        generated_at=now,
        window=MonitorWindow(
            start=newest or first_at,
            end=last_at if last is not None and last_at is not None else now,
            rows=rows,
            description=description,
        ),
        trained_on=_trained_on(ctx, served),
        reference=reference_ref,
        drift=drift_result,
        drift_alerting=alerting,
        prediction_drift=prediction_drift,
        decay=decay_result,
        alerts=tuple(current),
        series=series,
    )
    return MonitorOutcome(report, opened, cleared, current, stored)


def _store_results(
    ctx: ServiceContext,
    served: ModelVersion,
    reference: str,
    windows: list[SeriesWindow],
    step: timedelta,
) -> int:
    """Keep each window's result for the console (see :mod:`pathtolive.monitoring.stored`),
    replacing what an earlier look stored for the same window; how many were kept."""
    computed_at = datetime.now(UTC)
    results = [
        to_stored(
            served.model,
            served.version,
            window,
            reference=reference,
            step=step,
            computed_at=computed_at,
        )
        for window in windows
    ]
    with ctx.metadata.write() as session:
        return session.store_monitor_results(results)


# -- windows over time -------------------------------------------------------------------


def _bounds(
    ctx: ServiceContext,
    served: ModelVersion,
    config: MonitoringConfig,
    now: datetime,
    length: timedelta,
    every: timedelta | None,
    count: int | None,
) -> list[tuple[datetime, datetime]]:
    """The windows of the series: ``count`` of them; by default, with ``every``, as many
    as reach back to the version's first logged row (at most :data:`DEFAULT_WINDOWS`, at
    least the persistence's ``n``), else the persistence's ``n`` consecutive windows."""
    step = every or length
    needed = config.persistence.n if config.persistence is not None else 1
    if count is None and every is not None:
        with ctx.metadata.read() as session:
            segments = session.list_prediction_segments(served.model, served.version)
        first = min((segment.first_at for segment in segments), default=now)
        # Windows whose end is after the first row: the rest would be empty.
        reach = max(int((now - utc(first)) / step) + 1, 1)
        count = max(min(reach, DEFAULT_WINDOWS), needed)
    return series_bounds(now, window=length, every=step, count=count or needed)


def _between(table: pa.Table, start: datetime, end: datetime) -> pa.Table:
    at = table.column("at")
    kind = table.schema.field("at").type
    mask = pc.and_(pc.greater_equal(at, pa.scalar(start, kind)), pc.less(at, pa.scalar(end, kind)))
    return table.filter(mask)


def _rows_between(log: pd.DataFrame, start: datetime | None, end: datetime) -> pd.DataFrame:
    at = pd.to_datetime(log["at"], utc=True)
    keep = at < end if start is None else (at >= start) & (at < end)
    return log.loc[keep.to_numpy()].reset_index(drop=True)


def _series_window(
    reference: Profile,
    sketch: CurrentSketch,
    thresholds: DriftThresholds,
    config: MonitoringConfig,
    assessor: _DecayAssessor,
    log: pd.DataFrame,
    labels: pd.DataFrame | None,
    start: datetime,
    end: datetime,
) -> SeriesWindow:
    drift_result = (
        compare(reference, sketch, thresholds, min_rows=config.min_rows) if sketch.rows else None
    )
    rows = _rows_between(log, start, end)
    decay_result = None
    if labels is not None and not rows.empty:
        decay_result = assessor.assess(rows, labels, len(rows))  # the window as one
    return SeriesWindow(start, end, sketch.rows, drift_result, decay_result)


# -- reading the log ---------------------------------------------------------------------


def _segments(
    ctx: ServiceContext, served: ModelVersion, *, since: datetime | None, until: datetime
) -> list[PredictionSegment]:
    with ctx.metadata.read() as session:
        return session.list_prediction_segments(
            served.model, served.version, since=since, until=until
        )


def _live_batches(
    ctx: ServiceContext,
    segments: list[PredictionSegment],
    inputs: list[str],
    *,
    since: datetime | None,
    until: datetime,
    last: int | None,
    scheduler: str | None = None,
) -> Iterator[pa.Table]:
    """The log's rows of live and canary traffic in the window, one segment at a time;
    with ``last``, only the newest ``last`` requests (read newest segment first).

    On the configured cluster (``scheduler``, else the environment or the workspace), the
    segments are read, verified and filtered on its workers, several at a time, and
    taken here in the same order: what is built from them is the same as when they are
    read here."""
    ordered = sorted(segments, key=lambda s: s.first_at, reverse=last is not None)
    reader = _SegmentReader(ctx.artifacts, tuple(inputs), since, until)
    digests = [segment.artifact_digest for segment in ordered]
    with compute.cluster(scheduler, ctx.settings.document, os.environ) as client:
        yield from _taken(compute.map_ordered(reader, digests, client), last)


def _taken(tables: Iterator[pa.Table], last: int | None) -> Iterator[pa.Table]:
    """``tables`` in order; with ``last``, only the rows of the newest ``last`` requests
    (the tables come newest first)."""
    wanted_requests = last
    for table in tables:
        progress.advance(1)
        if wanted_requests is not None:
            requests = table.column("request_id").to_pandas()
            newest_first = requests.iloc[::-1].drop_duplicates()
            keep_ids = set(newest_first.iloc[:wanted_requests])
            wanted_requests -= len(keep_ids)
            table = table.filter(
                pc.is_in(table.column("request_id"), pa.array(sorted(keep_ids), pa.string()))
            )
        if table.num_rows:
            yield table
        if wanted_requests is not None and wanted_requests <= 0:
            return


@dataclass(frozen=True)
class _SegmentReader:
    """One log segment's rows of live and canary traffic in the window, read from the
    store by digest (hash-checked): a task a Dask worker can run."""

    store: ArtifactStore
    inputs: tuple[str, ...]
    since: datetime | None
    until: datetime

    def __call__(self, digest: str) -> pa.Table:
        data = self.store.get_bytes(digest)  # hash-checked
        available = set(pq.read_schema(io.BytesIO(data)).names)
        columns = [c for c in _LOG_COLUMNS if c in available] + [
            f"{INPUT_PREFIX}{name}" for name in self.inputs if f"{INPUT_PREFIX}{name}" in available
        ]
        table = pq.read_table(io.BytesIO(data), columns=columns)
        table = _with_log_columns(table)
        at_type = table.schema.field("at").type
        mask = pc.not_equal(table.column("role"), "shadow")
        if self.since is not None:
            mask = pc.and_(
                mask, pc.greater_equal(table.column("at"), pa.scalar(self.since, at_type))
            )
        mask = pc.and_(mask, pc.less(table.column("at"), pa.scalar(self.until, at_type)))
        return table.filter(mask)


def _with_log_columns(table: pa.Table) -> pa.Table:
    for name, kind in (
        ("prediction", pa.float64()),
        ("label", pa.string()),
        ("output", pa.string()),
    ):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table


def _empty_log() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in _LOG_COLUMNS})


# -- references --------------------------------------------------------------------------


def _trained_on(ctx: ServiceContext, served: ModelVersion) -> tuple[str, ...]:
    with ctx.metadata.read() as session:
        run = session.get_run(served.run_id)
    return tuple(sorted(run.inputs.values())) if run is not None else ()


def _reference_profile(
    ctx: ServiceContext, served: ModelVersion, signature: Signature
) -> tuple[str, Profile]:
    """The stored profile of the first training dataset version that has every input,
    its PII columns (by its schema or the workspace) kept to counts: drift leaves them
    out, and no value of theirs reaches the report."""
    inputs = set(signature.input_names)
    with ctx.metadata.read() as session:
        run = session.get_run(served.run_id)
        # The training data's profile; the named holdout's when the training data is
        # unknown (an imported model): what the model was judged fit on.
        for ref in reference_data(session, served, run):
            name, _, number = ref.partition("@")
            found = session.get_version(name, int(number)) if is_number(number) else None
            if found is None:
                continue
            profile = Profile.from_dict(found.profile)
            if inputs <= set(profile.names):
                schema = session.get_schema(found.dataset, found.schema_version)
                contract = Schema.from_dict(schema.schema) if schema else Schema(())
                return ref, shown_profile(ctx, profile, contract)
    raise NotFoundError(
        f"{served.ref} has no training dataset version with a profile of all its inputs "
        f"({', '.join(sorted(inputs))}); drift needs one: register the model with data=, "
        "or gate it on a named holdout (--holdout DATASET@N) whose profile stands in"
    )


def _prediction_drift(
    ctx: ServiceContext,
    served: ModelVersion,
    log: pd.DataFrame,
    thresholds: DriftThresholds,
    min_rows: int,
) -> PredictionDrift | None:
    """The window's outputs against the version's first ``min_rows`` logged outputs."""
    current = pd.to_numeric(log["prediction"], errors="coerce").dropna()
    if current.empty:
        return None
    segments = _segments(ctx, served, since=None, until=datetime.now(UTC))
    first: list[pd.Series] = []
    count = 0
    for segment in sorted(segments, key=lambda s: s.first_at):
        table = pq.read_table(
            io.BytesIO(ctx.artifacts.get_bytes(segment.artifact_digest)),
            columns=["role", "prediction", "at"],
        )
        frame = table.to_pandas()
        values = pd.to_numeric(frame.loc[frame["role"] != "shadow", "prediction"], errors="coerce")
        first.append(values.dropna())
        count += int(values.notna().sum())
        if count >= min_rows:
            break
    baseline = pd.concat(first, ignore_index=True).iloc[:min_rows] if first else pd.Series()
    if len(baseline) < min(min_rows, 30):
        return None
    result = drift(
        profile_frame(pd.DataFrame({"prediction": baseline.astype("float64")})),
        pd.DataFrame({"prediction": current.astype("float64")}),
        thresholds,
        min_rows=min_rows,
    )
    return PredictionDrift(result.features[0], f"the first {len(baseline)} outputs of {served.ref}")


def _feedback(
    ctx: ServiceContext, served: ModelVersion, log: pd.DataFrame, *, since: datetime | None
) -> pd.DataFrame:
    from pathtolive.service.predictions import feedback

    # Only the labels that can join the window's rows: a model may hold many more (for
    # older requests, or for ids it never answered), and reading them all cost seconds.
    requests = log["request_id"].drop_duplicates().tolist()
    return feedback_frame(feedback(ctx, request_ids=requests, model=served.model, since=since))


@dataclass(frozen=True)
class _DecayAssessor:
    """Decay as configured for one version: its metric, gate-time figure and settings,
    looked up once for every window judged."""

    metric: str
    reference: float | None
    signature: Signature
    config: MonitoringConfig

    @classmethod
    def build(
        cls,
        ctx: ServiceContext,
        served: ModelVersion,
        signature: Signature,
        config: MonitoringConfig,
    ) -> _DecayAssessor:
        metric = config.metric or _gate_metric(ctx, served, signature)
        return cls(metric, _reference_figure(ctx, served, metric), signature, config)

    def assess(
        self, log: pd.DataFrame, labels: pd.DataFrame, window: timedelta | int
    ) -> DecayResult:
        return decay(
            log,
            labels,
            metric=self.metric,
            output_kind=self.signature.output.kind,
            classes=self.signature.output.classes,
            reference=self.reference,
            drop=self.config.decay_drop,
            window=window,
            min_labelled=min(100, self.config.min_rows),
            confidence=self.config.decay_confidence,
        )


def _gate_metric(ctx: ServiceContext, served: ModelVersion, signature: Signature) -> str:
    configured = GateConfig.from_toml(served.model, ctx.settings.document.get("models", {}))
    if configured.metric:
        return configured.metric
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(served.model, served.version)
    if stored is not None and stored.report.get("metric"):
        return str(stored.report["metric"])
    if signature.output.kind == "regression":
        return "rmse"
    classes = signature.output.classes or ()
    return "roc_auc" if len(classes) == 2 and signature.output.kind == "probability" else "accuracy"


def _reference_figure(ctx: ServiceContext, served: ModelVersion, metric: str) -> float | None:
    """The version's figure for ``metric`` when it was released: what its run logged, else
    what its metric-floor gate measured on the holdout."""
    if metric in served.metrics:
        return float(served.metrics[metric])
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(served.model, served.version)
    if stored is None or stored.report.get("metric") != metric:
        return None
    for result in stored.report.get("results", []):
        if result.get("gate") == "min_metric" and result.get("figure") is not None:
            return float(result["figure"])
    return None


# -- importance --------------------------------------------------------------------------


def _importance(ctx: ServiceContext, served: ModelVersion) -> dict[str, float] | None:
    """Each input's mean absolute attribution as the version's latest gate report keeps it
    (the explainability gate's result); None when no report measured it."""
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(served.model, served.version)
    if stored is None:
        return None
    for result in stored.report.get("results", []):
        importance = (result.get("data") or {}).get("importance")
        if result.get("gate") == "explainability" and isinstance(importance, dict):
            return {
                str(name): float(value)
                for name, value in importance.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
    return None


def _drift_alerting(
    config: MonitoringConfig, result: DriftResult | None, importance_known: bool
) -> DriftAlerting:
    """Whether this look's input drift may open alerts (``min_weighted_drift``)."""
    minimum = config.min_weighted_drift
    weighted = result.weighted_drift if result is not None else None
    if minimum is None:
        return DriftAlerting(True, None, weighted, "every drifted feature alerts")
    if not importance_known:
        return DriftAlerting(
            True,
            minimum,
            None,
            "the importance of the model's inputs is not known (no gate report measured "
            "attributions): every drifted feature alerts",
        )
    if result is None or not result.drifted:
        return DriftAlerting(True, minimum, weighted, "no feature drifted")
    assert weighted is not None
    share = f"the drifted features carry {weighted:.3g} of the model's attribution"
    if weighted >= minimum:
        return DriftAlerting(True, minimum, weighted, f"{share}, at least {minimum:g}")
    return DriftAlerting(
        False,
        minimum,
        weighted,
        f"{share}, below min_weighted_drift {minimum:g}: reported, not alerted",
    )


# -- alerts ------------------------------------------------------------------------------

_Raised = tuple[str, str, str, dict[str, Any]]
"""An alert to raise: kind, key, message, details."""


def _drift_alerts(
    served: ModelVersion,
    config: MonitoringConfig,
    drift_result: DriftResult | None,
    series: MonitorSeries | None,
    rows: int,
) -> list[_Raised] | None:
    """The drift alerts: of the newest window's drifted features, or with a persistence
    rule, of the features that drifted in enough of the last windows. None when drift
    cannot be judged (no window with enough rows)."""
    rule = config.persistence
    if rule is not None and series is not None:
        judged = [w for w in series.windows[-rule.n :] if w.rows >= config.min_rows]
        if not judged:
            return None
        raised: list[_Raised] = []
        for trend in series.features:
            if not trend.persistent:
                continue
            times = sum(trend.drifted[-rule.n :])
            newest = next(
                (
                    feature
                    for window in reversed(series.windows)
                    if window.drift is not None
                    for feature in window.drift.features
                    if feature.feature == trend.feature and feature.drifted
                ),
                None,
            )
            why = "; ".join(newest.reasons) if newest is not None else ""
            message = (
                f"drift in {trend.feature} in {times} of the last {rule.n} windows of "
                f"{duration(series.window)} (persistence {rule})" + (f": {why}" if why else "")
            )
            details = {
                "version": served.version,
                "figures": newest.figures if newest is not None else {},
                "persistence": rule.to_dict(),
                "drifted": list(trend.drifted[-rule.n :]),
                "rows": rows,
            }
            raised.append(("drift", f"drift:{trend.feature}", message, details))
        return raised
    if drift_result is None or rows < config.min_rows:
        return None
    return [
        (
            "drift",
            f"drift:{feature.feature}",
            f"drift in {feature.feature}: " + "; ".join(feature.reasons),
            {
                "version": served.version,
                "figures": feature.figures,
                "rows": rows,
                "rule": feature.rule,
                "importance": feature.importance,
                "weighted_drift": drift_result.weighted_drift,
            },
        )
        for feature in drift_result.features
        if feature.drifted
    ]


def _record_alerts(
    ctx: ServiceContext,
    model: str,
    served: ModelVersion,
    config: MonitoringConfig,
    drift_alerts: list[_Raised] | None,
    alerting: DriftAlerting,
    prediction_drift: PredictionDrift | None,
    decay_result: DecayResult | None,
    rows: int,
    now: datetime,
) -> tuple[list[Alert], list[Alert]]:
    """Open the alerts raised (``drift_alerts``: None when drift was not judged) and
    clear those of the judged kinds whose cause has gone."""
    raised: list[_Raised] = []
    judged_kinds: list[str] = []
    if drift_alerts is not None:
        judged_kinds.append("drift")  # judged even when it may not alert: old alerts clear
        if alerting.alerts:
            raised.extend(drift_alerts)
    if prediction_drift is not None and rows >= config.min_rows:
        judged_kinds.append("prediction_drift")
        if prediction_drift.drift.drifted:
            message = "prediction drift: " + "; ".join(prediction_drift.drift.reasons)
            # The figures as the report's JSON has them: what is not finite becomes null.
            figures = prediction_drift.to_dict()["figures"]
            raised.append(
                (
                    "prediction_drift",
                    "prediction_drift:output",
                    message,
                    {"version": served.version, "figures": figures},
                )
            )
    if decay_result is not None and decay_result.latest is not None:
        judged_kinds.append("decay")
        if decay_result.decayed:
            raised.append(
                (
                    "decay",
                    f"decay:{decay_result.metric}",
                    f"decay: {decay_result.reason}",
                    {"version": served.version, "decay": decay_result.to_dict()},
                )
            )
    actor = ctx.actor()
    opened: list[Alert] = []
    with ctx.metadata.write() as session:
        for kind, key, message, details in raised:
            alert, new = open_alert(
                session,
                actor,
                model,
                kind,
                key,
                message,
                details,
                at=now,
                webhook=config.alert_webhook is not None,
            )
            if new:
                opened.append(alert)
        cleared = clear_alerts_of(
            session,
            actor,
            model,
            judged_kinds,
            at=now,
            why={},
            keep={key for _, key, _, _ in raised},
        )
    for alert in opened:
        logger.warning("alert on %s: %s", model, alert.message)
    return opened, cleared
