"""Whole-run replay: same code, params and data run nothing, not even the pipeline body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pathtolive.pipelines import Dataset, discover_pipelines, pipeline, step
from tests.unit.pipelines.fakes import Runs, write_files
from tests.unit.pipelines.test_pipelines_executor import RISK

CODE = "c" * 64


def test_a_rerun_with_the_same_code_params_and_data_is_replayed(
    runs: Runs, cancer: Dataset, tmp_path: Path
) -> None:
    write_files(tmp_path, {"pipelines/risk.py": RISK})
    risk = discover_pipelines(tmp_path)["risk"]
    first = runs.run(risk, {"data": cancer}, code_digest=CODE)
    assert first.executed == ("split", "train", "evaluate")
    logged_before = [m for m in runs.sink.metrics if m.key == "test_rows"]

    calls: list[str] = []
    original = risk.func

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("body")
        return original(*args, **kwargs)

    object.__setattr__(risk, "func", counting)  # Pipeline is frozen
    again = runs.run(risk, {"data": cancer}, code_digest=CODE)
    assert calls == []  # the pipeline's own function did not run
    assert again.cached == ("split", "train", "evaluate")
    assert again.executed == ()
    assert dict(again.metrics) == dict(first.metrics)
    assert again.model is None
    assert again.model_digest == first.model_digest
    assert again.graph == first.graph
    # Metrics the steps logged are reported again, as for a step-level cache hit.
    assert len([m for m in runs.sink.metrics if m.key == "test_rows"]) == 2 * len(logged_before)
    model = again.load_model()
    features = cancer.df.drop(columns=[cancer.target or "target"])
    assert first.model is not None
    np.testing.assert_array_equal(model.predict(features), first.model.predict(features))  # type: ignore[attr-defined]


def test_other_code_params_or_no_cache_are_not_replayed(
    runs: Runs, cancer: Dataset, tmp_path: Path
) -> None:
    write_files(tmp_path, {"pipelines/risk.py": RISK})
    risk = discover_pipelines(tmp_path)["risk"]
    runs.run(risk, {"data": cancer}, code_digest=CODE)
    other_code = runs.run(risk, {"data": cancer}, code_digest="d" * 64)
    assert other_code.model is not None  # the body ran: steps came from the step cache
    assert other_code.cached == ("split", "train", "evaluate")
    other_params = runs.run(risk, {"data": cancer}, {"n_estimators": 3}, code_digest=CODE)
    assert other_params.executed == ("train", "evaluate")
    forced = runs.run(risk, {"data": cancer}, use_cache=False, code_digest=CODE)
    assert forced.executed == ("split", "train", "evaluate")


def test_a_run_with_an_uncached_step_is_never_replayed(runs: Runs) -> None:
    @step(name="fresh_rows", cache=False)
    def read_live_table() -> list[int]:
        return [1, 2, 3]

    @pipeline
    def live() -> list[int]:
        return read_live_table()

    runs.run(live, code_digest=CODE)
    again = runs.run(live, code_digest=CODE)
    assert again.executed == ("fresh_rows",)
