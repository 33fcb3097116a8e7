"""Evaluating a model version's release gates, and keeping the report with it.

The candidate, the live champion and the baseline are all scored on one holdout — the
candidate run's own test split (found from its call graph), or a dataset version someone
named (see :mod:`pathtolive.service.named_holdout`) — so every comparison is paired. A
built-in baseline trains on the candidate's training rows; when those are not known it
is cross-fitted on the holdout, so it never scores a row it was trained on. The service measures
what the gates judge — latency and "loads and answers" in a clean process, the artifact's
size, whether per-row attributions can be computed, the training data's validation — and
the pure gates in :mod:`pathtolive.gates` decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pathtolive import progress, tracing
from pathtolive.auth import Permission
from pathtolive.data import Schema
from pathtolive.entities import ModelVersion, StoredGateReport
from pathtolive.errors import ConfigError, InvalidInputError, NotFoundError, PathToLiveError
from pathtolive.gates import (
    BASELINES,
    COSTS_EXTRA,
    CROSS_FIT_FOLDS,
    CostSettings,
    GateConfig,
    GateContext,
    GateReport,
    Predictions,
    align_proba,
    cross_fit_baseline,
    default_metric,
    fit_baseline,
    get_metric,
    run_gates,
)
from pathtolive.gates.base import BASELINE_FIT_EXTRA, EXTERNAL_BASELINE_EXTRA
from pathtolive.gates.external import ExternalBaseline, external_name
from pathtolive.gates.metrics import Task
from pathtolive.registry import LoadedModel
from pathtolive.service import costs as cost_service
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.explain import check_explanations, explainer_background
from pathtolive.service.external_baseline import ExternalBaselineFailed, ask_external_baseline
from pathtolive.service.holdout import Holdout, find_holdout
from pathtolive.service.latency import latency_budget, measure_latency, start_probe_server
from pathtolive.service.named_holdout import (
    JudgedOn,
    holdout_record,
    judged_holdout,
    named_frame,
)
from pathtolive.service.privacy import pii_columns

__all__ = ["HoldoutScores", "check_gates", "gate_config", "latest_report", "score_holdout"]

_LATENCY_SAMPLE_ROWS = 200


def gate_config(ctx: ServiceContext, model: str) -> GateConfig:
    """The ``[models.NAME]`` settings of ``model`` (defaults where there are none)."""
    return GateConfig.from_toml(model, ctx.settings.document.get("models", {}))


def check_gates(
    ctx: ServiceContext,
    ref: str,
    *,
    offline: bool = False,
    holdout: str | None = None,
    target: str | None = None,
) -> GateReport:
    """Run every gate that applies to the model version ``ref``; store and audit the
    report. A failing gate is a verdict, not an error: read ``report.passed``.

    ``holdout`` names the dataset version to judge on (``loans@3``), over the run's own
    test split and ``[models.NAME.gates] holdout``; ``target`` the column the model
    predicts in it. The report records what it was judged on and who chose it.

    With ``offline``, an external baseline is not called: the answers it gave the last
    check of this version are read back from the artifact store (by the digest that
    report names), provided they answered the same holdout rows."""
    with tracing.span("gates.check", {"pathtolive.model.ref": ref}) as span:
        report = _check_gates(ctx, ref, offline=offline, holdout=holdout, target=target)
        span.set_attributes(
            {
                "pathtolive.model": report.model,
                "pathtolive.model.version": report.version,
                "pathtolive.gates.passed": report.passed,
                "pathtolive.gates.failed": ",".join(r.gate for r in report.failures),
            }
        )
    return report


def _check_gates(
    ctx: ServiceContext, ref: str, *, offline: bool, holdout: str | None, target: str | None
) -> GateReport:
    actor = ctx.require(Permission.READ, "check gates")
    candidate_version = model_service.model_version(ctx, ref)
    config = gate_config(ctx, candidate_version.model)
    outside = external_name(config.baseline)
    # Read before any work, so a missing or mistyped [baselines.NAME] is a config error.
    external = (
        None if outside is None else ExternalBaseline.from_toml(outside, ctx.settings.document)
    )
    # Likewise [costs], and the prices a cost gate needs.
    prices = CostSettings.from_toml(ctx.settings.document, candidate_version.model)
    if config.max_cost_per_1k is not None:
        prices.require_prices(candidate_version.model, "max_cost_per_1k", ("cpu_hour",))
    if config.max_monthly_cost is not None:
        prices.require_prices(candidate_version.model, "max_monthly_cost")
    latency_budget(ctx.settings.environ)  # and the probe's budget, when one is set
    with ctx.metadata.read() as session:
        run = session.get_run(candidate_version.run_id)
        champion_number = session.alias_version(candidate_version.model, "live")
    assert run is not None
    progress.stage(f"gates of {candidate_version.ref}: finding the holdout")
    judged = judged_holdout(
        ctx,
        candidate_version,
        run,
        named=holdout,
        target=target,
        actor=actor.name,
        configured=config.holdout,
    )
    holdout_rows = judged.holdout
    # The clean process that times the candidate imports its libraries meanwhile (started
    # once the holdout is settled: a refused one needs no probe).
    start_probe_server(ctx)
    data_version = dataset_service.get_version(ctx, holdout_rows.dataset)
    if judged.named is None:
        # The holdout is rows of that version (a step's stored split): an audited read.
        # A named one was read whole, and audited, as it was loaded.
        dataset_service.record_read(
            ctx,
            data_version,
            f"gates holdout of {candidate_version.ref}",
            rows=len(holdout_rows.frame),
        )
    schema = Schema.from_dict(
        dataset_service.dataset_schema(
            ctx, data_version.dataset, data_version.schema_version
        ).schema
    )
    config.refuse_pii_slices(pii_columns(ctx, schema))
    target = _target(candidate_version.model, config, schema, holdout_rows, explicit=target)
    features = _features(candidate_version, holdout_rows.frame, target, schema)
    y_true = holdout_rows.frame[target].to_numpy()
    progress.stage(f"gates of {candidate_version.ref}: loading and scoring the models")
    candidate = model_service.load_model(ctx, candidate_version)
    task = _task(candidate_version, candidate, y_true)
    metric = config.metric or default_metric(task)
    get_metric(metric, task)  # a metric the task does not support is refused here
    classes = _classes(task, candidate, y_true, f"the target {target!r} of {holdout_rows.dataset}")
    champion: Predictions | None = None
    live_cost: cost_service.SideCost | None = None
    if champion_number is not None and champion_number != candidate_version.version:
        champion_version = model_service.model_version(
            ctx, f"{candidate_version.model}@{champion_number}"
        )
        champion = _predict(
            model_service.load_model(ctx, champion_version),
            holdout_rows.frame[features],
            task,
            classes,
        )
        live_cost = _reported_cost(
            ctx, champion_version, f"live version {champion_version.ref}", prices
        )
    baseline: Predictions | None = None
    baseline_cost: cost_service.SideCost | None = None
    extras: dict[str, Any] = {}
    if external is not None:
        progress.stage(f"gates of {candidate_version.ref}: asking the external baseline")
        baseline, extras[EXTERNAL_BASELINE_EXTRA] = _external(
            ctx,
            external,
            holdout_rows.frame[features],
            task=task,
            classes=classes,
            dataset=data_version.ref,
            version=candidate_version,
            offline=offline,
        )
        baseline_cost = cost_service.external_cost(external, prices)
    elif config.baseline is not None:
        progress.stage(f"gates of {candidate_version.ref}: training the {config.baseline} baseline")
        baseline, baseline_cost, extras[BASELINE_FIT_EXTRA] = _baseline(
            ctx,
            config,
            task,
            judged,
            features,
            target,
            classes,
            prices,
            purpose=f"gates baseline {config.baseline} of {candidate_version.ref}",
        )
    progress.stage(f"gates of {candidate_version.ref}: latency in a clean process, attributions")
    latency, loads, load_detail, probed = _latency(
        ctx, candidate_version, holdout_rows.frame[features]
    )
    costs = cost_service.cost_figures(
        cost_service.candidate_footprint(candidate_version, run, probed),
        prices,
        baseline_cost,
        live_cost,
    )
    # The explainer the server's :explain will use, on the background it will use.
    explained = check_explanations(
        candidate,
        holdout_rows.frame[features],
        explainer_background(
            ctx,
            features,
            # Without training data, the holdout is the only sample of the inputs there is.
            list(judged.training) or [holdout_rows.dataset],
            purpose=f"gates explainer background of {candidate_version.ref}",
        ),
    )
    # The data contract is the training data's: a named holdout's version stands in only
    # when the training data is unknown, and the detail says so.
    contract_version = (
        dataset_service.get_version(ctx, judged.training[0])
        if judged.named is not None and judged.training
        else data_version
    )
    contract_detail = f"{contract_version.ref} was {contract_version.validation_status}"
    if judged.named is not None and not judged.training:
        contract_detail += " (the holdout's contract: the training data is unknown)"
    context = GateContext(
        config=config,
        task=task,
        metric=metric,
        y_true=y_true,
        candidate=_predict(candidate, holdout_rows.frame[features], task, classes),
        champion=champion,
        baseline=baseline,
        classes=classes,
        slices=holdout_rows.frame[list(config.slices)] if config.slices else None,
        data_validation=contract_version.validation_status,
        data_validation_detail=contract_detail,
        artifact_bytes=candidate_version.artifact_bytes,
        latency=latency,
        loads_and_answers=loads,
        load_detail=load_detail,
        explanations=explained.available,
        explanations_detail=explained.detail,
        explainer=explained.method,
        importance=explained.importance,
        extras={
            "holdout": judged.to_dict(),
            "champion_version": champion_number,
            COSTS_EXTRA: costs,
            **extras,
        },
    )
    progress.stage(f"gates of {candidate_version.ref}: judging (bootstrap resamples)")
    report = run_gates(context, version=candidate_version.version, created_at=datetime.now(UTC))
    judged_record = judged.to_dict()
    if BASELINE_FIT_EXTRA in extras:
        judged_record["baseline_fit"] = extras[BASELINE_FIT_EXTRA]
    report = replace(
        report,
        costs=costs,
        worth_it=cost_service.worth_it_lines(context, costs, prices),
        holdout=judged_record,
    )
    stored = report.to_dict()
    if judged.named is None:
        # A run's split is some rows of its version; a named holdout is all of one.
        stored["holdout"]["row_ids"] = holdout_rows.row_ids.tolist()
    stored["champion_version"] = None if champion is None else champion_number
    with ctx.metadata.write() as session:
        session.insert_gate_report(
            candidate_version.model,
            candidate_version.version,
            passed=report.passed,
            report=stored,
            at=report.created_at,
            by=actor.name,
        )
        record(
            session,
            actor,
            "gates.checked",
            f"model:{candidate_version.ref}",
            {
                "passed": report.passed,
                "failed": [r.gate for r in report.failures],
                "metric": metric,
                "champion": stored["champion_version"],
                "holdout": {
                    key: judged_record[key] for key in ("dataset", "named", "chosen_by", "leakage")
                },
                **_external_audit(extras),
            },
        )
    return report


@dataclass(frozen=True)
class HoldoutScores:
    """A model version's predictions on the first ``rows`` of its run's holdout
    (``total`` rows in all, of dataset version ``dataset``), with the truth, the task and
    the classes in the order of the probability columns."""

    dataset: str
    rows: int
    total: int
    task: Task
    classes: tuple[Any, ...] | None
    y_true: np.ndarray[Any, Any]
    predictions: Predictions


def score_holdout(ctx: ServiceContext, ref: str, *, limit: int, purpose: str) -> HoldoutScores:
    """Score the model version ``ref`` again on at most ``limit`` rows of its holdout
    (the first ones, so the same rows every time): what a model card draws its curves
    from, as the gate report keeps figures, not predictions. The read of the holdout's
    rows is audited with ``purpose``. Errors as :func:`check_gates` raises them (no
    holdout, erased data, no known target)."""
    ctx.require(Permission.READ, "score a holdout")
    version = model_service.model_version(ctx, ref)
    config = gate_config(ctx, version.model)
    with ctx.metadata.read() as session:
        run = session.get_run(version.run_id)
        stored = session.latest_gate_report(version.model, version.version)
    assert run is not None
    # The holdout its latest gates judged on: a named one, else the run's own split.
    named = named_frame(ctx, holdout_record({} if stored is None else stored.report), purpose)
    holdout = named if named is not None else find_holdout(ctx, run)
    data_version = dataset_service.get_version(ctx, holdout.dataset)
    frame = holdout.frame.head(limit)
    if named is None:
        dataset_service.record_read(ctx, data_version, purpose, rows=len(frame))
    schema = Schema.from_dict(
        dataset_service.dataset_schema(
            ctx, data_version.dataset, data_version.schema_version
        ).schema
    )
    target = _target(version.model, config, schema, holdout, explicit=holdout.target)
    features = _features(version, frame, target, schema)
    y_true = frame[target].to_numpy()
    model = model_service.load_model(ctx, version)
    task = _task(version, model, y_true)
    classes = _classes(task, model, y_true, f"the target {target!r} of {holdout.dataset}")
    return HoldoutScores(
        dataset=holdout.dataset,
        rows=len(frame),
        total=len(holdout.frame),
        task=task,
        classes=classes,
        y_true=y_true,
        predictions=_predict(model, frame[features], task, classes),
    )


def latest_report(ctx: ServiceContext, ref: str) -> StoredGateReport:
    version = model_service.model_version(ctx, ref)
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(version.model, version.version)
    if stored is None:
        raise NotFoundError(
            f"{version.ref} has no gate report yet; run 'pathtolive gates check {version.ref}'"
        )
    return stored


def _target(
    model: str, config: GateConfig, schema: Schema, holdout: Holdout, *, explicit: str | None
) -> str:
    """The column ``model`` predicts: the one named for this check (``--target``), else
    ``[models.NAME] target``, else the column tagged target, else the one a notebook run
    named with its holdout; an input error when none names a column of the holdout."""
    target = (
        explicit or config.target or next(iter(schema.tagged("target")), None) or holdout.target
    )
    if target is None or target not in holdout.frame.columns:
        raise InvalidInputError(
            f"the target of {model!r} is not known; name it with --target COLUMN, set "
            f'[models.{model}] target = "COLUMN" in pathtolive.toml or tag '
            "the column as target"
        )
    return target


def _features(version: ModelVersion, frame: pd.DataFrame, target: str, schema: Schema) -> list[str]:
    inputs = [field["name"] for field in (version.signature or {}).get("inputs", [])]
    if inputs:
        missing = [name for name in inputs if name not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"{version.ref} reads column {missing[0]!r}, which its holdout does not have"
            )
        return inputs
    excluded = {target, *schema.tagged("id")}
    return [column for column in frame.columns if column not in excluded]


def _task(version: ModelVersion, model: LoadedModel, y_true: np.ndarray[Any, Any]) -> Task:
    kind = (version.signature or {}).get("output", {}).get("kind")
    if kind == "regression" or (kind is None and model.classes is None):
        return "regression"
    classes = model.classes or tuple(np.unique(y_true).tolist())
    return "binary" if len(classes) == 2 else "multiclass"


def _classes(
    task: Task, model: LoadedModel, y_true: np.ndarray[Any, Any], target: str
) -> tuple[Any, ...] | None:
    """Every class the model knows or the target holds, in order. Numbers and text do not
    mix: a model fitted on 0 and 1 scored against "no" and "yes" would fail every row, so
    that is an input error naming both, not a comparison of ``int`` with ``str``."""
    if task == "regression":
        return None
    try:
        labels = set(np.unique(y_true).tolist())
    except TypeError:  # a target of numbers and text mixed: the check below names it
        labels = set(pd.unique(pd.Series(y_true, dtype=object)).tolist())
    model_classes = set(model.classes or ())
    kinds = {_label_kind(labels), _label_kind(model_classes)} - {"none"}
    if len(kinds) > 1 or "mixed" in kinds:
        raise InvalidInputError(
            f"the model's classes are {_labels_text(model_classes)} but {target} holds "
            f"{_labels_text(labels)}: numbers and text do not compare; train the model on "
            "this target, or point [models.NAME] target at the column it predicts"
        )
    return tuple(sorted(labels | model_classes))


def _label_kind(labels: set[Any]) -> str:
    if not labels:
        return "none"
    if all(isinstance(label, str) for label in labels):
        return "text"
    if all(isinstance(label, int | float | np.number | np.bool_) for label in labels):
        return "number"
    return "mixed"


def _labels_text(labels: set[Any]) -> str:
    kind = {"text": "text", "number": "numbers", "none": "no labels"}.get(
        _label_kind(labels), "numbers and text"
    )
    shown = sorted(labels, key=lambda label: (isinstance(label, str), str(label)))
    more = f", … ({len(shown)} in all)" if len(shown) > 10 else ""
    return f"{kind} ({', '.join(repr(label) for label in shown[:10])}{more})"


def _predict(
    model: LoadedModel | Any, frame: pd.DataFrame, task: Task, classes: tuple[Any, ...] | None
) -> Predictions:
    if task == "regression":
        return Predictions(values=np.asarray(model.predict(frame), dtype=np.float64))
    labels = np.asarray(model.predict(frame))
    proba = model.predict_proba(frame)
    model_classes = getattr(model, "classes", None)
    aligned = (
        None
        if proba is None or classes is None or model_classes is None
        else align_proba(proba, model_classes, classes)
    )
    return Predictions(proba=aligned, labels=labels)


def _baseline(
    ctx: ServiceContext,
    config: GateConfig,
    task: Task,
    judged: JudgedOn,
    features: list[str],
    target: str,
    classes: tuple[Any, ...] | None,
    prices: CostSettings,
    *,
    purpose: str,
) -> tuple[Predictions, cost_service.SideCost, str]:
    """The off-the-shelf baseline's predictions on the holdout, what it costs (measured
    here as it is fitted, or the registered model's report's), and how it was fitted.

    A built-in baseline trains on the rows the candidate trained on: the run's version
    less its test split, or the one training version of a model judged on a named
    holdout (which the leakage guard showed to share no row with it). With no training
    data known (or several versions, whose joint rows are not the model's), it is
    cross-fitted on the holdout."""
    name = config.baseline
    assert name is not None
    holdout = judged.holdout
    rows = holdout.frame[features]
    if name not in BASELINES:
        other_version = model_service.model_version(ctx, name)
        other = model_service.load_model(ctx, other_version)
        cost = _reported_cost(ctx, other_version, f"the registered model {name!r}", prices)
        return _predict(other, rows, task, classes), cost, f"the registered model {name}"
    if judged.named is None:
        data = dataset_service.load_frame(ctx, holdout.dataset, purpose=purpose)
        training: pd.DataFrame | None = data.drop(index=pd.Index(holdout.row_ids))
        fit = f"trained on {holdout.dataset} less its holdout rows"
    elif len(judged.training) == 1:
        training = dataset_service.load_frame(ctx, judged.training[0], purpose=purpose)
        fit = f"trained on {judged.training[0]}"
        missing = [column for column in (*features, target) if column not in training.columns]
        if missing:
            training, fit = None, _CROSS_FITTED
    else:
        training, fit = None, _CROSS_FITTED
    y_true = holdout.frame[target].to_numpy()
    if training is None:
        fold_model, footprint = cost_service.measure_in_process(
            lambda: fit_baseline(name, task, rows, y_true),
            lambda model, part: model.predict_labels(part),
            rows,
        )
        del fold_model  # timed only: what serving a baseline fitted like it would cost
        predictions = cross_fit_baseline(
            name, task, rows, y_true, folds=CROSS_FIT_FOLDS, seed=config.seed, classes=classes
        )
    else:
        fitted, footprint = cost_service.measure_in_process(
            lambda: fit_baseline(name, task, training[features], training[target].to_numpy()),
            lambda model, part: model.predict_labels(part),
            rows,
        )
        predictions = fitted.predict(rows)
        if predictions.proba is not None and classes is not None and fitted.classes is not None:
            predictions = Predictions(
                proba=align_proba(predictions.proba, fitted.classes, classes),
                labels=predictions.labels,
            )
    cost = cost_service.side_cost(
        f"the {name!r} baseline", footprint, prices, "measured in process as it was fitted"
    )
    return predictions, cost, fit


_CROSS_FITTED = (
    f"cross-fitted on the holdout ({CROSS_FIT_FOLDS} folds, each scored by a baseline "
    "trained on the others)"
)


def _reported_cost(
    ctx: ServiceContext, version: ModelVersion, label: str, prices: CostSettings
) -> cost_service.SideCost:
    """The cost of ``version`` from the figures of its latest gate report."""
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(version.model, version.version)
    footprint = cost_service.reported_footprint(None if stored is None else stored.report)
    how = (
        f"measured by the gates of {version.ref}"
        if footprint is not None
        else f"not known: the gates of {version.ref} did not measure it"
    )
    return cost_service.side_cost(label, footprint, prices, how)


def _external(
    ctx: ServiceContext,
    external: ExternalBaseline,
    features: pd.DataFrame,
    *,
    task: Task,
    classes: tuple[Any, ...] | None,
    dataset: str,
    version: ModelVersion,
    offline: bool,
) -> tuple[Predictions | None, dict[str, Any]]:
    """The external baseline's predictions and what the report keeps of them; on a
    problem no predictions and the problem, which fails ``beat_baseline``."""
    recorded = None
    if offline:
        with ctx.metadata.read() as session:
            previous = session.latest_gate_report(version.model, version.version)
        if previous is not None:
            recorded = _recorded_answers(previous.report)
    try:
        answers = ask_external_baseline(
            ctx,
            external,
            features,
            task=task,
            classes=classes,
            dataset=dataset,
            recorded=recorded,
            offline=offline,
        )
    except ExternalBaselineFailed as exc:
        return None, {
            "baseline": external.name,
            "url": external.shown_url,
            "speaks": external.speaks,
            "problem": exc.message,
        }
    return answers.predictions, answers.to_dict()


def _recorded_answers(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for result in report.get("results", []):
        if result.get("gate") == "beat_baseline":
            found = (result.get("data") or {}).get("external")
            return found if isinstance(found, Mapping) else None
    return None


def _external_audit(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The audit event names the answers the verdict rests on (their digest also keeps
    the object from ``gc``, as the stored report does)."""
    found = extras.get(EXTERNAL_BASELINE_EXTRA)
    if not found:
        return {}
    kept = ("baseline", "url", "answers_digest", "reused", "problem")
    return {"external_baseline": {key: found[key] for key in kept if key in found}}


def _latency(
    ctx: ServiceContext, version: ModelVersion, features: pd.DataFrame
) -> tuple[dict[str, float] | None, bool, str, dict[str, Any] | None]:
    """The latency percentiles, whether it loaded and answered (and how), and the
    probe's raw figures (CPU and memory too)."""
    try:
        figures = measure_latency(ctx, version, features.head(_LATENCY_SAMPLE_ROWS))
    except ConfigError:
        raise  # the probe's own settings are wrong: not a model that failed to load
    except PathToLiveError as exc:
        return None, False, exc.message, None
    single, batch = figures["single_row"], figures["batch_1000"]
    latency = {
        f"{prefix}_{key}": float(block[key])
        for prefix, block in (("single", single), ("batch", batch))
        for key in ("p50_ms", "p95_ms", "p99_ms")
    }
    return (
        latency,
        True,
        f"loaded in {figures['load_seconds']:.2f} s in a clean process",
        figures,
    )
