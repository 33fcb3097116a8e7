"""``pathtolive demo``: the whole path to live, played on synthetic garage data.

Five acts, each through the public service layer and the real server (a child process
spoken to over HTTP), in a workspace on the embedded default (SQLite and a local folder):

1. **Data**: a year of garage-months drawn by :mod:`pathtolive.demo.garage`.
2. **Release**: version 1 of the dataset, its inferred contract, a tracked run of the
   bundled pipeline (:mod:`pathtolive.demo.pipeline`), the gates — including "is the
   bespoke model worth it over a logistic regression?" — and promotion to live under
   four-eyes: the data scientist asks, an approver signs.
3. **Serving**: ``pathtolive serve``, live traffic, the riskiest garages, one explanation.
4. **The loop**: the world changes; monitoring finds drift and decay; version 2 of the
   data arrives, is refused by the contract and accepted as a compatible change; the
   controller retrains, gates and asks for approval; a second person approves and the
   server swaps models under traffic without failing a request.
5. **Proof**: the new model's monitoring, the audit chain verified, the lineage of the
   live model, the model card and the monitoring reports on disk.

The people: ``ops`` (admin: the workspace, tokens, the server), ``ada`` (scientist: data,
training, asking for promotion), ``maria`` (approver) and the controller (a scientist's
token of its own). Each acts with its own token, so the audit trail names who did what.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pathtolive import env
from pathtolive.config import STATE_DIR, WORKSPACE_FILE
from pathtolive.data import Schema
from pathtolive.demo import garage
from pathtolive.demo.live import Answer, Client, ServerProcess, TrafficStream, score_each
from pathtolive.errors import ConflictError, ContractViolationError, VerificationFailedError
from pathtolive.format import number, signed
from pathtolive.lineage import render_tree
from pathtolive.monitoring.report import MonitorReport
from pathtolive.service import audit as audit_service
from pathtolive.service import datasets as dataset_service
from pathtolive.service import gates as gate_service
from pathtolive.service import lineage as lineage_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import runs as run_service
from pathtolive.service import tokens as token_service
from pathtolive.service.card import model_card
from pathtolive.service.context import ServiceContext
from pathtolive.service.controller import Controller
from pathtolive.service.monitor import MonitorOutcome, monitor
from pathtolive.service.predictions import record_feedback_many
from pathtolive.service.release import ControllerEvent
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.ui import model_card_html, model_card_markdown, monitoring_report_html

__all__ = ["FAST", "FULL", "DemoOptions", "Scale", "run_demo"]

MODEL = "garage-risk"
DATASET = "garage-months"
PIPELINE = "garage_risk"
ORG = "garage-authority"
OPS = f"ops@{ORG}"
ADA = f"ada@{ORG}"
MARIA = f"maria@{ORG}"
CONTROLLER = f"controller@{ORG}"
POLL_INTERVAL = 0.5
STEPS = 5


@dataclass(frozen=True)
class Scale:
    """How big the demo plays: garages simulated, and the boosting of the pipeline."""

    garages: int
    max_iter: int
    learning_rate: float


FULL = Scale(garages=1000, max_iter=100, learning_rate=0.1)
FAST = Scale(garages=500, max_iter=80, learning_rate=0.12)

REQUESTS = 400
"""Garages scored in each batch of live traffic (one request each)."""
MIN_ROWS = 400
"""Live rows before monitoring gives a verdict. Fewer make the prediction-drift PSI (the
answers against a model's first MIN_ROWS answers) noisy: on 150 rows it crosses 0.2 by
chance more often than not."""


@dataclass(frozen=True)
class DemoOptions:
    """``workspace`` None plays in a new folder under the system's temporary folder."""

    workspace: Path | None = None
    seed: int = 0
    fast: bool = False

    @property
    def scale(self) -> Scale:
        return FAST if self.fast else FULL


def run_demo(options: DemoOptions, console: Console) -> dict[str, Any]:
    """Play the five acts, narrating on ``console``; returns the figures and paths (what
    ``--json`` prints). The server is stopped however it ends."""
    from threadpoolctl import threadpool_limits

    story = _Story(options, console)
    # The narrative says what monitoring finds; its warnings on stderr would say it twice.
    monitoring_log = logging.getLogger("pathtolive.monitoring")
    level = monitoring_log.level
    monitoring_log.setLevel(logging.ERROR)
    try:
        # The server, the latency probes and this process share the machine: one thread
        # each for the numeric libraries (their child processes get OMP_NUM_THREADS=1),
        # or their threads spin against each other for the cores.
        with threadpool_limits(limits=1):
            story.play()
    finally:
        monitoring_log.setLevel(level)
        story.close()
    return story.summary


WORKSPACE_CONFIG = """
[datasets.{dataset}]
policy = "strict"
tags = {{ high_risk = "target", garage_id = "id", month = "timestamp" }}

[pipelines.{pipeline}.params]
max_iter = {max_iter}
learning_rate = {learning_rate}

[models.{model}]
target = "high_risk"
metric = "roc_auc"
metrics = ["accuracy", "brier"]

[models.{model}.gates]
min_metric = 0.75
beat_live_by = 0.0
baseline = "logistic"
beat_baseline_by = 0.01
slices = ["garage_size"]
max_slice_drop = 0.05
p95_latency_ms = 100
max_size_mb = 50
max_monthly_cost = 50

[costs]
# What a CPU hour and a GB-month cost, and the traffic a month: prices the model's upkeep.
currency = "GBP"
cpu_hour = 0.04
gb_month = 3.0
requests_per_month = 3000000
batch_rows_per_month = 20000000
retrains_per_month = 4

[models.{model}.promotion]
live = "four-eyes"

[models.{model}.card]
intended_use = "rank approved test centres (garages) for risk-based inspection"
limitations = "synthetic demo data; a score orders inspections, it finds nothing against a garage"

[models.{model}.monitoring]
min_rows = {min_rows}
drift_threshold = {{ psi = 0.2, ks_pvalue = 0.01 }}
decay_drop = 0.05
window = "1h"

[models.{model}.retrain]
pipeline = "{pipeline}"
dataset = "{dataset}"
parameter = "data"
on = ["new_data", "drift", "decay"]

[serve]
# The new region's garages must be scored (and seen by monitoring), not refused.
unseen_categories = "allow"
log_flush_seconds = 0.5
"""


class _Story:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.scale = options.scale
        self.console = console
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self.summary: dict[str, Any] = {"seed": options.seed, "fast": options.fast}
        self.contexts: list[ServiceContext] = []
        self.server: ServerProcess | None = None
        self.stream: TrafficStream | None = None
        self._data: garage.GarageData | None = None
        self.root = Path()
        self.environ: dict[str, str] = {}
        self.reports: dict[str, str] = {}
        self.candidate = ""
        self.swapped_at = datetime.now(UTC)
        self.swap_answers = 0
        """Answers the new model gave during the hot swap (in its log since the swap)."""
        self._people: dict[str, ServiceContext] = {}

    @property
    def data(self) -> garage.GarageData:
        assert self._data is not None, "the data is generated in the first act"
        return self._data

    # -- the acts ------------------------------------------------------------------------

    def play(self) -> None:
        self._choose_root()
        self._act(1, "A year of garage tests")
        with self._timed("data"):
            self.generate()
        self._act(2, "Version 1, its contract, training, gates, live")
        with self._timed("release"):
            self.release()
        self._act(3, "Live: the server, traffic, an explanation")
        with self._timed("serving"):
            self.serve()
        self._act(4, "The world drifts; the loop closes")
        with self._timed("drift"):
            self.drift()
        with self._timed("retrain"):
            self.retrain()
        with self._timed("swap"):
            self.hot_swap()
        self._act(5, "Monitoring, audit, lineage, model card")
        with self._timed("proof"):
            self.prove()
        elapsed = time.monotonic() - self.started
        self.summary["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        self.summary["elapsed_seconds"] = round(elapsed, 2)
        self._finale(elapsed)

    def generate(self) -> None:
        seed, scale = self.options.seed, self.scale
        with self.console.status("simulating garages…"):
            self._data = garage.simulate(garages=scale.garages, seed=seed)
        first = self.data.months("2023-01-01", "2023-12-01")
        garages = first["garage_id"].nunique()
        self.say(
            f"[bold]{len(first):,}[/] garage-months: {garages:,} garages in "
            f"{len(garage.REGIONS)} regions, January to December 2023; "
            f"{first[garage.TARGET].mean():.1%} rated high-risk (an inspection that month "
            "found serious non-compliance)."
        )
        self.say(
            f"Synthetic and seeded (seed {seed}): drawn by pathtolive.demo.garage, whose "
            "docstring documents the generating process. Bad actors wave cars through (low "
            "fail rates, short tests, more tests than their testers can do) or sell repairs "
            "(high fail rates, re-tests on their own premises): a rate too low or too high "
            "is suspect."
        )
        glimpse = first.sample(3, random_state=seed)
        columns = [
            "garage_id",
            "region",
            "garage_size",
            "tests",
            "mean_test_minutes",
            "fail_rate",
            "fail_rate_brakes",
            "retest_rate",
            "high_risk",
        ]
        self.console.print(_table(columns, glimpse[columns].to_numpy().tolist()))
        self.summary["data"] = {"garages": int(garages), "rows_v1": len(first)}

    def release(self) -> None:
        self._make_workspace()
        ada, maria = self.ctx("ada"), self.ctx("maria")
        first = self.data.months("2023-01-01", "2023-12-01")
        added = dataset_service.add_dataset(
            ada, first, DATASET, source_label=f"pathtolive.demo.garage seed {self.options.seed}"
        )
        version = added.version
        schema = Schema.from_dict(dataset_service.dataset_schema(ada, DATASET).schema)
        categories = [
            f"{c.name} ({len(c.categories or ())} values)"
            for c in schema.columns
            if c.type == "category"
        ]
        ranged = sum(c.type in ("integer", "float") and not c.tags for c in schema.columns)
        self.say(
            f"ada adds [bold]{version.ref}[/]: {version.rows:,} rows, content hash "
            f"{version.content_hash[:12]}. The contract is inferred: {len(schema.columns)} "
            f"columns, {', '.join(categories)} as categories, {ranged} numeric ranges (soft: "
            "a value beyond one is reported, not refused), "
            f"{_tagged(schema)}."
        )
        with self.console.status(f"training {PIPELINE} on {version.ref}…"):
            started = time.monotonic()
            result = run_service.run_pipeline(ada, PIPELINE, data=version.ref, register=MODEL)
            seconds = time.monotonic() - started
        model = result.model_version
        assert model is not None
        self.say(
            f"ada runs the pipeline {PIPELINE} (run {result.run.run_id[:12]}: "
            f"{' → '.join(result.executed)}) in {seconds:.1f} s: holdout ROC AUC "
            f"[bold]{number(result.metrics['roc_auc'])}[/], average precision "
            f"{number(result.metrics['average_precision'])}; registered "
            f"[bold]{model.ref}[/] ({model.flavor}, {model.artifact_bytes / 1e6:.1f} MB) with "
            "its code, params, environment and data version."
        )
        with self.console.status(f"running the gates of {model.ref}…"):
            try:
                outcome = promotion_service.promote(
                    ada, model.ref, "live", reason="first release of the garage risk rating"
                )
            except VerificationFailedError:
                # Show what failed before the demo stops on it.
                self._gates(gate_service.latest_report(ada, model.ref).report["results"], None)
                raise
        self._gates(outcome.report.to_dict()["results"], "baseline", outcome.report.worth_it)
        self.say(
            f"All {len(outcome.report.results)} gates pass; live is [bold]four-eyes[/]: "
            f"promotion {outcome.promotion.promotion_id} waits for an approver who neither "
            "trained the model nor asked for it."
        )
        promotion_service.approve(maria, model.ref, "live", comment="gates and card reviewed")
        self.say(f"maria approves: [bold green]{model.ref} is live[/].")
        baseline = _result(outcome.report.to_dict()["results"], "beat_baseline")
        self.summary["release"] = {
            "dataset": version.ref,
            "rows": version.rows,
            "model": model.ref,
            "roc_auc": result.metrics["roc_auc"],
            "baseline_difference": baseline.get("data", {}).get("difference"),
            "gates_passed": outcome.report.passed,
            "monthly_cost": (outcome.report.costs.get("monthly") or {}).get("total"),
            "worth_it": list(outcome.report.worth_it),
        }

    def serve(self) -> None:
        started = time.monotonic()
        server = ServerProcess(
            self.root,
            {**self.environ, env.USER: OPS},
            self.root / "logs" / "serve.log",
            poll_interval=POLL_INTERVAL,
        )
        self.server = server
        with self.console.status("starting pathtolive serve…"):
            server.start()
        assert server.process is not None
        self.say(
            f"ops starts [bold]pathtolive serve[/] on {server.url} (pid "
            f"{server.process.pid}), ready in {time.monotonic() - started:.1f} s: KServe V1, "
            f"MLflow scoring and Open Inference V2; it reads the registry every "
            f"{POLL_INTERVAL:g} s."
        )
        january = self._sample("2024-01-01", REQUESTS, salt=1)
        answers = self._score(january, "January 2024")
        risk = np.array([_risk(answer) for answer in answers])
        top = january.assign(risk=risk).sort_values("risk", ascending=False).head(5)
        columns = [
            "garage_id",
            "region",
            "tests",
            "testers",
            "mean_test_minutes",
            "fail_rate",
            "retest_rate",
            "risk",
        ]
        rows = [[*row[:-1], f"{row[-1]:.2f}"] for row in top[columns].to_numpy().tolist()]
        self.say("The five garages the model would inspect first:")
        self.console.print(_table(columns, rows))
        chosen = top.iloc[0]
        client = Client(server.port)
        try:
            explained = client.post(
                f"/v1/models/{MODEL}:explain",
                {"instances": garage.feature_records(top.head(1), _features())},
            )
        finally:
            client.close()
        if not explained.ok:
            raise VerificationFailedError(f"the explanation failed: {explained.body}")
        body = explained.body
        row = body["explanations"][0]
        ranked = sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))[:4]
        reasons = ", ".join(
            f"{name} {_value(chosen[name])} ({signed(value)})" for name, value in ranked
        )
        self.say(
            f"Why {chosen['garage_id']}? {body['method']}, on the {body['output']}: "
            f"{reasons}; base value {number(row['base_value'])}."
        )
        self.summary["serving"] = {
            "url": server.url,
            "requests": len(answers),
            "failed": sum(not a.ok for a in answers),
            "explained": str(chosen["garage_id"]),
            "method": body["method"],
        }

    def drift(self) -> None:
        ada, watcher = self.ctx("ada"), self.ctx("controller")
        self.say(
            "February 2024: a stricter emissions test (2.4 times the emissions failures, "
            "ten minutes more per test); LED lamps (40% fewer lighting failures); the garages of "
            f"{garage.NEW_REGION} join the scheme; and some garages start waving cars "
            "through the new emissions test."
        )
        since = datetime.now(UTC)
        february = self._sample("2024-02-01", REQUESTS, salt=2)
        answers = self._score(february, "February 2024")
        new_region = int((february["region"] == garage.NEW_REGION).sum())
        self.say(
            f"{new_region} of them are in {garage.NEW_REGION}, a region the model never saw: "
            'scored all the same (\\[serve] unseen_categories = "allow"), and watched.'
        )
        labels = [
            (answer.request_id, int(label))
            for answer, label in zip(answers, february[garage.TARGET], strict=True)
            if answer.ok
        ]
        record_feedback_many(ada, labels, model=MODEL)
        self.say(
            f"The inspections of February report back: {len(labels)} outcomes sent as "
            "feedback, joined to the predictions by request id."
        )
        with self.console.status("monitoring the live traffic…"):
            outcome = self._monitor(watcher, since, len(answers), version=None)
        report = outcome.report
        self._drift_lines(report)
        decay = report.decay
        if decay is not None:
            self.say(f"Decay: {escape(decay.reason)}.")
        self.say(
            f"{len(outcome.opened)} alerts opened (audited): "
            + "; ".join(escape(alert.key) for alert in outcome.opened)
            + "."
        )
        path = self._write_report(report, f"{MODEL}-v1-drift.html")
        self.reports["drift_report"] = str(path)
        prediction = report.prediction_drift
        self.summary["drift"] = {
            "drifted": list(report.drift.drifted) if report.drift is not None else [],
            "alerts_opened": [alert.key for alert in outcome.opened],
            "prediction_psi": prediction.drift.figures.get("psi") if prediction else None,
            "decayed": decay is not None and decay.decayed,
            "labelled_metric": decay.latest if decay is not None else None,
            "report": str(path),
        }

    def retrain(self) -> None:
        ada = self.ctx("ada")
        second = self.data.months("2024-02-01", "2024-07-01")
        self.say(
            f"The data team delivers {DATASET} version 2: the {second['month'].nunique()} "
            f"months since the change, {len(second):,} rows, with a new column ev_share (the "
            "share of tests on electric vehicles)."
        )
        label = f"pathtolive.demo.garage seed {self.options.seed}, 2024-02 to 2024-07"
        try:
            dataset_service.add_dataset(ada, second, DATASET, source_label=label)
        except ContractViolationError as refused:
            violations = refused.details.get("validation", {}).get("violations", [])
            hard = [v for v in violations if v.get("check", "hard") == "hard"]
            listed = "; ".join(str(v.get("message", "")) for v in hard[:3])
            more = f"; and {len(hard) - 3} more" if len(hard) > 3 else ""
            soft = len(violations) - len(hard)
            beyond = (
                f" Besides, {soft} soft findings (values beyond the ranges version 1 "
                "happened to hold): reported, not refusing."
                if soft
                else ""
            )
            self.say(
                f"[yellow]Refused[/] by the strict contract of version 1 (and audited), "
                f"{len(hard)} violations: {escape(listed)}{more}.{beyond}"
            )
        else:
            raise VerificationFailedError(
                "version 2 of the data should have broken the contract of version 1"
            )
        added = dataset_service.add_dataset(
            ada,
            second,
            DATASET,
            source_label=label,
            accept_schema=True,
            reason="stricter emissions test and Northern Ireland from 2024-02; ev_share reported",
        )
        change = added.schema_change
        assert change is not None
        self.say(
            f"ada accepts the new contract, with a reason. The change is classified "
            f"[bold]{change.kind}[/]: "
            + "; ".join(escape(c.description) for c in change.changes[:3])
            + (f"; and {len(change.changes) - 3} more" if len(change.changes) > 3 else "")
            + f". Stored as [bold]{added.version.ref}[/] under schema "
            f"v{added.version.schema_version}. The pipeline reads a fixed list of columns, so "
            "ev_share is kept and profiled but not yet a feature."
        )
        events: list[ControllerEvent] = []
        controller = Controller(self.ctx("controller"), on_event=events.append)
        with self.console.status("the controller retrains, gates and promotes…"):
            try:
                handled = controller.run_once()
            finally:
                controller.release()
        released = [t for t in handled if t.model_version is not None]
        if not released:
            decisions = "; ".join(t.decision for t in handled) or "no trigger"
            raise VerificationFailedError(f"the controller released nothing: {decisions}")
        trigger = released[0]
        candidate = f"{MODEL}@{trigger.model_version}"
        created = [e.trigger for e in events if e.kind == "trigger" and e.trigger is not None]
        covered = sum(e.kind == "finished" and e.message.startswith("covered") for e in events)
        self.say(
            f"The controller ({CONTROLLER}) finds {len(created)} triggers: "
            + "; ".join(escape(_cause(t.kind, t.cause)) for t in created)
            + f". One release answers them all: trigger {trigger.trigger_id} trains on the "
            f"newest data, and the other {covered} are covered by it."
        )
        self.say(
            f"It runs {PIPELINE} on {added.version.ref} (run {(trigger.run_id or '')[:12]}), "
            f"registers [bold]{candidate}[/] and runs its gates:"
        )
        stored = gate_service.latest_report(ada, candidate)
        self._gates(stored.report["results"], "live", stored.report.get("worth_it") or ())
        if "awaits approval" not in trigger.decision:
            raise VerificationFailedError(
                f"{candidate} should await approval, but: {trigger.decision}"
            )
        self.say(f"Decision: {escape(trigger.decision)}.")
        self.candidate = candidate
        live = _result(stored.report["results"], "beat_live")
        self.summary["retrain"] = {
            "dataset": added.version.ref,
            "schema_change": change.kind,
            "triggers": len(created),
            "candidate": candidate,
            "decision": trigger.decision,
            "live_difference": live.get("data", {}).get("difference"),
            "gates_passed": stored.passed,
        }

    def hot_swap(self) -> None:
        assert self.server is not None
        maria = self.ctx("maria")
        rows = self._sample("2024-08-01", 400, salt=3)
        bodies = [{"instances": [record]} for record in garage.feature_records(rows, _features())]
        old, new = f"{MODEL}@1", self.candidate
        stream = TrafficStream(self.server.port, f"/v1/models/{MODEL}:predict", bodies)
        self.stream = stream
        stream.start()
        try:
            if not stream.wait_for(old, 100, timeout=60):
                raise VerificationFailedError(f"{old} did not answer the traffic stream")
            self.say(
                f"Two clients keep sending August's garages, one request each, while maria "
                f"approves {new} (four-eyes: the controller trained it and asked for it; she "
                "did neither)."
            )
            self.swapped_at = datetime.now(UTC)
            promotion_service.approve(
                maria, new, "live", comment="drift and decay confirmed; gates reviewed"
            )
            approved = time.monotonic()
            with self.console.status(f"waiting for the server to pick up {new}…"):
                swapped = stream.wait_for(new, MIN_ROWS, timeout=60)
        finally:
            pairs = stream.stop()
            self.stream = None
        if not swapped:
            raise VerificationFailedError(f"the server did not switch to {new} within 60 s")
        answers = [answer for _, answer in pairs]
        failed = [a for a in answers if not a.ok]
        by_old = [a for a in answers if a.model == old]
        by_new = [a for a in answers if a.model == new]
        first_new = min(a.at for a in by_new) - approved
        last_old = max(a.at for a in by_old) - approved
        style = "green" if not failed else "red"
        self.say(
            f"Hot swap: the server answered from {new} {first_new:.2f} s after the approval "
            f"(the last answer from {old} came at {last_old:+.2f} s). {len(answers)} "
            f"requests during the swap: {len(by_old)} by @1, {len(by_new)} by "
            f"@{new.rsplit('@', 1)[1]}, [bold {style}]{len(failed)} failed[/]."
        )
        self.swap_answers = len(by_new)
        self.summary["swap"] = {
            "requests": len(answers),
            "by_old": len(by_old),
            "by_new": len(by_new),
            "failed": len(failed),
            "switch_seconds": round(first_new, 3),
            "live": new,
        }
        if failed:
            raise VerificationFailedError(
                f"{len(failed)} requests failed during the hot swap, e.g. "
                f"{failed[0].status} {failed[0].error or failed[0].body}"
            )

    def prove(self) -> None:
        assert self.server is not None
        ops, ada = self.ctx("ops"), self.ctx("ada")
        august = self._sample("2024-08-01", REQUESTS, salt=4)
        answers = self._score(august, "August 2024")
        outcomes = [
            (answer.request_id, int(label))
            for answer, label in zip(answers, august[garage.TARGET], strict=True)
        ]
        record_feedback_many(ada, outcomes, model=MODEL)
        self.say(f"Their inspections report back: {len(outcomes)} outcomes sent as feedback.")
        version = int(self.candidate.rsplit("@", 1)[1])
        with self.console.status("monitoring the new model…"):
            outcome = self._monitor(
                self.ctx("controller"),
                self.swapped_at,
                self.swap_answers + len(answers),
                version=version,
            )
        report = outcome.report
        drifted = list(report.drift.drifted) if report.drift is not None else []
        compared = len(report.drift.features) if report.drift is not None else 0
        prediction = report.prediction_drift.drift if report.prediction_drift else None
        decay = report.decay
        reason = decay.reason if decay is not None else "no decay figure"
        self.say(
            f"Monitoring {self.candidate} since the swap ({report.window.rows} rows) "
            f"against its own reference {report.reference}: {len(drifted)} of "
            f"{compared} features drift"
            + (f" ({', '.join(drifted)})" if drifted else "")
            + f"; predictions {'drifted' if prediction and prediction.drifted else 'stable'}; "
            f"{escape(reason)}."
        )
        if outcome.alerts:
            still = "; ".join(escape(alert.message) for alert in outcome.alerts)
            self.say(f"{len(outcome.cleared)} alerts cleared (audited); still open: {still}.")
        else:
            self.say(f"All {len(outcome.cleared)} alerts cleared (audited): the loop is closed.")
        path = self._write_report(report, f"{MODEL}-v2-monitoring.html")
        self.reports["monitoring_report"] = str(path)
        with self.console.status("stopping the server…"):
            self.server.stop()
        stopped = audit_service.audit_log(ops, action="serve.stopped", limit=1)
        if not stopped:
            raise VerificationFailedError("the server did not record a clean stop")
        self.say(
            "ops stops the server with SIGTERM: it finishes the requests in flight, writes its "
            "prediction log and audits its stop."
        )
        tree = render_tree(lineage_service.model_lineage(ada, f"{MODEL}@live"))
        self.say(f"The lineage of {MODEL}@live:")
        for line in tree:
            self.console.print(f"  [dim]{escape(line)}[/]")
        card = model_card(ada, self.candidate)
        folder = self.root / "reports"
        stem = folder / self.candidate.replace("@", "-v")
        markdown, page = stem.with_suffix(".md"), stem.with_suffix(".html")
        markdown.write_text(model_card_markdown(card), encoding="utf-8")
        page.write_text(model_card_html(card), encoding="utf-8")
        self.reports["model_card"] = str(page)
        self.reports["model_card_markdown"] = str(markdown)
        self.say(
            f"The model card of {self.candidate} — intended use and limits, training data and "
            "contract, metrics, gates against the baseline and the live model, approvals, "
            "lineage — is written as Markdown and self-contained HTML, beside the two "
            "monitoring reports (the drift that started it all, and the new model's health)."
        )
        chain = audit_service.verify_audit(ops)
        if not chain.ok:
            raise VerificationFailedError(f"the audit chain does not hold: {chain.problem}")
        actors = sorted({event.actor for event in audit_service.audit_log(ops, limit=None)})
        self.say(
            f"[bold green]Audit chain intact[/]: {chain.checked} events, each sealed with the "
            f"hash of the one before, by {', '.join(actors)}."
        )
        self.summary["proof"] = {
            "drifted": drifted,
            "prediction_psi": prediction.figures.get("psi") if prediction else None,
            "labelled_metric": decay.latest if decay is not None else None,
            "alerts_cleared": len(outcome.cleared),
            "alerts_open": [alert.key for alert in outcome.alerts],
            "audit_events": chain.checked,
            "audit_ok": chain.ok,
            "server_stopped_cleanly": True,
        }

    # -- the workspace and the people ----------------------------------------------------

    def _choose_root(self) -> None:
        chosen = self.options.workspace
        if chosen is None:
            self.root = Path(tempfile.mkdtemp(prefix="pathtolive-demo-"))
        else:
            self.root = chosen.expanduser().resolve()
            if (self.root / WORKSPACE_FILE).exists() or (self.root / STATE_DIR).exists():
                raise ConflictError(
                    f"{self.root} is a workspace already; the demo plays in a new one: pass "
                    "another --workspace folder, or none for a temporary one"
                )
        self.summary["workspace"] = str(self.root)

    def _make_workspace(self) -> None:
        root = self.root
        base = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
        if env.LOG_LEVEL in os.environ:
            base[env.LOG_LEVEL] = os.environ[env.LOG_LEVEL]
        base.setdefault("OMP_NUM_THREADS", "1")  # see run_demo
        self.environ = base
        ops = init_workspace(root, name="garage-authority", environ={**base, env.USER: OPS})
        ops.close()
        scale = self.scale
        config = root / "pathtolive.toml"
        config.write_text(
            config.read_text(encoding="utf-8")
            + WORKSPACE_CONFIG.format(
                dataset=DATASET,
                pipeline=PIPELINE,
                model=MODEL,
                max_iter=scale.max_iter,
                learning_rate=scale.learning_rate,
                min_rows=MIN_ROWS,
            ),
            encoding="utf-8",
        )
        pipelines = root / "pipelines"
        pipelines.mkdir(exist_ok=True)
        source = resources.files("pathtolive.demo").joinpath("pipeline.py")
        (pipelines / f"{PIPELINE}.py").write_text(source.read_text(encoding="utf-8"))
        (root / "reports").mkdir(exist_ok=True)
        ops = self._open({env.USER: OPS})
        self._people["ops"] = ops
        for name, principal, role in (
            ("ada", ADA, "scientist"),
            ("maria", MARIA, "approver"),
            ("controller", CONTROLLER, "scientist"),
        ):
            created = token_service.create_token(
                ops, principal=principal, role=role, description="pathtolive demo"
            )
            self._people[name] = self._open({env.TOKEN: created.secret})
        self.say(
            f"Workspace {escape(str(root))}: SQLite and a local folder. ops (admin) makes "
            f"tokens for ada (scientist), maria (approver) and the controller (scientist); "
            f"the pipeline {PIPELINE} goes to pipelines/{PIPELINE}.py; live needs four eyes."
        )

    def _open(self, extra: Mapping[str, str]) -> ServiceContext:
        ctx = open_workspace(self.root, environ={**self.environ, **extra})
        self.contexts.append(ctx)
        return ctx

    def ctx(self, person: str) -> ServiceContext:
        return self._people[person]

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        if self.server is not None:
            self.server.stop()
        for ctx in self.contexts:
            ctx.close()

    # -- helpers -------------------------------------------------------------------------

    def _act(self, index: int, title: str) -> None:
        self.console.print()
        self.console.rule(f"[bold]{index}/{STEPS} · {title}", align="left")

    @contextmanager
    def _timed(self, key: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[key] = time.monotonic() - started

    def say(self, text: str) -> None:
        self.console.print(text)

    def _sample(self, month: str, rows: int, *, salt: int) -> pd.DataFrame:
        frame = self.data.months(month, month)
        return frame.sample(
            min(rows, len(frame)), random_state=self.options.seed * 10 + salt
        ).reset_index(drop=True)

    def _score(self, frame: pd.DataFrame, what: str) -> list[Answer]:
        assert self.server is not None
        bodies = [{"instances": [record]} for record in garage.feature_records(frame, _features())]
        with _progress(self.console, f"scoring {what}", len(bodies)) as advance:
            answers = score_each(
                self.server.port, f"/v1/models/{MODEL}:predict", bodies, on_answer=advance
            )
        failed = [a for a in answers if not a.ok]
        if failed:
            raise VerificationFailedError(
                f"{len(failed)} of {len(answers)} predictions failed, e.g. "
                f"{failed[0].status} {failed[0].error or failed[0].body}"
            )
        versions = sorted({a.model for a in answers})
        millis = np.array([a.seconds for a in answers]) * 1000
        self.say(
            f"{what}: {len(answers)} garages scored, one request each, by "
            f"{', '.join(versions)}: 0 failed, p50 {np.percentile(millis, 50):.1f} ms, p95 "
            f"{np.percentile(millis, 95):.1f} ms."
        )
        return answers

    def _monitor(
        self, ctx: ServiceContext, since: datetime, rows: int, *, version: int | None
    ) -> MonitorOutcome:
        """Monitor the window from ``since`` once the server has logged ``rows`` rows in it
        (the log is written every half second), recording alerts."""
        deadline = time.monotonic() + 60
        while True:
            now = datetime.now(UTC)
            seen = monitor(
                ctx, MODEL, window=now - since, version=version, now=now, record_alerts=False
            )
            if seen.report.window.rows >= rows:
                break
            if time.monotonic() > deadline:
                raise VerificationFailedError(
                    f"the prediction log holds {seen.report.window.rows} of {rows} rows after 60 s"
                )
            time.sleep(0.3)
        return monitor(ctx, MODEL, window=now - since, version=version, now=now)

    def _drift_lines(self, report: MonitorReport) -> None:
        features = report.drift.features if report.drift is not None else ()
        drifted = [f for f in features if f.drifted]
        self.say(
            f"Monitoring compares {report.window.rows} live rows with the profile "
            f"stored with {report.reference} (never rereading the data): "
            f"[bold]{len(drifted)} of {len(features)} features drift[/]."
        )
        rows = []
        for feature in sorted(features, key=lambda f: f.rank)[:6]:
            unseen = feature.figures.get("unseen_share")
            rows.append(
                [
                    feature.feature,
                    number(feature.figures.get("psi")),
                    "" if unseen is None else f"{unseen:.0%}",
                    "drifted" if feature.drifted else "ok",
                ]
            )
        self.console.print(_table(["feature", "PSI", "unseen", "verdict"], rows))
        prediction = report.prediction_drift
        if prediction is not None:
            verdict = "drifted" if prediction.drift.drifted else "stable"
            self.say(
                f"Predictions {verdict} against the model's first {MIN_ROWS} "
                f"answers (PSI {number(prediction.drift.figures.get('psi'))})."
            )

    def _write_report(self, report: MonitorReport, name: str) -> Path:
        path = self.root / "reports" / name
        path.write_text(monitoring_report_html(report), encoding="utf-8")
        return path

    def _gates(
        self,
        results: Sequence[Mapping[str, Any]],
        highlight: str | None,
        worth_it: Sequence[str] = (),
    ) -> None:
        """The gate table; then, for ``baseline`` or ``live``, that comparison in words,
        and what the model costs a month against it."""
        rows = [
            [
                str(r["gate"]),
                "[green]pass[/]"
                if r["verdict"] == "pass"
                else ("[red]FAIL[/]" if r["verdict"] == "fail" else "note"),
                escape(str(r["detail"])),
            ]
            for r in results
        ]
        self.console.print(_table(["gate", "verdict", "detail"], rows, markup=True))
        if highlight == "baseline":
            found = _result(results, "beat_baseline")
            figures = found.get("data", {})
            if figures:
                self.say(
                    f"Is the bespoke model worth it? ROC AUC {number(figures.get('a'))} "
                    f"against a logistic regression's {number(figures.get('b'))} on the same "
                    f"holdout: {signed(figures.get('difference'))}, at worst "
                    f"{signed(figures.get('low'))} (95%), above the margin "
                    f"{number(figures.get('margin'))}: [bold]yes[/]."
                )
            for line in worth_it:
                if "baseline" in line:
                    self.say(f"And its upkeep: {escape(line)}.")
        elif highlight == "live":
            found = _result(results, "beat_live")
            figures = found.get("data", {})
            if figures:
                self.say(
                    f"Against the live model on the new data: {number(figures.get('a'))} vs "
                    f"{number(figures.get('b'))}, [bold]{signed(figures.get('difference'))}[/] "
                    f"(95% interval {signed(figures.get('low'))} to "
                    f"{signed(figures.get('high'))})."
                )
            for line in worth_it:
                if "over live version" in line:
                    self.say(f"And its upkeep: {escape(line)}.")

    def _finale(self, elapsed: float) -> None:
        self.console.print()
        self.console.rule("[bold]Done", align="left")
        where = "kept" if self.options.workspace is not None else "a temporary folder"
        lines = [
            ("workspace", f"{self.root} ({where})"),
            ("model card", self.reports.get("model_card", "")),
            ("model card (Markdown)", self.reports.get("model_card_markdown", "")),
            ("monitoring report", self.reports.get("monitoring_report", "")),
            ("drift report", self.reports.get("drift_report", "")),
            ("server log", str(self.root / "logs" / "serve.log")),
        ]
        for label, value in lines:
            self.say(f"{label:>22}: {escape(value)}")
        parts = ", ".join(f"{key} {seconds:.1f} s" for key, seconds in self.timings.items())
        self.say(f"The path to live in {elapsed:.1f} s ({parts}); no process left running.")
        self.summary["paths"] = {**self.reports, "workspace": str(self.root)}


# -- small pieces ----------------------------------------------------------------------


def _features() -> list[str]:
    from pathtolive.demo.pipeline import FEATURES

    return list(FEATURES)


def _risk(answer: Answer) -> float:
    predictions = answer.body["predictions"] if isinstance(answer.body, dict) else None
    if not predictions:
        raise VerificationFailedError(f"a prediction came back without a score: {answer.body}")
    return float(predictions[0][-1])


def _cause(kind: str, cause: str) -> str:
    """A trigger's cause, short: an alert's message up to its figures."""
    return cause if kind == "new_data" else cause.split(":")[0] if kind == "drift" else kind


def _result(results: Sequence[Mapping[str, Any]], gate: str) -> Mapping[str, Any]:
    for result in results:
        if result.get("gate") == gate:
            return result
    return {}


def _tagged(schema: Schema) -> str:
    parts = []
    for tag in ("target", "id", "timestamp"):
        names = schema.tagged(tag)
        if names:
            parts.append(f"{', '.join(names)} the {tag}")
    return ", ".join(parts)


def _value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return number(float(value))
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, markup: bool = False) -> Table:
    grid = Table(show_lines=False, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        cells = [_cell(cell) for cell in row]
        grid.add_row(*(cell if markup else escape(cell) for cell in cells))
    return grid


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return number(float(value))
    return str(value)


@contextmanager
def _progress(console: Console, description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar while requests go out (on a terminal; elsewhere nothing)."""
    if not console.is_terminal:
        yield lambda: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(description, total=total)
    with progress:
        yield lambda: progress.advance(task)
