"""The console's list pages stay bounded as a workspace grows: the Overview and the
Promotions page make as many SQL statements with many models and requests as with few,
and the Models list and the Promotions page paginate. The models are written as rows
copying one registered version (as the scale benchmark does), not trained."""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sqlalchemy import event

from pathtolive import env
from pathtolive.gates import GateReport
from pathtolive.gates.base import GateResult
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.model_views import LINEAGE_PARENTS
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.ui.console.app import ConsoleSettings, create_console
from pathtolive.ui.console.pages.model import MODELS_PER_PAGE
from pathtolive.ui.console.pages.promotions import PAGE_SIZE
from tests.support.console import console_environ

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette asks for httpx's successor
    from starlette.testclient import TestClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Console:
    """The console of a workspace whose models are added as the test goes, with a
    count of the SQL statements each request makes."""

    def __init__(self, ctx: ServiceContext, client: TestClient) -> None:
        self.ctx = ctx
        self.client = client
        self.models = 0
        self.statements = 0
        event.listen(ctx.metadata.engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    def get(self, path: str) -> tuple[str, int]:
        """The page at ``path`` and the statements its request made."""
        before = self.statements
        answer = self.client.get(path)
        assert answer.status_code == 200, answer.text[:500]
        return answer.text, self.statements - before

    def add_models(self, count: int) -> None:
        """``count`` more models of three versions, @2 live (approved), @3 in canary
        and asked for live under four-eyes."""
        first = model_service.model_version(self.ctx, "m000@1")
        with self.ctx.metadata.write() as session:
            for m in range(self.models, self.models + count):
                name = f"m{m:03d}"
                if m > 0:
                    session.create_model(name, T0, "ada")
                for v in range(1, 4):
                    if (m, v) != (0, 1):
                        session.insert_model_version(replace(first, model=name, version=v))
                    results = [GateResult.passing("min_metric", "ok", figure=0.9, threshold=0.8)]
                    report = GateReport.from_results(name, v, "roc_auc", results, T0).to_dict()
                    session.insert_gate_report(name, v, passed=True, report=report, at=T0, by="ada")
                approved = session.insert_promotion(
                    name, 2, alias="live", policy="four-eyes", status="pending",
                    requested_by="sam", requested_at=T0, reason="", gate_report_id=None,
                )  # fmt: skip
                session.add_approval(
                    approved, approver="maria", decision="approve", comment="", at=T0
                )
                session.decide_promotion(
                    approved, status="approved", decided_by="maria", decided_at=T0
                )
                session.move_alias(name, "live", 2, at=T0, actor="maria")
                session.move_alias(name, "canary", 3, at=T0, actor="ada")
                session.set_canary_share(name, 0.1, at=T0, actor="ada")
                session.insert_promotion(
                    name, 3, alias="live", policy="four-eyes", status="pending",
                    requested_by="sam", requested_at=T0 + timedelta(minutes=m), reason="",
                    gate_report_id=None,
                )  # fmt: skip
        self.models += count


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def metadata(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The metadata database: the workspace's SQLite file (None), or a PostgreSQL
    schema of the module's own."""
    if request.param == "sqlite":
        yield None
        return
    server = str(request.getfixturevalue("postgres_server"))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'drop schema "{schema}" cascade'))
    admin.dispose()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, metadata: str | None) -> Iterator[Console]:
    root = Path(tmp_path_factory.mktemp("console-scale")) / "ws"
    environ = console_environ()
    if metadata is not None:
        environ[env.METADATA_URL] = metadata
    init_workspace(root, environ=environ, local_role="admin").close()
    ctx = open_workspace(root, environ=environ)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 200), "b": rng.normal(0, 1, 200)})
    dataset_service.add_dataset(ctx, frame, "data")
    model = LogisticRegression().fit(frame, frame["a"] > 0)
    model_service.register_model(ctx, model, "m000", data="data@1")
    with TestClient(create_console(ctx, ConsoleSettings()), base_url="http://127.0.0.1") as client:
        yield Console(ctx, client)
    ctx.close()


def test_the_overview_and_promotions_make_as_many_statements_for_many_models(
    console: Console,
) -> None:
    console.add_models(3)
    console.get("/")  # a first request, so both counts below are of warm requests
    overview, few = console.get("/")
    promotions, few_promotions = console.get("/promotions")
    assert "m002" in overview
    assert "m002@3" in promotions
    console.add_models(PAGE_SIZE)
    overview, many = console.get("/")
    promotions, many_promotions = console.get("/promotions")
    assert f"m{PAGE_SIZE + 2:03d}" in overview  # every model is listed
    assert many == few
    assert many_promotions == few_promotions


def test_the_promotions_page_and_the_models_list_paginate(console: Console) -> None:
    if console.models <= max(PAGE_SIZE, MODELS_PER_PAGE):
        console.add_models(max(PAGE_SIZE, MODELS_PER_PAGE) + 1 - console.models)
    pending = console.models  # one request per model waits
    first, _ = console.get("/promotions")
    asked = set(re.findall(r'name="ref" value="(m\d+@3)"', first))
    assert len(asked) == PAGE_SIZE
    assert f'href="?offset={PAGE_SIZE}"' in first
    second, _ = console.get(f"/promotions?offset={PAGE_SIZE}")
    later = set(re.findall(r'name="ref" value="(m\d+@3)"', second))
    assert later
    assert not later & asked
    assert len(later) == min(PAGE_SIZE, pending - PAGE_SIZE)
    models, _ = console.get("/models")
    assert models.count('href="/models/m') >= MODELS_PER_PAGE
    assert 'href="/models?page=2"' in models
    rest, _ = console.get("/models?page=2")
    last = f"m{console.models - 1:03d}"
    assert f'href="/models/{last}"' in rest
    assert f'href="/models/{last}"' not in models


def test_a_version_page_shows_the_nearest_parents_of_its_data(console: Console) -> None:
    rng = np.random.default_rng(1)
    for shift in range(1, LINEAGE_PARENTS + 3):
        frame = pd.DataFrame({"a": rng.normal(shift, 1, 50), "b": rng.normal(0, 1, 50)})
        dataset_service.add_dataset(console.ctx, frame, "data", policy="warn")
    newest = LINEAGE_PARENTS + 3
    model = LogisticRegression().fit(frame, frame["a"] > shift)
    version = model_service.register_model(console.ctx, model, "deep", data=f"data@{newest}")
    page, _ = console.get(f"/models/deep/versions/{version.version}")
    shown = set(re.findall(r'href="/datasets/data/versions/(\d+)"', page))
    # The version read, its nearest parents, then the one where the page stops.
    assert shown == {str(newest - n) for n in range(LINEAGE_PARENTS + 2)}
    assert "data@1" not in page  # nor does the model card's lineage go further
