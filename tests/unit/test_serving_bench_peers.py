"""The serving benchmark's peers and the lines it draws from them: the hand-written
FastAPI floor answers what the model answers, and the targets against BentoML, the
floor and pathtolive's own tails say "met" or "not met" from the figures measured.
(BentoML itself runs only in the full benchmark, from its own venv.)"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from tests.support.benchmarks import load_script

with warnings.catch_warnings():
    # Starlette asks for its httpx successor; the httpx it falls back to does the same.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def serving() -> ModuleType:
    return load_script("serving", "serving_bench")


@pytest.fixture(scope="module")
def frame_and_model() -> tuple[pd.DataFrame, LogisticRegression]:
    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    return frame, LogisticRegression().fit(x, y)  # as the floor calls it: on a matrix


@pytest.fixture(scope="module")
def floor(frame_and_model: tuple[pd.DataFrame, Any]) -> Iterator[TestClient]:
    module = load_script("peers/fastapi_floor", "fastapi_floor_bench")
    with TestClient(module.create_app(frame_and_model[1])) as client:
        yield client


def test_the_floor_answers_the_models_probabilities(
    floor: TestClient, frame_and_model: tuple[pd.DataFrame, Any]
) -> None:
    frame, model = frame_and_model
    rows = frame.iloc[:3]
    wanted = model.predict_proba(rows.to_numpy())

    split = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
    answer = floor.post("/invocations", json=split)
    assert answer.status_code == 200
    assert np.allclose(answer.json()["predictions"], wanted, atol=1e-12)

    instances = floor.post("/invocations", json={"instances": rows.values.tolist()})
    assert np.allclose(instances.json()["predictions"], wanted, atol=1e-12)
    assert floor.get("/ping").status_code == 200


def test_the_floor_checks_only_what_fastapi_checks(floor: TestClient) -> None:
    not_a_number = {"dataframe_split": {"data": [["a", 1, 2, 3, 4]]}}
    assert floor.post("/invocations", json=not_a_number).status_code == 422
    assert floor.post("/invocations", json={}).status_code == 422


def _load(serving: ModuleType, rps: float, latencies: list[float]) -> Any:
    return serving.Load(latencies=latencies, seconds=len(latencies) / rps)


def _run(serving: ModuleType, kind: str, figures: dict[tuple[str, str], Any]) -> Any:
    run = serving.ModelRun(kind, 0.5, 2.0, 0.2)
    for (scenario, server), load in figures.items():
        run.lines.append(serving.Line(scenario, server, load))
    return run


def test_targets_against_the_peers_and_the_tails(serving: ModuleType) -> None:
    steady = [10.0] * 100  # p50 = p99 = 10 ms
    tailed = [10.0] * 90 + [30.0] * 10  # p99 30 ms: 3x the p50
    run = _run(
        serving,
        "gbc",
        {
            (serving.C16, "pathtolive"): _load(serving, 1000, steady),
            (serving.C16, serving.BENTOML): _load(serving, 250, steady),  # 4x: met
            (serving.C16, serving.FLOOR): _load(serving, 1250, steady),  # 0.8x: not met
            (serving.BATCH, "pathtolive"): _load(serving, 50, tailed),
            (serving.BATCH, serving.FLOOR): _load(serving, 40, steady),
        },
    )

    lines = serving.peer_targets(run)

    bentoml = next(line for line in lines if "BentoML's" in line)
    assert "**4.00x**" in bentoml
    assert bentoml.endswith("(target ≥ 3x: met); p99 10.00 vs 10.00 ms")
    floor = next(line for line in lines if "the FastAPI floor's" in line)
    assert "**0.80x**" in floor
    assert "(target ≥ 0.9x: not met)" in floor
    p99 = next(line for line in lines if line.startswith("- p99 at c=16"))
    assert "(target ≤ 15 ms: met)" in p99
    assert "fastapi floor 10.00 ms, bentoml 10.00 ms" in p99
    batch = next(line for line in lines if "row batches" in line)
    assert "**3.0x** (target ≤ 2x: not met); fastapi floor 1.0x" in batch

    found = {ratio.what.split(": ", 1)[1]: ratio for ratio in serving.ratios(run)}
    assert found[f"req/s, {serving.C16}, vs BentoML"].met is True
    assert found[f"req/s, {serving.C16}, vs the FastAPI floor"].met is False
    assert found[f"p99, {serving.C16}, vs its 15 ms ceiling"].met is True
    tail = found[f"p99 / p50, {serving.BATCH}, vs its 2x ceiling"]
    assert (tail.pathtolive, tail.met) == (pytest.approx(3.0, rel=0.02), False)


def test_the_p99_ceiling_is_the_gradient_boosting_models_only(serving: ModuleType) -> None:
    slow = [20.0] * 100
    for kind, verdict in (("gbc", "(target ≤ 15 ms: not met)"), ("logreg", "no target")):
        run = _run(serving, kind, {(serving.C16, "pathtolive"): _load(serving, 100, slow)})
        [p99] = serving.peer_targets(run)
        assert verdict in p99
        assert [r.what for r in serving.ratios(run) if "ceiling" in r.what] == (
            [f"{serving.MODELS[kind]}: p99, {serving.C16}, vs its 15 ms ceiling"]
            if kind == "gbc"
            else []
        )


def test_peers_are_chosen_by_name_in_a_fixed_order(serving: ModuleType) -> None:
    assert serving.chosen_peers("floor, mlflow") == ["mlflow", "floor"]
    assert serving.chosen_peers("bentoml") == ["bentoml"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown peer 'torchserve'"):
        serving.chosen_peers("floor,torchserve")
