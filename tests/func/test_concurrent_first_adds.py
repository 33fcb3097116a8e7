"""Concurrent first adds of a new dataset: the first writer's schema wins and the others
are validated against it, on both metadata backends."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from tests.support.cli import run_in_process

_WRITERS = 3


def _add_after_barrier(
    barrier: Any, results: Any, root: str, source: str, environ: Mapping[str, str]
) -> None:
    """One writer, in a process of its own: it prepares its file, then waits until every
    writer has prepared (so each one reads "no schema yet"), then races to store it."""
    from pathtolive.service import datasets

    original = datasets._prepare

    @contextmanager
    def synchronised(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with original(*args, **kwargs) as prepared:
            barrier.wait(timeout=120)
            yield prepared

    datasets._prepare = synchronised  # type: ignore[assignment]
    result = run_in_process(
        ["data", "add", source, "--name", "loans", "--policy", "warn", "--json"],
        cwd=Path(root),
        environ=environ,
    )
    results.put((result.code, result.stdout, result.stderr))


@pytest.mark.subprocess  # concurrent writers are real processes
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_first_adds_store_one_inferred_schema(
    backend: str, tmp_path: Path, cli_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    environ = dict(cli_env)
    if backend == "postgres":
        environ[env.METADATA_URL] = request.getfixturevalue("postgres_url")
    root = tmp_path / "ws"
    assert (
        run_in_process(
            ["init", str(root), "--local-role", "admin"], cwd=tmp_path, environ=environ
        ).code
        == 0
    )
    rng = np.random.default_rng(3)
    sources = []
    for writer in range(_WRITERS):
        # Each file alone would infer another schema: other bounds, other categories.
        rows = 200
        frame = pd.DataFrame(
            {
                "amount": rng.uniform(0, 10 * (writer + 1), rows),
                "grade": rng.choice(["a", "b", "c", "d"][: writer + 2], rows),
            }
        )
        path = tmp_path / f"part{writer}.csv"
        frame.to_csv(path, index=False)
        sources.append(str(path))

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(_WRITERS)
    queue = context.Queue()
    processes = [
        context.Process(
            target=_add_after_barrier, args=(barrier, queue, str(root), source, environ)
        )
        for source in sources
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    for code, stdout, stderr in results:
        assert code == 0, stdout + stderr

    def cli(*args: str) -> Any:
        result = run_in_process(list(args), cwd=root, environ=environ)
        assert result.code == 0, result.stdout + result.stderr
        return result.json()

    schemas = cli("data", "schema", "history", "loans", "--json")
    assert [s["version"] for s in schemas] == [1]
    versions = cli("data", "list", "loans", "--json")
    assert len(versions) == _WRITERS
    assert {v["schema_version"] for v in versions} == {1}
    statuses = sorted(v["validation_status"] for v in versions)
    # The winner's schema was inferred from it; the others were validated against it.
    assert statuses.count("inferred") == 1
    assert set(statuses) - {"inferred"} <= {"passed", "warned"}
    actions = [e["action"] for e in cli("audit", "log", "--json")]
    assert actions.count("dataset.schema_inferred") == 1
    assert "dataset.schema_accepted" not in actions
    assert actions.count("dataset.version_added") == _WRITERS
    assert run_in_process(["audit", "verify"], cwd=root, environ=environ).code == 0


def test_a_first_add_that_loses_the_race_profiles_with_the_winners_pii_tags(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The winner tagged ``email`` as pii; the loser, which prepared its file before that
    schema existed, must not keep raw emails in its profile."""
    from pathtolive.service import datasets

    root = tmp_path / "ws"
    assert (
        run_in_process(
            ["init", str(root), "--local-role", "admin"], cwd=tmp_path, environ=cli_env
        ).code
        == 0
    )
    emails = [f"person{i}@example.com" for i in range(4)]
    pd.DataFrame({"email": emails * 25, "amount": range(100)}).to_csv(
        tmp_path / "loser.csv", index=False
    )
    pd.DataFrame({"email": emails[:2] * 50, "amount": range(100)}).to_csv(
        tmp_path / "winner.csv", index=False
    )
    original = datasets._prepare
    raced = False

    @contextmanager
    def winner_first(*args: Any, **kwargs: Any) -> Iterator[Any]:
        nonlocal raced
        with original(*args, **kwargs) as prepared:
            if not raced:  # the loser has prepared; the winner commits the first schema
                raced = True
                won = run_in_process(
                    [
                        "data",
                        "add",
                        str(tmp_path / "winner.csv"),
                        "--name",
                        "people",
                        "--tag",
                        "email=pii",
                    ],
                    cwd=root,
                    environ=cli_env,
                )
                assert won.code == 0, won.stderr
            yield prepared

    datasets._prepare = winner_first  # type: ignore[assignment]
    try:
        lost = run_in_process(
            ["data", "add", str(tmp_path / "loser.csv"), "--name", "people", "--json"],
            cwd=root,
            environ=cli_env,
        )
    finally:
        datasets._prepare = original  # type: ignore[assignment]
    assert lost.code == 0, lost.stdout + lost.stderr
    assert raced

    shown = run_in_process(["data", "show", "people@2", "--json"], cwd=root, environ=cli_env)
    assert shown.code == 0, shown.stderr
    assert shown.json()["schema_version"] == 1
    assert not any(email in shown.stdout for email in emails)
    history = run_in_process(
        ["data", "schema", "history", "people", "--json"], cwd=root, environ=cli_env
    )
    assert [s["version"] for s in history.json()] == [1]


def test_a_first_add_that_loses_the_race_is_refused_under_strict_like_any_later_version(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The loser decided "first version, infer" before the winner committed; inside its
    write it finds the winner's schema, decides again against it, and under ``strict`` is
    refused (audited), leaving nothing in the store."""
    from pathtolive.service import datasets

    root = tmp_path / "ws"
    assert (
        run_in_process(
            ["init", str(root), "--local-role", "admin"], cwd=tmp_path, environ=cli_env
        ).code
        == 0
    )
    pd.DataFrame({"amount": [1.0, 5.0, 10.0] * 10}).to_csv(tmp_path / "winner.csv", index=False)
    # A column the winner's schema does not have: a hard violation, whatever the ranges.
    pd.DataFrame({"amount": [1.0, 50.0, 100.0] * 10, "note": "x"}).to_csv(
        tmp_path / "loser.csv", index=False
    )
    original = datasets._decide
    decisions: list[Any] = []

    def winner_commits_after_the_first_decision(*args: Any, **kwargs: Any) -> Any:
        decision = original(*args, **kwargs)
        decisions.append(decision)
        if len(decisions) == 1:
            won = run_in_process(
                ["data", "add", str(tmp_path / "winner.csv"), "--name", "loans"],
                cwd=root,
                environ=cli_env,
            )
            assert won.code == 0, won.stderr
        return decision

    datasets._decide = winner_commits_after_the_first_decision  # type: ignore[assignment]
    try:
        lost = run_in_process(
            ["data", "add", str(tmp_path / "loser.csv"), "--name", "loans"],
            cwd=root,
            environ=cli_env,
        )
    finally:
        datasets._decide = original  # type: ignore[assignment]

    assert lost.code == 5, lost.stdout + lost.stderr
    assert "schema v1" in lost.stderr
    assert decisions[0].status == "inferred"  # the loser did decide to infer at first
    listed = run_in_process(["data", "list", "loans", "--json"], cwd=root, environ=cli_env)
    assert [v["version"] for v in listed.json()] == [1]
    objects = root / ".pathtolive" / "objects"
    assert sum(1 for p in objects.rglob("*") if p.is_file()) == 1
    log = run_in_process(["audit", "log", "--json"], cwd=root, environ=cli_env).json()
    actions = [e["action"] for e in log]
    assert actions.count("dataset.schema_inferred") == 1
    assert "dataset.schema_accepted" not in actions
    assert "dataset.version_refused" in actions


def test_accepting_a_schema_on_add_needs_a_reason(tmp_path: Path, cli_env: dict[str, str]) -> None:
    root = tmp_path / "ws"
    assert (
        run_in_process(
            ["init", str(root), "--local-role", "admin"], cwd=tmp_path, environ=cli_env
        ).code
        == 0
    )
    pd.DataFrame({"amount": [1.0, 2.0]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"amount": [1.0, 2.0], "term": [3, 4]}).to_csv(tmp_path / "b.csv", index=False)
    first = ["data", "add", str(tmp_path / "a.csv"), "--name", "loans"]
    assert run_in_process(first, cwd=root, environ=cli_env).code == 0

    refused = run_in_process(
        ["data", "add", str(tmp_path / "b.csv"), "--name", "loans", "--accept-schema"],
        cwd=root,
        environ=cli_env,
    )

    assert refused.code == 4, refused.stdout + refused.stderr  # invalid input
    assert "--reason" in refused.stderr
    log = run_in_process(["audit", "log", "--json"], cwd=root, environ=cli_env).json()
    assert "dataset.schema_accepted" not in [e["action"] for e in log]
