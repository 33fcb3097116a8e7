"""The Python API does what the command line does, through the same operations, with the
same permissions and audit; it tracks runs by hand, draws its results as HTML fragments,
and its errors name keyword arguments.

One workspace for the module (two dataset versions, two models trained in tracked runs),
built in this process; the gates run twice in all (their clean-process probe is the
costly part)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import pathtolive
from pathtolive import Workspace, env
from pathtolive.entities import ModelVersion
from pathtolive.errors import (
    ConflictError,
    ContractViolationError,
    InvalidInputError,
    PermissionDeniedError,
)
from pathtolive.gates import GateReport
from pathtolive.monitoring.drift import drift_from_scratch
from pathtolive.service import datasets as dataset_service
from pathtolive.service.runs import LOST_AFTER, reap_lost_runs
from pathtolive.service.tokens import create_token
from pathtolive.service.tracked_runs import TrackedRun

FEATURES = ["age", "income"]


def loans(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    income = rng.integers(15_000, 95_000, rows).astype(float)
    risky = (age < 35) ^ (income < 45_000) ^ (rng.random(rows) < 0.1)
    return pd.DataFrame({"age": age, "income": income, "at_risk": risky.astype(int)})


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("notebook")
    with Workspace.init(root, environ={env.USER: "ada"}) as workspace:
        workspace.add_dataset(loans(400, seed=1), "loans")
        yield workspace


def train(ws: Workspace, name: str, C: float) -> ModelVersion:
    with ws.start_run(name=name, data="loans@1", params={"C": C}) as run:
        frame = run.load()
        train, test = frame.iloc[:300], frame.iloc[300:]
        model = LogisticRegression(C=C).fit(train[FEATURES], train["at_risk"])
        for epoch in range(3):
            pathtolive.log_metric("loss", 1.0 / (epoch + 1), step=epoch)  # as in a step
        run.log_metric("accuracy", model.score(test[FEATURES], test["at_risk"]))
        run.log_param("features", FEATURES)
        run.log_holdout(test, target="at_risk")
    return run.register(model)


@pytest.fixture(scope="module")
def first(ws: Workspace) -> ModelVersion:
    return train(ws, "risk", 1.0)


@pytest.fixture(scope="module")
def checked(ws: Workspace, first: ModelVersion) -> GateReport:
    return ws.check_gates(first.ref)


def test_a_run_by_hand_is_recorded_with_its_lineage(ws: Workspace, first: ModelVersion) -> None:
    run = ws.context.metadata
    with run.read() as session:
        stored = session.get_run(first.run_id)
        params = session.run_params(first.run_id)
        losses = [m.value for m in session.run_metrics(first.run_id) if m.key == "loss"]
    assert stored is not None
    assert (stored.kind, stored.pipeline, stored.status) == ("notebook", "risk", "succeeded")
    assert stored.inputs == {"data": "loans@1"}
    assert stored.environment_digest is not None
    assert stored.params == {"C": 1.0}
    assert params == {"C": 1.0, "features": FEATURES}
    assert losses == [1.0, 0.5, pytest.approx(1 / 3)]
    assert set(first.metrics) == {"loss", "accuracy"}
    assert first.ref == "risk@1"
    # What training took, for the cost of retraining: CPU only while the run worked.
    resources = (stored.outputs or {})["resources"]
    assert resources["cpu_seconds"] > 0
    assert resources["wall_seconds"] > 0


def test_a_failing_block_marks_the_run_failed(ws: Workspace) -> None:
    started: list[TrackedRun] = []

    def work() -> None:
        with ws.start_run(name="broken", data="loans@1") as run:
            started.append(run)
            run.log_metric("before", 1.0)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        work()
    (run,) = started
    stored = run.run
    assert stored.status == "failed"
    assert stored.error is not None
    assert "ZeroDivisionError" in stored.error
    with pytest.raises(ConflictError, match="failed"):
        run.register(LogisticRegression())
    with pytest.raises(ConflictError, match="has ended"):
        run.log_metric("after", 2.0)
    events = ws.audit_log(subject=f"run:{stored.run_id}", limit=None)
    assert {event.action for event in events} == {"run.started", "run.failed"}


def test_a_run_whose_kernel_went_away_is_found_lost(ws: Workspace) -> None:
    run = ws.start_run(name="across-cells", data="loans@1")  # no block: ended by hand
    later = datetime.now(UTC) + LOST_AFTER + timedelta(minutes=1)
    lost = reap_lost_runs(ws.context, now=later)
    assert [found.run_id for found in lost] == [run.run_id]
    with pytest.raises(ConflictError, match="marked failed"):
        run.end()
    assert run.run.status == "failed"


def test_release_operations_act_as_the_command_line(
    ws: Workspace, first: ModelVersion, checked: GateReport
) -> None:
    assert checked.passed
    # The gates priced nothing ([costs] sets no prices) but measured the run's training.
    assert checked.costs["footprint"]["training_cpu_seconds"] > 0
    assert checked.costs["monthly"] is None
    checks = ws.audit_log(subject=f"model:{first.ref}", limit=None)
    assert "gates.checked" in {event.action for event in checks}
    outcome = ws.promote(first.ref, reason="first release")
    assert not outcome.applied  # the default policy waits for an approver
    assert [p.ref for p in ws.promotions(status="pending")] == [first.ref]

    # The same permissions: a viewer's token may not approve.
    viewer = create_token(ws.context, principal="vic", role="viewer")
    with (
        Workspace.open(ws.root, environ={env.TOKEN: viewer.secret}) as as_viewer,
        pytest.raises(PermissionDeniedError, match="vic"),
    ):
        as_viewer.approve(first.ref)
    with pytest.raises(InvalidInputError, match=r"reason=") as refused:
        ws.refuse(first.ref, reason=" ")
    assert "--reason" not in refused.value.message
    assert ws.withdraw(first.ref).status == "withdrawn"

    # An alias without a policy moves freely and rolls back; live is governed.
    ws.set_alias(first.ref, "reviewed")
    second = train(ws, "risk", 0.1)
    ws.set_alias(second.ref, "reviewed")
    move = ws.rollback("risk", alias="reviewed", reason="second thoughts")
    assert (move.from_version, move.to_version) == (2, 1)
    with pytest.raises(PermissionDeniedError) as governed:
        ws.set_alias(second.ref, "live")
    assert "ws.promote('risk@2', to='live')" in governed.value.message
    assert "pathtolive promote" not in governed.value.message
    actions = {event.action for event in ws.audit_log(limit=None)}
    assert {"promotion.requested", "promotion.withdrawn", "promotion.rolled_back"} <= actions


def test_cards_explanations_and_monitoring(
    ws: Workspace, first: ModelVersion, tmp_path: Path
) -> None:
    card = ws.model_card(first.ref, out=tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["risk-v1.html", "risk-v1.md"]
    assert card.title
    rows = ws.load("loans@1").head(2)[FEATURES]
    explanation = ws.explain(first.ref, rows)
    assert explanation.features == tuple(FEATURES)
    assert explanation.values.shape == (2, 2)
    report = ws.monitor("risk", version=1, alerts=False)  # no traffic logged yet
    assert (report.model, report.version, report.drift) == ("risk", 1, None)


def test_results_draw_as_safe_html_fragments(
    ws: Workspace, first: ModelVersion, checked: GateReport
) -> None:
    with ws.start_run(name="shown", data="loans@1", params={"note": "<b>bold</b>"}) as run:
        run.log_metric("accuracy", 0.5)
    frame = ws.load("loans@1")
    shown = {
        "run": run.run._repr_html_(),
        "model version": first._repr_html_(),
        "dataset version": ws.dataset("loans@1")._repr_html_(),
        "gate report": checked._repr_html_(),
        "model card": ws.model_card(first.ref)._repr_html_(),
        "monitoring": ws.monitor("risk", version=1, alerts=False)._repr_html_(),
        "drift": drift_from_scratch(frame, frame.assign(age=frame["age"] + 30))._repr_html_(),
    }
    for kind, html in shown.items():
        assert html is not None, kind
        assert html.startswith('<div class="pathtolive-embed"><style>'), kind
        for forbidden in ("<script", "http:", "https:", "<html", "<body", "url("):
            assert forbidden not in html.lower(), (kind, forbidden)
    assert "&lt;b&gt;bold&lt;/b&gt;" in shown["run"]
    assert "<b>bold" not in shown["run"]
    assert "passed" in shown["gate report"]
    assert re.search(r"costs: .*training [\d.]+ s wall", shown["gate report"])
    assert re.search(r">age<.*?drifted", shown["drift"], re.S)


def test_errors_name_keyword_arguments_in_python_and_flags_on_the_command_line(
    ws: Workspace,
) -> None:
    broken = loans(50, seed=3).drop(columns=["income"])  # a column dropped: refused
    with pytest.raises(ContractViolationError) as in_python:
        ws.add_dataset(broken, "loans")
    assert 'policy="warn"' in in_python.value.message
    assert "accept_schema=True" in in_python.value.message
    assert "--" not in in_python.value.message
    with pytest.raises(ContractViolationError) as on_the_command_line:
        dataset_service.add_dataset(ws.context, broken, "loans")
    assert "--policy warn" in on_the_command_line.value.message
    assert "--accept-schema" in on_the_command_line.value.message
    assert [version.version for version in ws.versions("loans")] == [1]
