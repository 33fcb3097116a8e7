"""The MetadataStore contract for runs, models and aliases (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.entities import Metric, ModelVersion, Run, RunStep
from pathtolive.store.metadata import MetadataSession, MetadataStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(metadata_url)
    store.upgrade()
    with store.write() as session:
        dataset_id = session.create_dataset("loans", NOW, "ada")
        schema_id = session.insert_schema(
            dataset_id,
            version=1,
            schema={},
            change_kind="initial",
            changes=[],
            reason="",
            created_at=NOW,
            created_by="ada",
        )
        for number in (1, 2):
            session.insert_version(
                dataset_id,
                version=number,
                content_hash=str(number) * 64,
                parent_version=None if number == 1 else 1,
                schema_id=schema_id,
                source="x.csv",
                source_format="csv",
                author="ada",
                created_at=NOW,
                rows=1,
                size=1,
                validation_status="inferred",
                validation=None,
                profile={},
            )
    yield store
    store.close()


def make_run(run_id: str, *, inputs: dict[str, str] | None = None, minutes: int = 0) -> Run:
    return Run(
        run_id=run_id,
        kind="pipeline",
        pipeline="risk",
        status="running",
        actor="ada",
        started_at=NOW + timedelta(minutes=minutes),
        finished_at=None,
        code_commit="c" * 40,
        code_dirty=False,
        code_diff_hash=None,
        pipelines_hash="p" * 64,
        environment_digest="e" * 64,
        params={"n_estimators": 300, "seed": 0},
        inputs=inputs or {"data": "loans@2"},
    )


def add_run(session: MetadataSession, run: Run) -> None:
    session.ensure_environment("e" * 64, python="3.11", platform="linux", packages=["numpy==2.0"])
    session.insert_run(run)


def test_run_round_trip_with_inputs_params_metrics_and_steps(store: MetadataStore) -> None:
    with store.write() as session:
        add_run(session, make_run("run_a"))
        session.add_metrics("run_a", [Metric("loss", 0.5, 1, 1.0), Metric("loss", 0.4, 2, 2.0)])
        session.add_step(
            "run_a",
            RunStep(
                0, "split", "k" * 64, False, "d" * 64, "succeeded", NOW, 0.25, "log line", None
            ),
        )
        session.finish_run(
            "run_a",
            status="succeeded",
            finished_at=NOW,
            outputs={"model": "m"},
            graph={"nodes": []},
        )
    with store.read() as session:
        run = session.get_run("run_a")
        assert run is not None
        assert run.status == "succeeded"
        assert run.inputs == {"data": "loans@2"}
        assert run.params == {"n_estimators": 300, "seed": 0}
        assert session.run_params("run_a") == {"n_estimators": 300, "seed": 0}
        assert [m.value for m in session.run_metrics("run_a", "loss")] == [0.5, 0.4]
        assert session.metric_count("run_a") == 2
        steps = session.run_steps("run_a")
        assert [(s.name, s.seconds, s.logs) for s in steps] == [("split", 0.25, "log line")]
        assert run.outputs == {"model": "m"}
        env = session.environment("e" * 64)
        assert env is not None
        assert env["packages"] == ["numpy==2.0"]
        assert [r.run_id for r in session.runs_using_dataset("loans", 2)] == ["run_a"]
        assert session.runs_using_dataset("loans", 1) == []
        assert session.find_runs("run_") == ["run_a"]


def test_runs_list_newest_first_and_filters(store: MetadataStore) -> None:
    with store.write() as session:
        add_run(session, make_run("run_1", minutes=0))
        add_run(session, make_run("run_2", minutes=1))
        session.finish_run("run_2", status="failed", finished_at=NOW, error="boom")
    with store.read() as session:
        assert [r.run_id for r in session.list_runs()] == ["run_2", "run_1"]
        assert [r.run_id for r in session.list_runs(status="failed")] == ["run_2"]
        failed = session.get_run("run_2")
    assert failed is not None
    assert failed.error == "boom"


def test_ten_thousand_metrics_in_one_batch(store: MetadataStore) -> None:
    with store.write() as session:
        add_run(session, make_run("run_m"))
        inserted = session.add_metrics(
            "run_m", (Metric(f"m{i % 10}", float(i), i, float(i)) for i in range(10_000))
        )
    assert inserted == 10_000
    with store.read() as session:
        assert session.metric_count("run_m") == 10_000


def test_step_cache_remembers_once(store: MetadataStore) -> None:
    with store.write() as session:
        assert session.cached_output("k1") is None
        session.remember_output("k1", "train", "a" * 64, NOW)
        session.remember_output("k1", "train", "b" * 64, NOW)
    with store.read() as session:
        assert session.cached_output("k1") == "a" * 64


def test_model_versions_aliases_and_history(store: MetadataStore) -> None:
    with store.write() as session:
        add_run(session, make_run("run_x"))
        model_id = session.create_model("risk", NOW, "ada")
        for number in (1, 2):
            session.insert_model_version(
                ModelVersion(
                    model="risk",
                    version=number,
                    artifact_digest=str(number) * 64,
                    artifact_bytes=10,
                    flavor="sklearn",
                    trusted_types=("sklearn.tree._tree.Tree",),
                    signature={"inputs": []},
                    metrics={"roc_auc": 0.8 + number / 100},
                    run_id="run_x",
                    source="run",
                    description="",
                    tags={"team": "risk"},
                    created_at=NOW,
                    created_by="ada",
                )
            )
        assert session.latest_model_version_number(model_id) == 2
        assert session.move_alias("risk", "staging", 1, at=NOW, actor="ada") is None
        assert session.move_alias("risk", "staging", 2, at=NOW, actor="bob", reason="better") == 1
        session.move_alias("risk", "live", 1, at=NOW, actor="ada")
    with store.read() as session:
        model = session.get_model("risk")
        assert model is not None
        assert model.aliases == {"live": 1, "staging": 2}
        assert model.latest_version == 2
        second = session.get_model_version("risk", 2)
        assert second is not None
        assert second.aliases == ("staging",)
        assert second.trusted_types == ("sklearn.tree._tree.Tree",)
        assert second.metrics == {"roc_auc": pytest.approx(0.82)}
        assert [v.version for v in session.model_versions_of_run("run_x")] == [1, 2]
        by_run = session.model_versions_of_runs(["run_x", "no_such_run"])
        assert list(by_run) == ["run_x"]
        assert [(v.version, v.aliases) for v in by_run["run_x"]] == [
            (1, ("live",)),
            (2, ("staging",)),
        ]
        history = session.alias_history("risk", "staging")
        assert [(h.from_version, h.to_version, h.actor, h.reason) for h in history] == [
            (None, 1, "ada", ""),
            (1, 2, "bob", "better"),
        ]
    with store.write() as session:
        assert session.move_alias("risk", "staging", None, at=NOW, actor="ada") == 2
    with store.read() as session:
        assert session.alias_version("risk", "staging") is None
        assert len(session.alias_history("risk")) == 4
