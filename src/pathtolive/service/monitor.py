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

Thresholds crossed raise alerts (one open alert per model and key, audited, sent to the
webhook once); an alert whose cause has gone is cleared.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pathtolive import env
from pathtolive.auth import Permission
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import profile_frame
from pathtolive.entities import Alert, ModelVersion, PredictionSegment
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.format import duration
from pathtolive.gates.config import GateConfig
from pathtolive.monitoring.config import MonitoringConfig
from pathtolive.monitoring.decay import DecayResult, decay, feedback_frame
from pathtolive.monitoring.drift import CurrentSketch, DriftResult, DriftThresholds, compare, drift
from pathtolive.monitoring.report import MonitorReport, MonitorWindow, PredictionDrift, alert_dict
from pathtolive.predlog import INPUT_PREFIX
from pathtolive.refs import is_number
from pathtolive.registry.signature import Signature
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.models import model_version

__all__ = ["MonitorOutcome", "monitor", "monitoring_config"]

logger = logging.getLogger("pathtolive.monitoring")

_LOG_COLUMNS = ("request_id", "row", "at", "role", "prediction", "label", "output")


@dataclass(frozen=True)
class MonitorOutcome:
    """The report (its ``to_dict()`` is what ``--json`` prints) and the alerts this call
    opened and cleared."""

    report: MonitorReport
    opened: list[Alert] = field(default_factory=list)
    cleared: list[Alert] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


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
) -> MonitorOutcome:
    """Compare the live traffic of ``model`` (its live version, or ``version``) over the
    last ``window`` (default: the configured one), or over its ``last`` requests, with
    its reference; record alerts when ``record_alerts`` (needs the ``scientist`` role)."""
    ctx.require(Permission.WRITE if record_alerts else Permission.READ, "monitor models")
    if window is not None and last is not None:
        raise InvalidInputError("give a window or a number of requests, not both")
    if last is not None and last < 1:
        raise InvalidInputError(f"--last {last}: give a positive number of requests")
    config = monitoring_config(ctx, model)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    served = model_version(ctx, f"{model}@{version}" if version else f"{model}@live")
    if served.signature is None:
        raise InvalidInputError(f"{served.ref} has no signature: nothing to compare inputs on")
    signature = Signature.from_dict(served.signature)
    reference_ref, reference = _reference_profile(ctx, served, signature)
    since = None if last is not None else now - (window or config.window)
    segments = _segments(ctx, served, since=since, until=now)
    thresholds = DriftThresholds.from_mapping(config.drift_threshold)
    inputs = list(signature.input_names)

    sketch = CurrentSketch(reference, inputs)
    log_parts: list[pd.DataFrame] = []
    first_at: datetime | None = None
    last_at: datetime | None = None
    for batch in _live_batches(ctx, segments, inputs, since=since, until=now, last=last):
        sketch.add(batch, prefix=INPUT_PREFIX)
        log_parts.append(batch.select(list(_LOG_COLUMNS)).to_pandas())
        stamps = batch.column("at")
        if len(stamps):
            low, high = pc.min(stamps).as_py(), pc.max(stamps).as_py()
            first_at = low if first_at is None or low < first_at else first_at
            last_at = high if last_at is None or high > last_at else last_at
    log = pd.concat(log_parts, ignore_index=True) if log_parts else _empty_log()
    rows = sketch.rows
    drift_result: DriftResult | None = (
        compare(reference, sketch, thresholds, min_rows=config.min_rows) if rows else None
    )
    prediction_drift = _prediction_drift(ctx, served, log, thresholds, config.min_rows)
    decay_result = _decay(ctx, served, signature, log, config, since=since)

    start = since or first_at
    if last is not None:
        description = f"last {last} requests"
    else:
        description = f"last {duration(now - since)}" if since is not None else ""
    opened: list[Alert] = []
    cleared: list[Alert] = []
    if record_alerts:
        opened, cleared = _record_alerts(
            ctx, model, served, config, drift_result, prediction_drift, decay_result, rows, now
        )
    with ctx.metadata.read() as session:
        current = session.list_alerts(model, status="open")
    report = MonitorReport(
        model=model,
        version=served.version,
        generated_at=now,
        window=MonitorWindow(
            start=start,
            end=last_at if last is not None and last_at is not None else now,
            rows=rows,
            description=description,
        ),
        trained_on=_trained_on(ctx, served),
        reference=reference_ref,
        drift=drift_result,
        prediction_drift=prediction_drift,
        decay=decay_result,
        alerts=tuple(current),
    )
    return MonitorOutcome(report, opened, cleared, current)


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
) -> Iterator[pa.Table]:
    """The log's rows of live and canary traffic in the window, one segment at a time;
    with ``last``, only the newest ``last`` requests (read newest segment first)."""
    ordered = sorted(segments, key=lambda s: s.first_at, reverse=last is not None)
    wanted_requests = last
    for segment in ordered:
        data = ctx.artifacts.get_bytes(segment.artifact_digest)  # hash-checked
        available = set(pq.read_schema(io.BytesIO(data)).names)
        columns = [c for c in _LOG_COLUMNS if c in available] + [
            f"{INPUT_PREFIX}{name}" for name in inputs if f"{INPUT_PREFIX}{name}" in available
        ]
        table = pq.read_table(io.BytesIO(data), columns=columns)
        table = _with_log_columns(table)
        mask = pc.not_equal(table.column("role"), "shadow")
        if since is not None:
            mask = pc.and_(
                mask,
                pc.greater_equal(
                    table.column("at"), pa.scalar(since, table.schema.field("at").type)
                ),
            )
        mask = pc.and_(
            mask, pc.less(table.column("at"), pa.scalar(until, table.schema.field("at").type))
        )
        table = table.filter(mask)
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
    """The stored profile of the first training dataset version that has every input."""
    inputs = set(signature.input_names)
    with ctx.metadata.read() as session:
        for ref in _trained_on(ctx, served):
            name, _, number = ref.partition("@")
            found = session.get_version(name, int(number)) if is_number(number) else None
            if found is None:
                continue
            profile = Profile.from_dict(found.profile)
            if inputs <= set(profile.names):
                return ref, profile
    raise NotFoundError(
        f"{served.ref} has no training dataset version with a profile of all its inputs "
        f"({', '.join(sorted(inputs))}); drift needs one: register the model with data="
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


def _decay(
    ctx: ServiceContext,
    served: ModelVersion,
    signature: Signature,
    log: pd.DataFrame,
    config: MonitoringConfig,
    *,
    since: datetime | None,
) -> DecayResult | None:
    if log.empty:
        return None
    from pathtolive.service.predictions import feedback

    # Only the labels that can join the window's rows: a model may hold many more (for
    # older requests, or for ids it never answered), and reading them all cost seconds.
    requests = log["request_id"].drop_duplicates().tolist()
    frame = feedback_frame(feedback(ctx, request_ids=requests, model=served.model, since=since))
    metric = config.metric or _gate_metric(ctx, served, signature)
    reference = _reference_figure(ctx, served, metric)
    window = config.window / 8 if since is not None else max(len(log) // 8, 1)
    return decay(
        log,
        frame,
        metric=metric,
        output_kind=signature.output.kind,
        classes=signature.output.classes,
        reference=reference,
        drop=config.decay_drop,
        window=window,
        min_labelled=min(100, config.min_rows),
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


# -- alerts ------------------------------------------------------------------------------


def _record_alerts(
    ctx: ServiceContext,
    model: str,
    served: ModelVersion,
    config: MonitoringConfig,
    drift_result: DriftResult | None,
    prediction_drift: PredictionDrift | None,
    decay_result: DecayResult | None,
    rows: int,
    now: datetime,
) -> tuple[list[Alert], list[Alert]]:
    raised: list[tuple[str, str, str, dict[str, Any]]] = []
    judged_kinds: list[str] = []
    if drift_result is not None and rows >= config.min_rows:
        judged_kinds.append("drift")
        for feature in drift_result.features:
            if feature.drifted:
                message = f"drift in {feature.feature}: " + "; ".join(feature.reasons)
                details = {"version": served.version, "figures": feature.figures, "rows": rows}
                raised.append(("drift", f"drift:{feature.feature}", message, details))
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
            alert, new = session.raise_alert(model, kind, key, message, details, at=now)
            if new:
                opened.append(alert)
                record(
                    session,
                    actor,
                    "alert.opened",
                    f"model:{model}",
                    {"alert": alert.alert_id, "key": key, "message": message},
                )
        cleared = session.clear_alerts(
            model, keep={key for _, key, _, _ in raised}, kinds=judged_kinds, at=now
        )
        for alert in cleared:
            record(
                session,
                actor,
                "alert.cleared",
                f"model:{model}",
                {"alert": alert.alert_id, "key": alert.key},
            )
    if opened:
        for alert in opened:
            logger.warning("alert on %s: %s", model, alert.message)
        if config.alert_webhook:
            _send(ctx, config.alert_webhook, opened)
    return opened, cleared


def _send(ctx: ServiceContext, url: str, alerts: list[Alert]) -> None:
    """Hand new alerts to the webhook; delivery is retried in the background and its
    outcome recorded. The short-lived CLI waits a bounded time for it on exit."""
    from pathtolive.monitoring.webhook import WebhookSender

    secret = ctx.settings.environ.get(env.ALERT_WEBHOOK_SECRET, "")
    if not secret:
        # Unsigned alerts could be forged by anyone who can reach the receiver.
        logger.warning(
            "alerts are not sent to the webhook: set %s to the secret it shares with the receiver",
            env.ALERT_WEBHOOK_SECRET,
        )
        return

    def delivered(alert_id: int, ok: bool) -> None:
        with ctx.metadata.write() as session:
            session.record_delivery(alert_id, at=datetime.now(UTC), delivered=ok)

    sender = WebhookSender(url, secret.encode(), on_result=delivered)
    for alert in alerts:
        sender.send(alert.alert_id, {"alert": alert_dict(alert), "source": "pathtolive"})
    sender.close(timeout=30)
