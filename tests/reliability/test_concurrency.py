"""Parallel writers on SQLite and PostgreSQL, beyond what is covered elsewhere.

Already covered, not repeated: parallel ``data add`` of the same content makes one version
(tests/func/test_concurrency.py), racing promotions leave one winner and tell the other
to promote again (tests/func/test_cli_promotion.py), and the stores' own races (one
audit chain under concurrent writers, one alert, one trigger, one lease:
tests/contracts/). Added here: model versions registered at once get distinct,
consecutive numbers, and an alias moved by many writers at once keeps a history that is
one chain ending where the alias points."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace
from pathtolive.service.models import alias_history

WRITERS = 6
MOVES = 3


def test_parallel_registrations_and_alias_moves_stay_one_story(
    store_environ: dict[str, str], tmp_path: Path
) -> None:
    environ = store_environ
    root = tmp_path / "ws"
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    with Workspace.init(root, environ=environ, local_role="admin") as ws:
        ws.add_dataset(frame, "points")
    start = threading.Barrier(WRITERS)

    def register(writer: int) -> int:
        with Workspace.open(root, environ=environ) as ws:
            start.wait()
            version = ws.register_model(
                model, name="clf", data="points@1", sample=frame[["x"]], metrics={"w": writer}
            )
            return version.version

    with ThreadPoolExecutor(WRITERS) as pool:
        numbers = list(pool.map(register, range(WRITERS)))
    assert sorted(numbers) == list(range(1, WRITERS + 1))

    def move(writer: int) -> None:
        with Workspace.open(root, environ=environ) as ws:
            start.wait()
            for step in range(MOVES):
                ws.set_alias(f"clf@{(writer + step) % WRITERS + 1}", "staging", reason=f"w{writer}")

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(move, range(WRITERS)))

    with Workspace.open(root, environ=environ) as ws:
        history = alias_history(ws.context, "clf", "staging")
        live = ws.model("clf@staging").version
        actions = Counter(event.action for event in ws.audit_log(limit=None))
        chain = ws.verify_audit()
    assert len(history) == WRITERS * MOVES
    assert history[0].from_version is None
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version
    assert history[-1].to_version == live
    assert Counter(move.reason for move in history) == {f"w{w}": MOVES for w in range(WRITERS)}
    assert actions["alias.moved"] == WRITERS * MOVES
    assert chain.ok, chain
