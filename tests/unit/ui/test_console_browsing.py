"""The console's Datasets, Runs and Audit pages, in process (Starlette's TestClient)
against a prepared workspace: status, content, pagination, filters, escaping of names
and values from data. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from pathtolive.entities import Metric, RunStep
from pathtolive.errors import ContractViolationError
from pathtolive.service import datasets as dataset_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.ui.console.app import ConsoleSettings, create_console
from pathtolive.ui.console.pages import audit as audit_page
from pathtolive.ui.console.pages import datasets as datasets_page
from pathtolive.ui.console.pages import runs as runs_page
from tests.support.metadata import run_record

with warnings.catch_warnings():
    # Starlette asks for its httpx successor; the httpx it falls back to does the same.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"


def _frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.lognormal(3.0 + shift, 0.5, 300),
            "<script>": rng.choice([SCRIPT, "plain"], 300),
            "age": rng.integers(18, 30, 300),
        }
    )


def _seed_runs(ctx: ServiceContext) -> list[str]:
    """Five runs of two pipelines (params, final metrics, a step, a logged series), the
    first two reading loans@1 and loans@2."""
    ids = []
    with ctx.metadata.write() as session:
        for i in range(5):
            base = run_record(f"{i:02d}" + "ab" * 15, at=T0 + timedelta(minutes=i), kind="pipeline")
            run = replace(
                base,
                pipeline="train" if i % 2 == 0 else "tune",
                params={"depth": i, SCRIPT: "x"},
                outputs={"metrics": {"auc": 0.5 + i / 10}},
                inputs={"data": f"loans@{i + 1}"} if i < 2 else {},
            )
            session.insert_run(run)
            session.add_step(
                run.run_id,
                RunStep(0, "fit", "k" * 64, False, None, "succeeded", T0, 1.0 + i, "", None),
            )
            session.add_metrics(
                run.run_id, [Metric("loss", 1 / (s + 1 + i), s, 0.0) for s in range(30)]
            )
            ids.append(run.run_id)
    return ids


@pytest.fixture
def workspace(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> Iterator[tuple[ServiceContext, TestClient, list[str]]]:
    environ = {**clean_environ, env.METADATA_URL: metadata_url}
    root = tmp_path / "ws"
    init_workspace(root, environ=environ, local_role="admin").close()
    ctx = open_workspace(root, environ=environ)
    dataset_service.add_dataset(ctx, _frame(1), "loans", source_label="first.csv")
    # Incomes beyond the inferred range (soft) and a missing age (hard): stored as warned.
    moved = _frame(2, 1.5)
    moved["age"] = moved["age"].astype("Int64").mask(moved.index == 0)
    dataset_service.add_dataset(ctx, moved, "loans", policy="warn", source_label="b.csv")
    dataset_service.add_dataset(ctx, _frame(3), "loans", policy="warn", source_label="c.csv")
    with pytest.raises(ContractViolationError):
        dataset_service.add_dataset(
            ctx, _frame(4).drop(columns=["age"]), "loans", source_label=SCRIPT
        )
    ids = _seed_runs(ctx)
    app = create_console(ctx, ConsoleSettings())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield ctx, client, ids
    ctx.close()


def _escaped(html: str) -> None:
    """No data value reached the page as markup."""
    assert SCRIPT not in html
    assert "<script>" not in html.replace('<script src="', "")


def test_the_datasets_pages_show_versions_contract_and_refusals(
    workspace: tuple[ServiceContext, TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, _ = workspace
    listing = client.get("/datasets")
    assert listing.status_code == 200
    assert 'href="/datasets/loans"' in listing.text

    monkeypatch.setattr(datasets_page, "PAGE_SIZE", 2)
    first = client.get("/datasets/loans")
    assert first.status_code == 200
    assert re.findall(r">@(\d+)</a>", first.text) == ["3", "2"]
    assert "?offset=2" in first.text
    older = client.get("/datasets/loans?offset=2")
    assert re.findall(r">@(\d+)</a>", older.text) == ["1"]
    # The contract with its columns, and the refused version with its violation.
    assert "missing_column" in first.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first.text  # the refused source
    _escaped(first.text)
    assert client.get("/datasets/nope").status_code == 404
    assert client.get("/datasets/loans?offset=x").status_code == 400


def test_a_version_shows_its_profile_as_densities(
    workspace: tuple[ServiceContext, TestClient, list[str]],
) -> None:
    _, client, _ = workspace
    page = client.get("/datasets/loans/versions/2")
    assert page.status_code == 200
    assert 'class="chart density"' in page.text
    assert "income: density of its values" in page.text
    assert "&lt;script&gt;" in page.text  # the column's name and its category, as text
    _escaped(page.text)
    assert "warned" in page.text
    assert "<td>soft</td>" in page.text  # each finding says how it counts
    assert "<td>hard</td>" in page.text


def test_the_diff_of_two_versions_ranks_the_moved_column_first(
    workspace: tuple[ServiceContext, TestClient, list[str]],
) -> None:
    _, client, _ = workspace
    page = client.get("/datasets/loans/diff?old=1&new=2")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>([^<]*)</td>", page.text)
    assert rows[0] == "income"
    _escaped(page.text)
    assert client.get("/datasets/loans/diff?old=1").status_code == 400


def test_the_runs_table_filters_sorts_and_pages(
    workspace: tuple[ServiceContext, TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, ids = workspace
    shown = lambda html: re.findall(r'name="run" value="([0-9a-f]+)"', html)  # noqa: E731
    page = client.get("/runs")
    assert page.status_code == 200
    assert shown(page.text) == ids[::-1]
    _escaped(page.text)  # a param named <script>

    assert shown(client.get("/runs?pipeline=tune").text) == [ids[3], ids[1]]
    assert shown(client.get("/runs?metric=auc>=0.75").text) == [ids[4], ids[3]]
    assert shown(client.get("/runs?param=depth=2").text) == [ids[2]]
    assert shown(client.get("/runs?sort=metric:auc").text) == ids
    monkeypatch.setattr(runs_page, "PAGE_SIZE", 2)
    paged = client.get("/runs?pipeline=train")
    assert shown(paged.text) == [ids[4], ids[2]]
    older = re.search(r'href="(\?[^"]*offset=2)"', paged.text)
    assert older is not None
    assert shown(client.get("/runs" + older.group(1).replace("&amp;", "&")).text) == [ids[0]]

    bad = client.get("/runs?metric=auc~1")
    assert bad.status_code == 400
    assert "not METRIC OP NUMBER" in bad.text


def test_two_runs_compare_side_by_side(
    workspace: tuple[ServiceContext, TestClient, list[str]],
) -> None:
    _, client, ids = workspace
    page = client.get(f"/runs/compare?run={ids[0]}&run={ids[3]}")
    assert 'href="/datasets/loans/versions/1">loans@1</a>' in client.get("/runs").text
    assert page.status_code == 200
    assert "<polyline" in page.text
    assert "loss by step" in page.text
    assert '<th scope="col">Model versions</th>' in page.text  # none registered here
    assert page.text.count('<tr class="differs">') == 3  # depth, auc, and the data read
    assert 'href="/datasets/loans/versions/1">loans@1</a>' in page.text
    _escaped(page.text)
    assert client.get(f"/runs/compare?run={ids[0]}").status_code == 400


def test_the_audit_log_filters_pages_and_verifies(
    workspace: tuple[ServiceContext, TestClient, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, _ = workspace
    page = client.get("/audit")
    assert page.status_code == 200
    assert "dataset.version_refused" in page.text
    _escaped(page.text)  # the refused source is in the event's details

    refused = client.get("/audit?action=dataset.version_refused")
    assert re.findall(r"<td>(dataset\.[a-z_]+)</td>", refused.text) == ["dataset.version_refused"]
    assert "dataset.version_added" not in client.get("/audit?subject=dataset:loans%23").text
    assert "No event matches" in client.get("/audit?since=2999-01-01T00:00").text
    assert client.get("/audit?since=yesterday").status_code == 400

    monkeypatch.setattr(audit_page, "PAGE_SIZE", 2)
    first = client.get("/audit")
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', first.text)]
    assert len(seqs) == 2
    older = re.search(r'href="\?before=(\d+)"', first.text)
    assert older is not None
    following = client.get(f"/audit?before={older.group(1)}")
    after = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', following.text)]
    assert after == [seqs[-1] - 1, seqs[-1] - 2]

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    verified = client.post("/audit/verify", data={"csrf_token": token.group(1)})
    assert verified.status_code == 200
    assert "The chain holds." in verified.text
    forged = client.post("/audit/verify", data={"csrf_token": "forged"})
    assert forged.status_code == 403


def test_the_overview_lists_each_triggers_vector_of_change(
    workspace: tuple[ServiceContext, TestClient, list[str]],
) -> None:
    ctx, client, _ = workspace
    with ctx.metadata.write() as session:
        for kind, key in (("new_data", "new_data:m:loans@2"), ("code", "code:m:" + "c" * 64)):
            session.insert_trigger("m", kind, f"a {kind} {SCRIPT}", key, at=T0, by="ada")
    page = client.get("/")
    assert page.status_code == 200
    cells = re.findall(r'<td title="([a-z_]+)">([a-z]+)</td>', page.text)
    assert cells == [("code", "code"), ("new_data", "data")]
    _escaped(page.text)
