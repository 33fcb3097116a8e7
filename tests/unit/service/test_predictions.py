"""The prediction log, feedback and deployment settings through the service layer, on a
real workspace (SQLite, then PostgreSQL) with real models."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive import env
from pathtolive.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    VerificationFailedError,
)
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.predictions import (
    StoreSegmentSink,
    canary_share,
    deployment,
    feedback,
    read_prediction_log,
    record_feedback,
    record_feedback_many,
    set_deployment,
)
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import init_workspace, open_workspace

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
FEATURES = ["mean radius", "mean texture", "mean smoothness"]


@dataclass(frozen=True)
class Setup:
    ctx: ServiceContext
    root: Path
    environ: dict[str, str]
    frame: pd.DataFrame

    def as_role(self, role: str) -> ServiceContext:
        created = create_token(self.ctx, principal=f"{role}-user", role=role)
        environ = {**self.environ, env.TOKEN: created.secret}
        return open_workspace(
            self.root,
            environ=environ,
            metadata_url=self.ctx.settings.metadata_url,
            artifact_url=self.ctx.settings.artifact_url,
        )

    def counts(self) -> dict[str, int]:
        with self.ctx.metadata.read() as session:
            return session.row_counts()


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame[[*FEATURES, "target"]]


@pytest.fixture(scope="module")
def fitted(cancer: pd.DataFrame) -> list[LogisticRegression]:
    """Three models of different strength, fitted once."""
    features, target = cancer[FEATURES], cancer["target"]
    return [LogisticRegression(C=c, max_iter=5000).fit(features, target) for c in (0.1, 1, 10)]


@pytest.fixture
def setup(
    tmp_path: Path,
    metadata_url: str,
    clean_environ: dict[str, str],
    cancer: pd.DataFrame,
    fitted: list[LogisticRegression],
) -> Iterator[Setup]:
    """A workspace with ``risk`` versions 1-3 (with signatures; 1 is live), a version 4
    without a signature, and a model ``churn``."""
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    sample = cancer[FEATURES].head(20)
    for model in fitted:
        model_service.register_model(ctx, model, "risk", signature_sample=sample)
    model_service.register_model(ctx, fitted[0], "risk")
    model_service.register_model(ctx, fitted[1], "churn", signature_sample=sample)
    model_service.set_alias(ctx, "risk@1", "live", override="the first release")
    for version in (2, 3, 4):
        gate_report(ctx, "risk", version, passed=True)
    gate_report(ctx, "churn", 1, passed=True)
    yield Setup(ctx, tmp_path / "ws", clean_environ, cancer)
    ctx.close()


def gate_report(ctx: ServiceContext, model: str, version: int, *, passed: bool) -> None:
    """A stored gate report for ``model@version`` (these models have no holdout to run
    the gates on): one gate, passed or failed."""
    result = {
        "gate": "min_metric",
        "passed": passed,
        "figure": 0.9 if passed else 0.4,
        "threshold": 0.5,
        "verdict": "pass" if passed else "fail",
        "detail": "roc_auc",
    }
    report = {
        "model": model,
        "version": version,
        "metric": "roc_auc",
        "created_at": T0.isoformat(),
        "passed": passed,
        "results": [result],
    }
    with ctx.metadata.write() as session:
        session.insert_gate_report(model, version, passed=passed, report=report, at=T0, by="ada")


def _record(
    setup: Setup, request_id: str, rows: slice, *, version: int, at: datetime
) -> PredictionRecord:
    inputs = setup.frame[FEATURES].iloc[rows].reset_index(drop=True)
    proba = np.linspace(0.1, 0.9, len(inputs))
    return PredictionRecord(
        request_id=request_id,
        at=at,
        model="risk",
        version=version,
        trained_on=("cancer@1",),
        protocol="v1",
        role="live" if version == 1 else "canary",
        latency_ms=1.5,
        inputs=inputs,
        outputs=[[1 - p, p] for p in proba],
    )


# -- the prediction log ------------------------------------------------------------------


def test_segments_are_stored_and_read_back_by_version_and_time(setup: Setup) -> None:
    logger = PredictionLogger(StoreSegmentSink(setup.ctx))
    minute = timedelta(minutes=1)
    logger.log(_record(setup, "a", slice(0, 3), version=1, at=T0))
    logger.log(_record(setup, "b", slice(3, 5), version=2, at=T0 + minute))
    assert logger.flush() == 5
    logger.log(_record(setup, "c", slice(5, 9), version=1, at=T0 + 2 * minute))
    logger.close()
    assert logger.stats.segments == 3
    assert logger.stats.write_errors == 0

    log = read_prediction_log(setup.ctx, "risk")
    assert list(log["request_id"]) == ["a"] * 3 + ["b"] * 2 + ["c"] * 4
    assert list(log["version"]) == [1] * 3 + [2] * 2 + [1] * 4
    assert list(log["row"]) == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    expected = setup.frame["mean radius"].iloc[:9].tolist()
    assert log["input.mean radius"].tolist() == expected
    assert log["prediction"].iloc[:3].tolist() == pytest.approx([0.1, 0.5, 0.9])

    only_two = read_prediction_log(setup.ctx, "risk", version=2)
    assert set(only_two["request_id"]) == {"b"}
    window = read_prediction_log(setup.ctx, "risk", since=T0 + minute, until=T0 + 2 * minute)
    assert set(window["request_id"]) == {"b"}  # since included, until excluded
    later = read_prediction_log(setup.ctx, "risk", since=(T0 + 90 * timedelta(seconds=1)))
    assert set(later["request_id"]) == {"c"}
    naive = read_prediction_log(setup.ctx, "risk", until=(T0 + minute).replace(tzinfo=None))
    assert set(naive["request_id"]) == {"a"}
    assert read_prediction_log(setup.ctx, "risk", since=T0 + timedelta(days=1)).empty
    assert read_prediction_log(setup.ctx, "churn").empty

    viewer = setup.as_role("viewer")
    assert len(read_prediction_log(viewer, "risk")) == 9
    viewer.close()
    with pytest.raises(NotFoundError, match="no model 'nothing'"):
        read_prediction_log(setup.ctx, "nothing")
    with pytest.raises(NotFoundError, match="no version 9"):
        read_prediction_log(setup.ctx, "risk", version=9)


def test_a_damaged_segment_is_refused_when_read(setup: Setup) -> None:
    sink = StoreSegmentSink(setup.ctx)
    logger = PredictionLogger(sink)
    logger.log(_record(setup, "a", slice(0, 2), version=1, at=T0))
    logger.close()
    with setup.ctx.metadata.read() as session:
        (segment,) = session.list_prediction_segments("risk")
    path = setup.ctx.artifacts.local_path(segment.artifact_digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"not the segment")
    with pytest.raises(IntegrityError, match="corrupt"):
        read_prediction_log(setup.ctx, "risk")


def test_the_sink_refuses_an_unknown_version_and_keeps_no_object(setup: Setup) -> None:
    sink = StoreSegmentSink(setup.ctx)
    before = set(setup.ctx.artifacts.iter_digests())
    with pytest.raises(NotFoundError, match="no version 7"):
        sink.write("risk", 7, b"PAR1 some bytes", 1, T0, T0)
    assert set(setup.ctx.artifacts.iter_digests()) == before
    with setup.ctx.metadata.read() as session:
        assert session.list_prediction_segments("risk") == []


# -- feedback ----------------------------------------------------------------------------


def test_feedback_is_recorded_before_the_request_is_logged(setup: Setup) -> None:
    stored = record_feedback(setup.ctx, "req-1", 1, model="risk")
    assert (stored.request_id, stored.label, stored.model, stored.actor) == (
        "req-1",
        1,
        "risk",
        "ada",
    )
    record_feedback(setup.ctx, "req-2", np.float64(0.25))
    record_feedback_many(setup.ctx, [("req-3", "benign"), ("req-4", False)])
    every = feedback(setup.ctx)
    assert [(f.request_id, f.label) for f in every] == [
        ("req-1", 1),
        ("req-2", 0.25),
        ("req-3", "benign"),
        ("req-4", False),
    ]
    assert [f.request_id for f in feedback(setup.ctx, request_ids=["req-4", "req-1"])] == [
        "req-1",
        "req-4",
    ]
    assert [f.request_id for f in feedback(setup.ctx, model="risk")] == ["req-1"]
    assert feedback(setup.ctx, since=datetime.now(UTC) + timedelta(hours=1)) == []


def test_feedback_names_the_row_of_a_batch_request(setup: Setup) -> None:
    stored = record_feedback(setup.ctx, "batch-1", 0, model="risk", row=3)
    assert (stored.request_id, stored.row, stored.label) == ("batch-1", 3, 0)
    many = record_feedback_many(
        setup.ctx,
        # Rows as numpy or JSON give them: np.int64(1), and 2.0 (a number with no fraction).
        [("batch-2", 1, 0), ("single", 0), ("batch-2", 0, np.int64(1)), ("batch-2", 1, 2.0)],
    )
    assert [(f.request_id, f.row) for f in many] == [
        ("batch-2", 0),
        ("single", 0),
        ("batch-2", 1),
        ("batch-2", 2),
    ]
    kept = feedback(setup.ctx, request_ids=["batch-1", "batch-2", "single"])
    assert [(f.request_id, f.row, f.label) for f in kept] == [
        ("batch-1", 3, 0),
        ("batch-2", 0, 1),
        ("single", 0, 0),
        ("batch-2", 1, 0),
        ("batch-2", 2, 1),
    ]
    assert kept == [stored, *many]
    assert all(type(f.row) is int for f in kept)


BAD_ROWS: list[Any] = [-1, 1_000_000, 1.5, float("nan"), float("inf"), True, "2", None]


@pytest.mark.parametrize("row", BAD_ROWS, ids=repr)
def test_a_bad_row_refuses_the_whole_batch(setup: Setup, row: Any) -> None:
    before = setup.counts()
    with pytest.raises(InvalidInputError, match="row must be the row's index") as caught:
        record_feedback_many(setup.ctx, [("ok", 1), ("ok", 0, 1), ("bad", 1, row)])
    assert "\n" not in caught.value.message
    assert "from 0 to 999999" in caught.value.message
    with pytest.raises(InvalidInputError, match="row must be"):
        record_feedback(setup.ctx, "bad", 1, row=row)
    assert setup.counts() == before
    assert feedback(setup.ctx) == []


def test_a_feedback_item_of_the_wrong_shape_is_refused(setup: Setup) -> None:
    items: list[Any] = [("only-an-id",), ("id", 1, 0, "extra"), "id"]
    for item in items:
        with pytest.raises(InvalidInputError, match="a feedback item is"):
            record_feedback_many(setup.ctx, [("ok", 1), item])
    assert feedback(setup.ctx) == []


def test_a_viewer_may_not_send_feedback(setup: Setup) -> None:
    viewer = setup.as_role("viewer")
    before = setup.counts()
    with pytest.raises(PermissionDeniedError, match="viewer-user \\(viewer\\) may not send"):
        record_feedback(viewer, "req-1", 1)
    assert setup.counts() == before
    assert feedback(viewer) == []  # reading is allowed
    viewer.close()
    scientist = setup.as_role("scientist")
    assert record_feedback(scientist, "req-1", 1).actor == "scientist-user"
    scientist.close()


BAD_FEEDBACK: list[tuple[Any, Any, str]] = [
    ("", 1, "request id is empty"),
    ("   ", 1, "request id is empty"),
    ("x" * 101, 1, "at most 100"),
    ("a\nb", 1, "control characters"),
    (5, 1, "the request id is a number, not a string"),
    (None, 1, "the request id is null, not a string"),
    ([1], 1, "the request id is an array, not a string"),
    ("req", float("nan"), "not a finite number"),
    ("req", float("inf"), "not a finite number"),
    ("req", None, "a label is one string, number or boolean"),
    ("req", [1, 2], "a label is one string, number or boolean"),
    ("req", {"y": 1}, "a label is one string, number or boolean"),
    ("req", "y" * 1001, "at most 1000"),
]


def test_bad_feedback_is_refused_and_leaves_the_store_unchanged(setup: Setup) -> None:
    before = setup.counts()
    for request_id, label, message in BAD_FEEDBACK:
        with pytest.raises(InvalidInputError, match=message) as caught:
            record_feedback(setup.ctx, request_id, label)
        assert "\n" not in caught.value.message
    assert setup.counts() == before


def test_one_bad_pair_refuses_the_whole_batch(setup: Setup) -> None:
    before = setup.counts()
    with pytest.raises(InvalidInputError):
        record_feedback_many(setup.ctx, [("ok", 1), ("bad", float("nan"))])
    with pytest.raises(InvalidInputError, match="no feedback"):
        record_feedback_many(setup.ctx, [])
    with pytest.raises(NotFoundError, match="no model 'nothing'"):
        record_feedback(setup.ctx, "req", 1, model="nothing")
    assert setup.counts() == before


def test_a_label_the_model_cannot_answer_is_refused_and_the_valid_one_stays(
    setup: Setup,
) -> None:
    """``risk`` is a probabilistic classifier of classes 0 and 1: a label outside them
    would replace the good one for the same row, so it is refused before it is stored."""
    record_feedback(setup.ctx, "req-1", 1, model="risk")
    before = setup.counts()
    for label in ("maybe", 7, 0.5, "benign"):
        with pytest.raises(InvalidInputError, match="does not fit model 'risk'") as caught:
            record_feedback(setup.ctx, "req-1", label, model="risk")
        assert "0, 1" in caught.value.message
    with pytest.raises(InvalidInputError, match="does not fit model 'risk'"):
        record_feedback_many(setup.ctx, [("req-2", 0), ("req-1", "maybe")], model="risk")
    assert setup.counts() == before
    assert [f.label for f in feedback(setup.ctx, request_ids=["req-1"])] == [1]
    # What the decay join reads as the classes is accepted: the class, its text, a boolean.
    for label in (0, "1", True, 1.0):
        record_feedback(setup.ctx, "req-3", label, model="risk")
    # Without a model there is nothing to check against.
    record_feedback(setup.ctx, "req-4", "maybe")


def test_labels_beyond_the_log_and_its_allowance_are_refused(setup: Setup) -> None:
    """Labels for requests the log does not hold (yet) are kept up to an allowance: a
    flood of made-up request ids cannot grow the store without bound."""
    logger = PredictionLogger(StoreSegmentSink(setup.ctx))
    logger.log(_record(setup, "logged", slice(0, 5), version=1, at=T0))  # 5 rows
    logger.close()
    record_feedback_many(setup.ctx, [("logged", 1, row) for row in range(5)], model="risk")
    record_feedback_many(
        setup.ctx, [(f"unknown-{i}", 1) for i in range(9)], model="risk", max_unlogged=10
    )
    before = setup.counts()
    with pytest.raises(ConflictError, match="holds 14 labels for 5 logged rows") as caught:
        record_feedback_many(
            setup.ctx, [("unknown-9", 1), ("unknown-10", 0)], model="risk", max_unlogged=10
        )
    assert "x-request-id" in caught.value.message
    assert setup.counts() == before
    # One more fits; the other model keeps its own allowance.
    record_feedback(setup.ctx, "unknown-9", 1, model="risk", max_unlogged=10)
    with pytest.raises(ConflictError):
        record_feedback(setup.ctx, "unknown-10", 1, model="risk", max_unlogged=10)
    record_feedback_many(
        setup.ctx, [(f"c-{i}", 1) for i in range(10)], model="churn", max_unlogged=10
    )
    assert len(feedback(setup.ctx, model="risk")) == 15


# -- deployments -------------------------------------------------------------------------


def _deploy_events(ctx: ServiceContext) -> list[tuple[str, str, dict[str, Any]]]:
    with ctx.metadata.read() as session:
        return [
            (e.action, e.subject, e.details) for e in session.iter_audit_events(action="deploy.")
        ]


def test_canary_and_shadow_move_aliases_and_are_audited(setup: Setup) -> None:
    ctx = setup.ctx
    empty = deployment(ctx, "risk")
    assert (empty.live, empty.canary, empty.shadow, empty.canary_share) == (1, None, None, 0.0)
    assert canary_share(ctx, "risk") == 0.0

    both = set_deployment(ctx, "risk", canary="@2", share=0.1, shadow="risk@3", reason="try")
    assert (both.live, both.canary, both.canary_share, both.shadow) == (1, 2, 0.1, 3)
    assert both.updated_by == "ada"
    assert canary_share(ctx, "risk") == pytest.approx(0.1)
    events = _deploy_events(ctx)
    assert [(action, subject) for action, subject, _ in events] == [
        ("deploy.canary", "model:risk"),
        ("deploy.shadow", "model:risk"),
    ]
    assert events[0][2] == {
        "from": None,
        "to": 2,
        "share": 0.1,
        "previous_share": 0.0,
        "reason": "try",
        "role": "admin",
    }
    assert events[1][2] == {"from": None, "to": 3, "reason": "try", "role": "admin"}

    assert set_deployment(ctx, "risk", share=0.2).canary_share == pytest.approx(0.2)
    moved = set_deployment(ctx, "risk", canary="3")  # keeps the share
    assert (moved.canary, moved.canary_share) == (3, pytest.approx(0.2))
    model_service.set_alias(ctx, "risk@2", "staging")
    assert set_deployment(ctx, "risk", canary="@staging").canary == 2

    removed = set_deployment(ctx, "risk", canary=False, shadow=False)
    assert (removed.canary, removed.canary_share, removed.shadow) == (None, 0.0, None)
    assert canary_share(ctx, "risk") == 0.0
    with ctx.metadata.read() as session:
        canary_moves = [
            (m.from_version, m.to_version) for m in session.alias_history("risk", "canary")
        ]
        shadow_moves = [
            (m.from_version, m.to_version) for m in session.alias_history("risk", "shadow")
        ]
    assert canary_moves == [(None, 2), (2, 3), (3, 2), (2, None)]
    assert shadow_moves == [(None, 3), (3, None)]
    actions = [action for action, _, _ in _deploy_events(ctx)]
    assert actions == ["deploy.canary", "deploy.shadow"] + ["deploy.canary"] * 4 + ["deploy.shadow"]
    # Nothing changes: nothing is written.
    count = len(_deploy_events(ctx))
    set_deployment(ctx, "risk", canary=False, shadow=False)
    assert len(_deploy_events(ctx)) == count


def _reopen(setup: Setup, toml: str = "", token: str | None = None) -> ServiceContext:
    """The workspace with ``toml`` appended to its file, as the token's holder if given."""
    if toml:
        path = setup.root / "pathtolive.toml"
        path.write_text(path.read_text() + toml)
    environ = setup.environ if token is None else {**setup.environ, env.TOKEN: token}
    return open_workspace(
        setup.root,
        environ=environ,
        metadata_url=setup.ctx.settings.metadata_url,
        artifact_url=setup.ctx.settings.artifact_url,
    )


def test_a_canary_or_shadow_of_an_ungated_version_is_refused(
    setup: Setup, fitted: list[LogisticRegression]
) -> None:
    """A scientist could send 99.9 % of the traffic to a version whose gates never ran.
    A canary or a shadow needs the version's latest gate report to have passed."""
    ctx = setup.ctx
    model_service.register_model(ctx, fitted[2], "risk", signature_sample=setup.frame[FEATURES])
    gate_report(ctx, "risk", 3, passed=False)  # the newest report of 3 failed
    scientist = setup.as_role("scientist")
    before = setup.counts()
    with pytest.raises(VerificationFailedError, match="risk@5 has no gate report") as caught:
        set_deployment(scientist, "risk", canary="@5", share=0.1)
    assert "pathtolive gates check risk@5" in str(caught.value)
    with pytest.raises(VerificationFailedError, match=r"risk@3 failed its gates \(min_metric\)"):
        set_deployment(scientist, "risk", canary="@3", share=0.1)
    for shadow in ("@3", "@5"):
        with pytest.raises(VerificationFailedError, match="a shadow needs passing gates"):
            set_deployment(scientist, "risk", shadow=shadow)
    assert setup.counts() == before
    current = deployment(ctx, "risk")
    assert (current.canary, current.shadow) == (None, None)
    # A passing report lets it through.
    gate_report(ctx, "risk", 5, passed=True)
    assert set_deployment(scientist, "risk", canary="@5", share=0.1).canary == 5
    scientist.close()


def test_a_canary_share_above_the_ceiling_needs_the_approval_live_needs(setup: Setup) -> None:
    """A canary on 99.9 % of the traffic is a release: above canary_max_share (0.2 by
    default) it is refused unless live's policy is auto; an admin may override, audited."""
    scientist = setup.as_role("scientist")
    before = setup.counts()
    with pytest.raises(PermissionDeniedError, match=r"above canary_max_share 0\.2") as caught:
        set_deployment(scientist, "risk", canary="@2", share=0.999)
    assert "pathtolive promote risk@2 --to live" in str(caught.value)
    assert "(approval)" in str(caught.value)  # live's default policy
    with pytest.raises(PermissionDeniedError, match="may not override"):
        set_deployment(scientist, "risk", canary="@2", share=0.999, override="hurry")
    assert setup.counts() == before
    # At the ceiling, and raising an existing canary's share above it.
    assert set_deployment(scientist, "risk", canary="@2", share=0.2).canary_share == 0.2
    with pytest.raises(PermissionDeniedError, match="above canary_max_share"):
        set_deployment(scientist, "risk", share=0.5)
    scientist.close()

    # The ceiling is configured per model; under live = "auto" the gates suffice.
    raised = _reopen(setup, '[models.risk.promotion]\nlive = "four-eyes"\ncanary_max_share = 0.5\n')
    assert set_deployment(raised, "risk", share=0.5).canary_share == 0.5
    with pytest.raises(PermissionDeniedError, match=r"live's approval \(four-eyes\)"):
        set_deployment(raised, "risk", share=0.6)
    raised.close()

    # An admin's override, with a reason, is recorded.
    admin = _reopen(setup)
    with pytest.raises(InvalidInputError, match="needs a reason"):
        set_deployment(admin, "risk", share=0.9, override=" ")
    forced = set_deployment(admin, "risk", share=0.9, override="live is down")
    admin.close()
    assert forced.canary_share == 0.9
    with setup.ctx.metadata.read() as session:
        (event,) = session.iter_audit_events(action="deploy.overridden")
    assert event.actor == "ada"
    assert event.details["reason"] == "live is down"
    assert event.details["overridden"] == ["canary share 0.9 above 0.5"]


def test_under_an_auto_live_policy_a_large_canary_needs_only_its_gates(setup: Setup) -> None:
    auto = _reopen(setup, '[models.risk.promotion]\nlive = "auto"\n')
    assert set_deployment(auto, "risk", canary="@2", share=0.9).canary_share == 0.9
    auto.close()


def test_a_canary_share_outside_zero_to_one_is_refused(setup: Setup) -> None:
    before = setup.counts()
    for share in (0, 1, 1.5, -0.1, float("nan"), True, "0.1"):
        with pytest.raises(InvalidInputError, match="share"):
            set_deployment(setup.ctx, "risk", canary="@2", share=share)
    assert setup.counts() == before
    assert deployment(setup.ctx, "risk").canary is None


BAD_DEPLOYMENTS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({}, InvalidInputError, "nothing to change"),
    ({"canary": "@2"}, InvalidInputError, "give the canary's share"),
    ({"share": 0.2}, InvalidInputError, "no canary"),
    ({"canary": False, "share": 0.2}, InvalidInputError, "one or the other"),
    ({"canary": "@1", "share": 0.2}, ConflictError, "risk@1 is live already"),
    ({"canary": "churn@1", "share": 0.2}, InvalidInputError, "names model 'churn'"),
    ({"canary": "@9", "share": 0.2}, NotFoundError, "no version 9"),
    ({"canary": "@4", "share": 0.2}, InvalidInputError, "no signature"),
    ({"shadow": "@nope"}, NotFoundError, "no alias 'nope'"),
    ({"shadow": "risk"}, InvalidInputError, "give a version of risk"),
    # One transaction: a bad shadow leaves the canary unchanged too.
    ({"canary": "@2", "share": 0.2, "shadow": "@9"}, NotFoundError, "no version 9"),
]


def test_bad_deployments_are_refused_and_change_nothing(setup: Setup) -> None:
    before = setup.counts()
    for changes, error, message in BAD_DEPLOYMENTS:
        with pytest.raises(error, match=message):
            set_deployment(setup.ctx, "risk", **changes)
    assert setup.counts() == before
    current = deployment(setup.ctx, "risk")
    assert (current.canary, current.shadow, current.canary_share) == (None, None, 0.0)


def test_deployments_need_a_live_version_and_the_write_role(setup: Setup) -> None:
    with pytest.raises(ConflictError, match="no live version"):
        set_deployment(setup.ctx, "churn", shadow="@1")
    with pytest.raises(NotFoundError, match="no model 'nothing'"):
        set_deployment(setup.ctx, "nothing", shadow="@1")
    viewer = setup.as_role("viewer")
    before = setup.counts()
    with pytest.raises(PermissionDeniedError, match="may not change deployments"):
        set_deployment(viewer, "risk", canary="@2", share=0.5)
    assert setup.counts() == before
    assert deployment(viewer, "risk").live == 1
    viewer.close()
