"""The console's browsing queries: dataset versions paged with their provenance, profile
histograms as densities, diffs ranked by movement, refused versions; runs filtered, sorted,
paged and compared; the audit log paged by keyset with filters. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from pathtolive.data import NumericStats
from pathtolive.entities import Metric, RunStep
from pathtolive.errors import ContractViolationError, InvalidInputError, NotFoundError
from pathtolive.service import audit as audit_service
from pathtolive.service import datasets as dataset_service
from pathtolive.service import runs as run_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.workspace import init_workspace, open_workspace
from tests.support.metadata import run_record

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> Iterator[ServiceContext]:
    environ = {**clean_environ, env.METADATA_URL: metadata_url}
    root = tmp_path / "ws"
    init_workspace(root, environ=environ, local_role="admin").close()
    context = open_workspace(root, environ=environ)
    yield context
    context.close()


def _frame(seed: int, shift: float = 0.0, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.lognormal(3.0 + shift, 0.5, rows),
            "<script>": rng.choice(["a", "b"], rows),
            "age": rng.integers(18, 30, rows),
        }
    )


# -- datasets -------------------------------------------------------------------------------


def test_versions_are_paged_newest_first_with_their_provenance(ctx: ServiceContext) -> None:
    for seed in range(5):
        dataset_service.add_dataset(
            ctx, _frame(seed), "loans", source_label=f"batch-{seed}", policy="warn"
        )

    first = dataset_service.version_page(ctx, "loans", limit=2)
    second = dataset_service.version_page(ctx, "loans", offset=2, limit=2)
    last = dataset_service.version_page(ctx, "loans", offset=4, limit=2)

    assert [v.version for v in first.versions] == [5, 4]
    assert [v.version for v in second.versions] == [3, 2]
    assert [v.version for v in last.versions] == [1]
    assert first.total == 5
    assert first.has_next
    assert not last.has_next
    newest = first.versions[0]
    assert (newest.parent_version, newest.source) == (4, "batch-4")
    assert newest.author == ctx.actor().name
    assert newest.schema_version == 1
    assert newest.rows == 400
    with pytest.raises(InvalidInputError, match="1 to 200"):
        dataset_service.version_page(ctx, "loans", limit=0)
    with pytest.raises(NotFoundError, match="no dataset 'nope'"):
        dataset_service.version_page(ctx, "nope")


def test_profile_histograms_show_the_shape_as_density(ctx: ServiceContext) -> None:
    dataset_service.add_dataset(ctx, _frame(1), "loans")

    version, columns = dataset_service.column_histograms(ctx, "loans@1")

    assert version.version == 1
    by_name = {column.column: column for column in columns}
    income = by_name["income"]
    assert income.bins, "a numeric column has bins"
    shares = sum(b.share for b in income.bins) + sum(share for _, share in income.point_masses)
    assert math.isclose(shares, 1.0)
    for b in income.bins:
        assert math.isclose(b.density, b.share / (b.high - b.low))
    # A log-normal's equal-mass bins hold about equal shares, yet its density peaks in
    # the body and thins out in the long right tail: drawn as densities, it is not flat.
    shares = [b.share for b in income.bins]
    densities = [b.density for b in income.bins]
    assert max(shares) < 2 * min(shares)
    assert densities[-1] < max(densities) / 5
    assert densities[0] < max(densities) / 2
    script = by_name["<script>"]
    assert dict(script.categories).keys() == {"a", "b"}


def _stats(edges: tuple[float, ...], counts: tuple[int, ...], **mass: object) -> NumericStats:
    return NumericStats(edges[0], edges[-1], 1.0, 1.0, (), sum(counts), edges, counts, **mass)  # type: ignore[arg-type]


def test_density_bins_fall_back_to_the_equal_width_histogram() -> None:
    stats = _stats((0.0, 2.0, 4.0), (8, 2))
    bins, points = dataset_service.density_bins(stats)
    assert [(b.low, b.high, b.count) for b in bins] == [(0.0, 2.0, 8), (2.0, 4.0, 2)]
    assert [b.density for b in bins] == [0.4, 0.1]
    assert points == ()


def test_a_value_holding_mass_by_itself_is_a_point_mass() -> None:
    stats = _stats(
        (0.0, 100.0),
        (10,),
        mass_cuts=(-1.0, 49.99999, 50.00001, 101.0),
        mass_counts=(0, 2, 6, 2, 0),
    )
    bins, points = dataset_service.density_bins(stats)
    assert [b.count for b in bins] == [2, 2]
    assert points == ((50.0, 0.6),)


def test_the_diff_ranks_columns_by_how_much_they_moved(ctx: ServiceContext) -> None:
    dataset_service.add_dataset(ctx, _frame(1), "loans")
    moved = _frame(2, shift=1.5)
    dataset_service.add_dataset(ctx, moved, "loans", policy="warn")

    ranked = dataset_service.ranked_diff(ctx, "loans@1", "loans@2")

    assert ranked.moves[0].column == "income"
    scores = [move.score or 0.0 for move in ranked.moves]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 1.0 > scores[-1]


def test_the_contract_is_shown_with_its_tags(ctx: ServiceContext) -> None:
    dataset_service.add_dataset(ctx, _frame(1), "loans", tags={"income": ["pii"]})

    schema, contract = dataset_service.shown_contract(ctx, "loans")

    assert schema.version == 1
    assert {c.name: c.tags for c in contract.columns}["income"] == ("pii",)


def test_refused_versions_come_with_their_violations(ctx: ServiceContext) -> None:
    dataset_service.add_dataset(ctx, _frame(1), "loans")
    dataset_service.add_dataset(ctx, _frame(1), "loans2")
    broken = _frame(2).drop(columns=["age"])
    with pytest.raises(ContractViolationError):
        dataset_service.add_dataset(ctx, broken, "loans", source_label="bad.csv")
    with pytest.raises(ContractViolationError):
        dataset_service.add_dataset(ctx, broken, "loans2")

    refused = dataset_service.refusals(ctx, "loans")

    assert len(refused) == 1  # loans2's refusal is not loans'
    assert refused[0].source == "bad.csv"
    assert [(v.column, v.kind) for v in refused[0].violations] == [("age", "missing_column")]


# -- runs -------------------------------------------------------------------------------------


def _seed_runs(ctx: ServiceContext) -> list[str]:
    """Six runs of two pipelines with params and final metrics; the last with a series."""
    ids = []
    with ctx.metadata.write() as session:
        for i in range(6):
            run = run_record(
                f"run{i:02d}" + "0" * 26,
                at=T0 + timedelta(minutes=i),
                kind="pipeline",
                pipeline="train" if i % 2 == 0 else "tune",
                status="failed" if i == 5 else "succeeded",
            )
            run = type(run)(
                **{
                    **run.__dict__,
                    "params": {"depth": i % 3, "lr": 0.1},
                    "outputs": {"metrics": {"auc": 0.5 + i / 20}},
                }
            )
            session.insert_run(run)
            session.add_step(
                run.run_id,
                RunStep(
                    0, "fit", "k" * 64, False, None, "succeeded", run.started_at, i + 0.5, "", None
                ),
            )
            ids.append(run.run_id)
        session.add_metrics(
            ids[4], [Metric("loss", 1.0 / (step + 1), step, 0.0) for step in range(1000)]
        )
    return ids


def test_metric_series_keep_every_nth_point_and_the_last_of_a_long_series(
    ctx: ServiceContext,
) -> None:
    ids = _seed_runs(ctx)
    # Two series logged interleaved: a short one with steps, a long one without.
    lr = [Metric("lr", k / 10, k, 0.0) for k in range(23)]
    acc = [Metric("acc", k / 25, None, 0.0) for k in range(25)]
    with ctx.metadata.write() as session:
        session.add_metrics(ids[2], [m for pair in zip(lr, acc, strict=False) for m in pair])
        session.add_metrics(ids[2], acc[23:])
        thinned = session.metric_series([ids[2], ids[4]], max_points=10)

    # 23 points at stride 3: 0, 3, ..., 21, then the last one.
    assert thinned[ids[2]]["lr"] == [(float(k), k / 10) for k in [*range(0, 23, 3), 22]]
    # Without steps a point's x is its position in the series (from 0).
    assert thinned[ids[2]]["acc"] == [(float(k), k / 25) for k in range(0, 25, 3)]
    assert len(thinned[ids[4]]["loss"]) == 10 + 1
    assert thinned[ids[4]]["loss"][-1] == (999.0, 0.001)


def test_the_run_table_filters_sorts_and_pages_in_the_database(ctx: ServiceContext) -> None:
    ids = _seed_runs(ctx)

    newest = run_service.run_table(ctx, limit=4)
    assert [row.run_id for row in newest.rows] == ids[::-1][:4]
    assert newest.total == 6
    assert newest.has_next
    assert newest.param_keys == ("depth", "lr")
    assert newest.metric_keys == ("auc",)
    assert newest.pipelines == ("train", "tune")

    train = run_service.run_table(ctx, pipeline="train")
    assert [row.run_id for row in train.rows] == [ids[4], ids[2], ids[0]]
    assert run_service.run_table(ctx, status="failed").total == 1
    depth = run_service.run_table(ctx, params=["depth=1"])
    assert sorted(row.run_id for row in depth.rows) == [ids[1], ids[4]]
    good = run_service.run_table(ctx, metrics=["auc>=0.7"])
    assert sorted(row.run_id for row in good.rows) == ids[4:]
    by_auc = run_service.run_table(ctx, sort="-metric:auc")
    assert [row.metrics["auc"] for row in by_auc.rows] == sorted(
        (row.metrics["auc"] for row in by_auc.rows), reverse=True
    )
    # A bare name other than a run's own fields is a metric.
    assert run_service.run_table(ctx, sort="-auc").rows == by_auc.rows
    ascending = run_service.run_table(ctx, sort="started", offset=2, limit=2)
    assert [row.run_id for row in ascending.rows] == ids[2:4]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metrics": ["auc ~ 1"]}, "not METRIC OP NUMBER"),
        ({"metrics": ["auc>=high"]}, "not a number"),
        ({"params": ["depth"]}, "not KEY=VALUE"),
        ({"sort": "-"}, "cannot sort runs by '-'"),
        ({"sort": "auc>0"}, "cannot sort runs by 'auc>0'"),
        ({"status": "done"}, "status 'done' does not exist"),
    ],
)
def test_a_bad_filter_is_refused_with_what_to_write(
    ctx: ServiceContext, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        run_service.run_table(ctx, **kwargs)  # type: ignore[arg-type]


def test_runs_compare_side_by_side(ctx: ServiceContext) -> None:
    ids = _seed_runs(ctx)

    compared = run_service.compare_runs(ctx, [ids[1], ids[4]])

    params = {p.key: p for p in compared.params}
    assert params["depth"].values == (1, 1)
    assert not params["depth"].differs
    assert params["lr"].values == (0.1, 0.1)
    metrics = {m.key: m for m in compared.metrics}
    assert metrics["auc"].differs
    assert [(s.name, s.seconds) for s in compared.steps] == [("fit", (1.5, 4.5))]
    loss = compared.series["loss"]
    assert loss[0] == ()  # the first run logged no series
    assert len(loss[1]) <= run_service.SERIES_POINTS + 1
    assert loss[1][0] == (0.0, 1.0)
    assert loss[1][-1] == (999.0, 0.001)
    assert run_service.compare_runs(ctx, [ids[0], ids[2]]).params[0].differs  # depth 0 vs 2

    with pytest.raises(InvalidInputError, match="compare 2 to 10 runs, not 1"):
        run_service.compare_runs(ctx, ids[:1])
    with pytest.raises(InvalidInputError, match="named twice"):
        run_service.compare_runs(ctx, [ids[0], ids[0][:8]])


# -- audit ------------------------------------------------------------------------------------


def test_the_audit_log_pages_by_keyset_with_filters(ctx: ServiceContext) -> None:
    for seed in range(3):
        dataset_service.add_dataset(ctx, _frame(seed), f"set{seed}")
    everything = audit_service.audit_log(ctx, limit=None)

    pages, before = [], None
    while True:
        page = audit_service.audit_page(ctx, limit=2, before=before)
        pages.append([event.seq for event in page.events])
        if page.older is None:
            break
        before = page.older
    assert [seq for page in pages for seq in page] == [event.seq for event in everything]
    assert all(len(page) == 2 for page in pages[:-1])

    added = audit_service.audit_page(ctx, action="dataset.version")
    assert {event.action for event in added.events} == {"dataset.version_added"}
    one = audit_service.audit_page(ctx, subject="dataset:set1")
    assert {event.subject for event in one.events} == {
        "dataset:set1",
        "dataset:set1#schema1",
        "dataset:set1@1",
    }
    assert audit_service.audit_page(ctx, actor="nobody").events == []

    middle = everything[len(everything) // 2]
    since = datetime.fromisoformat(middle.time)
    later = audit_service.audit_page(ctx, since=since)
    assert [e.seq for e in later.events] == [e.seq for e in everything if e.seq >= middle.seq]
    earlier = audit_service.audit_page(ctx, until=since)
    assert [e.seq for e in earlier.events] == [e.seq for e in everything if e.seq < middle.seq]
    with pytest.raises(InvalidInputError, match="ends before it starts"):
        audit_service.audit_page(ctx, since=since, until=since - timedelta(seconds=1))


def test_the_chain_verifies_on_request(ctx: ServiceContext) -> None:
    dataset_service.add_dataset(ctx, _frame(1), "loans")
    report = audit_service.verify_audit(ctx)
    assert report.ok
