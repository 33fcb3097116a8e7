"""The queries behind the console's Model and Model version pages, on SQLite and
PostgreSQL: a page of versions newest first with each one's latest gate verdict and
data, the latest alias moves, the stored gate report, lineage and card of a version, and
one row explained against the training profile's typical values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.gates.base import GateResult
from pathtolive.gates.report import GateReport
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.model_views import explain_row, model_view, version_view
from pathtolive.service.workspace import init_workspace

FEATURES = ["mean radius", "mean texture"]
T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


@dataclass
class Made:
    ctx: ServiceContext
    frame: Any


@pytest.fixture(scope="module")
def cancer() -> Any:
    frame = load_breast_cancer(as_frame=True).frame
    return frame[[*FEATURES, "target"]]


@pytest.fixture
def made(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str], cancer: Any
) -> Iterator[Made]:
    """``risk`` with five versions trained on ``cancer@1``, @2 live; gate reports on
    @2 (passed) and @3 (failed, then passed: the latest counts)."""
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    source = tmp_path / "cancer.csv"
    cancer.to_csv(source, index=False)
    dataset_service.add_dataset(ctx, source, "cancer")
    for c in (0.1, 0.3, 1.0, 3.0, 10.0):
        model = LogisticRegression(C=c, max_iter=5000).fit(cancer[FEATURES], cancer["target"])
        model_service.register_model(ctx, model, "risk", data="cancer@1", metrics={"c": c})
    model_service.set_alias(ctx, "risk@1", "live", override="the first release")
    model_service.set_alias(ctx, "risk@2", "live", override="the second release")
    with ctx.metadata.write() as session:
        for version, passed in ((2, True), (3, False), (3, True)):
            session.insert_gate_report(
                "risk", version, passed=passed, report=_report(version, passed), at=T0, by="ada"
            )
    yield Made(ctx, cancer)
    ctx.close()


def _report(version: int, passed: bool) -> dict[str, Any]:
    result = (
        GateResult.passing("min_metric", "ok", figure=0.9, threshold=0.8)
        if passed
        else GateResult.failing("min_metric", "low", figure=0.7, threshold=0.8)
    )
    return GateReport.from_results("risk", version, "roc_auc", [result], T0).to_dict()


def test_a_model_page_lists_one_page_of_versions_newest_first_with_verdicts(made: Made) -> None:
    first = model_view(made.ctx, "risk", page=1, size=2)
    assert [row.version.version for row in first.rows] == [5, 4]
    assert first.span.total == 5
    assert first.span.pages == 3
    assert first.span.has_next
    assert not first.span.has_previous
    second = model_view(made.ctx, "risk", page=2, size=2)
    assert [row.version.version for row in second.rows] == [3, 2]
    # The latest report of each version decides: @3 failed, then passed.
    assert [row.passed for row in second.rows] == [True, True]
    assert second.rows[0].data == {"data": "cancer@1"}
    assert second.rows[1].version.aliases == ("live",)
    last = model_view(made.ctx, "risk", page=3, size=2)
    assert [row.version.version for row in last.rows] == [1]
    assert last.rows[0].passed is None
    assert not last.span.has_next
    assert last.live == 2


def test_the_timeline_keeps_the_latest_alias_moves_oldest_first(made: Made) -> None:
    view = model_view(made.ctx, "risk")
    assert [(move.alias, move.from_version, move.to_version) for move in view.timeline] == [
        ("live", None, 1),
        ("live", 1, 2),
    ]
    with made.ctx.metadata.read() as session:
        newest = session.alias_history("risk", newest=1)
    assert [(move.from_version, move.to_version) for move in newest] == [(1, 2)]


def test_bad_pages_and_unknown_models_are_refused(made: Made) -> None:
    with pytest.raises(InvalidInputError, match="pages are numbered from 1"):
        model_view(made.ctx, "risk", page=0)
    with pytest.raises(InvalidInputError, match="page size 101"):
        model_view(made.ctx, "risk", size=101)
    with pytest.raises(NotFoundError, match="no model 'nope'"):
        model_view(made.ctx, "nope")


def test_a_version_page_has_its_latest_report_lineage_and_card(made: Made) -> None:
    view = version_view(made.ctx, "risk@3")
    assert view.report is not None
    assert view.report.passed
    kinds = {node.kind for node in view.lineage.walk()}
    assert {"model", "run", "data", "code"} <= kinds
    assert view.card.title
    assert view.inputs == tuple(FEATURES)
    assert version_view(made.ctx, "risk@1").report is None


def test_one_row_is_explained_against_the_training_profile(made: Made) -> None:
    median = made.frame[FEATURES].median()
    # At the typical values every attribution is about nothing.
    calm = explain_row(made.ctx, "risk@2", {name: str(median[name]) for name in FEATURES})
    assert max(abs(value) for _, value in calm.attributions) < 0.05
    moved = explain_row(
        made.ctx, "risk@2", {"mean radius": "28", "mean texture": str(median["mean texture"])}
    )
    assert moved.attributions[0][0] == "mean radius"
    assert abs(moved.attributions[0][1]) > 0.2
    assert 0.0 <= moved.output <= 1.0


def test_an_unreadable_row_is_refused_with_what_to_fix(made: Made) -> None:
    with pytest.raises(InvalidInputError, match="missing: mean texture"):
        explain_row(made.ctx, "risk@2", {"mean radius": "12"})
    with pytest.raises(InvalidInputError, match="mean radius takes a float; 'big' is not one"):
        explain_row(made.ctx, "risk@2", {"mean radius": "big", "mean texture": "3"})
