"""Running pipelines: the graph from the calls, caching and its invalidation, failures,
logs and metrics, on real data with real estimators."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import (
    LOG_LIMIT,
    Dataset,
    GraphEdge,
    Pipeline,
    RunFailedError,
    RunGraph,
    StepFailedError,
    discover_pipelines,
    log_metric,
    log_param,
    pipeline,
    recording,
    step,
)
from tests.unit.pipelines.fakes import Runs, write_files

RISK = """
    from __future__ import annotations

    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    from pathtolive.pipelines import Dataset, log_metric, pipeline, step


    @step
    def split(data: Dataset, test_size: float = 0.25, seed: int = 0):
        frame = data.df
        train_df, test_df = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=frame[data.target]
        )
        return train_df, test_df


    @step
    def train(train_df: pd.DataFrame, target: str, n_estimators: int = 10, seed: int = 0):
        model = RandomForestClassifier(n_estimators=n_estimators, random_state=seed)
        return model.fit(train_df.drop(columns=[target]), train_df[target])


    @step
    def evaluate(model, test_df: pd.DataFrame, target: str) -> dict[str, float]:
        features = test_df.drop(columns=[target])
        log_metric("test_rows", len(test_df))
        return {
            "accuracy": accuracy_score(test_df[target], model.predict(features)),
            "roc_auc": roc_auc_score(test_df[target], model.predict_proba(features)[:, 1]),
        }


    @pipeline
    def risk(data: Dataset, n_estimators: int = 10):
        tr, te = split(data)
        model = train(tr, data.target, n_estimators=n_estimators)
        return model, evaluate(model, te, data.target)
"""


def _risk(root: Path, source: str = RISK) -> Pipeline[..., Any]:
    write_files(root, {"pipelines/risk.py": source})
    return discover_pipelines(root)["risk"]


def test_graph_is_built_from_the_calls(tmp_path: Path, runs: Runs, cancer: Dataset) -> None:
    outcome = runs.run(_risk(tmp_path), {"data": cancer})

    assert [node.step for node in outcome.graph.nodes] == ["split", "train", "evaluate"]
    assert outcome.graph.edges == (
        GraphEdge("data", 0, "data"),
        GraphEdge(0, 1, "train_df", element=0),
        GraphEdge(1, 2, "model"),
        GraphEdge(0, 2, "test_df", element=1),
    )
    assert outcome.graph.describe() == [
        "[0] split <- data: cancer",
        "[1] train <- train_df: split[0].0",
        "[2] evaluate <- model: train[1], test_df: split[0].1",
    ]
    assert RunGraph.from_dict(outcome.graph.to_dict()) == outcome.graph


def test_a_run_records_each_step(tmp_path: Path, runs: Runs, cancer: Dataset) -> None:
    outcome = runs.run(_risk(tmp_path), {"data": cancer}, {"n_estimators": 10})

    assert runs.records == list(outcome.steps)
    split, train, evaluate = outcome.steps
    assert [record.status for record in outcome.steps] == ["succeeded"] * 3
    assert split.params == {"test_size": 0.25, "seed": 0}
    assert split.input_fingerprints == {"data": cancer.content_hash}
    assert train.params == {"target": "target", "n_estimators": 10, "seed": 0}
    assert train.input_fingerprints["train_df"] != split.output_digest  # an element of it
    assert evaluate.input_fingerprints["model"] == train.output_digest
    assert all(record.output_digest in runs.store.objects for record in outcome.steps)
    assert all(record.started_at.tzinfo is not None for record in outcome.steps)
    assert split.to_dict()["started_at"].endswith("+00:00")
    assert set(outcome.metrics) == {"test_rows", "accuracy", "roc_auc"}
    assert outcome.metrics["accuracy"] > 0.9
    assert outcome.model is not None
    assert [metric.key for metric in runs.sink.metrics] == ["test_rows", "accuracy", "roc_auc"]


def test_a_second_run_runs_no_step_and_gives_equal_results(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    risk = _risk(tmp_path)
    first = runs.run(risk, {"data": cancer})
    second = runs.run(risk, {"data": cancer})

    assert first.executed == ("split", "train", "evaluate")
    assert second.executed == ()
    assert second.cached == ("split", "train", "evaluate")
    assert [r.cache_key for r in second.steps] == [r.cache_key for r in first.steps]
    assert [r.output_digest for r in second.steps] == [r.output_digest for r in first.steps]
    # Metrics logged inside cached steps are replayed, so the run reports the same ones.
    assert second.metrics == first.metrics
    features = cancer.X
    np.testing.assert_array_equal(
        second.model.predict_proba(features),  # type: ignore[union-attr]
        first.model.predict_proba(features),  # type: ignore[union-attr]
    )
    assert second.graph == first.graph


def test_changing_a_param_reruns_only_the_steps_it_reaches(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    risk = _risk(tmp_path)
    runs.run(risk, {"data": cancer}, {"n_estimators": 10})
    changed = runs.run(risk, {"data": cancer}, {"n_estimators": 12})

    assert changed.cached == ("split",)
    assert changed.executed == ("train", "evaluate")


def test_changing_the_data_reruns_every_step(
    tmp_path: Path, runs: Runs, cancer: Dataset, cancer_frame: pd.DataFrame
) -> None:
    risk = _risk(tmp_path)
    runs.run(risk, {"data": cancer})
    fewer = Dataset.from_frame(cancer_frame.iloc[:500], name="cancer", tags={"target": ["target"]})
    changed = runs.run(risk, {"data": fewer})

    assert changed.executed == ("split", "train", "evaluate")


def test_changing_a_step_reruns_it_and_what_its_new_output_reaches(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    runs.run(_risk(tmp_path), {"data": cancer})
    deeper = RISK.replace(
        "RandomForestClassifier(n_estimators=n_estimators, random_state=seed)",
        "RandomForestClassifier(n_estimators=n_estimators, random_state=seed, max_depth=3)",
    )
    changed = runs.run(_risk(tmp_path, deeper), {"data": cancer})

    assert changed.cached == ("split",)
    assert changed.executed == ("train", "evaluate")


def test_a_step_whose_output_does_not_change_leaves_later_steps_cached(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    runs.run(_risk(tmp_path), {"data": cancer})
    commented = RISK.replace(
        "        model = RandomForestClassifier(",
        "        # A fixed seed: the same data gives the same forest.\n"
        "        model = RandomForestClassifier(",
    )
    changed = runs.run(_risk(tmp_path, commented), {"data": cancer})

    # train's source changed, so it ran; its model is byte-identical, so evaluate did not.
    assert changed.executed == ("train",)
    assert changed.cached == ("split", "evaluate")


def test_without_the_cache_every_step_runs_and_the_cache_is_refreshed(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    risk = _risk(tmp_path)
    runs.run(risk, {"data": cancer})
    forced = runs.run(risk, {"data": cancer}, use_cache=False)
    assert forced.executed == ("split", "train", "evaluate")

    runs.cache.entries.clear()
    runs.run(risk, {"data": cancer}, use_cache=False)
    assert runs.run(risk, {"data": cancer}).executed == ()


def test_a_cached_output_missing_from_the_store_is_computed_again(
    tmp_path: Path, runs: Runs, cancer: Dataset
) -> None:
    risk = _risk(tmp_path)
    first = runs.run(risk, {"data": cancer})
    del runs.store.objects[first.steps[1].output_digest]  # type: ignore[arg-type]

    again = runs.run(risk, {"data": cancer})

    assert again.executed == ("train",)
    assert again.steps[1].output_digest == first.steps[1].output_digest


@step
def prepare(values: list[float]) -> np.ndarray:
    log_metric("prepared", len(values))
    return np.asarray(values)


@step
def divide(values: np.ndarray, by: int) -> np.ndarray:
    print("dividing by", by)
    return values / (1 / by)


@step
def total(values: np.ndarray) -> float:
    return float(values.sum())


@pipeline
def arithmetic(by: int = 0) -> dict[str, float]:
    values = prepare([1.0, 2.0, 3.0])
    return {"total": total(divide(values, by))}


def test_a_failing_step_stops_the_run_with_a_one_line_error(runs: Runs) -> None:
    with pytest.raises(StepFailedError) as caught:
        runs.run(arithmetic, params={"by": 0})

    error = caught.value
    assert str(error) == "step 'divide' failed: ZeroDivisionError: division by zero"
    assert (error.code, error.exit_code) == ("step_failed", 11)
    assert error.details["step"] == "divide"
    assert "return values / (1 / by)" in error.details["traceback"]
    assert [(r.name, r.status) for r in runs.records] == [
        ("prepare", "succeeded"),
        ("divide", "failed"),
    ]
    failed = runs.records[1]
    assert failed.output_digest is None
    assert failed.error is not None
    assert failed.error.startswith("Traceback")
    assert "ZeroDivisionError" in failed.error
    assert "pathtolive/pipelines/executor.py" not in failed.error  # starts in user code
    assert failed.logs == "dividing by 0\n"
    # What the first step logged reached the sink before the failure.
    assert [metric.key for metric in runs.sink.metrics] == ["prepared"]


def test_a_step_fixed_after_a_failure_reuses_what_succeeded(runs: Runs) -> None:
    with pytest.raises(StepFailedError):
        runs.run(arithmetic, params={"by": 0})
    outcome = runs.run(arithmetic, params={"by": 1})

    assert outcome.cached == ("prepare",)
    assert outcome.executed == ("divide", "total")
    assert outcome.metrics == {"prepared": 3.0, "total": 6.0}


@step
def make_function(n: int) -> Any:
    return lambda x: x * n


@pipeline
def returns_function() -> Any:
    return make_function(2)


def test_a_step_returning_something_unstorable_fails_clearly(runs: Runs) -> None:
    with pytest.raises(InvalidInputError) as caught:
        runs.run(returns_function)

    assert str(caught.value) == (
        "step 'make_function' returned a function, which pathtolive cannot store: return "
        "DataFrames, arrays, numbers, strings, dicts/lists/tuples of them, or a fitted model"
    )
    assert [(r.name, r.status) for r in runs.records] == [("make_function", "failed")]
    assert runs.records[0].error == str(caught.value)


def test_a_step_returning_an_open_file_fails_clearly(tmp_path: Path, runs: Runs) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    opened: list[Any] = []

    @step
    def open_notes(name: str) -> Any:
        opened.append(path.open())
        return opened[-1]

    @pipeline
    def notes() -> Any:
        return open_notes("notes")

    try:
        with pytest.raises(InvalidInputError, match=r"returned a _io\.TextIOWrapper, which"):
            runs.run(notes)
    finally:
        for handle in opened:
            handle.close()


def test_an_interrupt_goes_up_unchanged_and_marks_the_step_cancelled(runs: Runs) -> None:
    @step
    def wait() -> None:
        log_metric("before_interrupt", 1)
        raise KeyboardInterrupt

    @pipeline
    def interrupted() -> None:
        wait()

    with pytest.raises(KeyboardInterrupt):
        runs.run(interrupted)

    assert [(r.name, r.status) for r in runs.records] == [("wait", "cancelled")]
    assert [metric.key for metric in runs.sink.metrics] == ["before_interrupt"]


def test_an_error_outside_the_steps_is_a_run_failure(runs: Runs) -> None:
    @pipeline
    def miscalled() -> Any:
        return total()  # type: ignore[call-arg]

    with pytest.raises(RunFailedError) as caught:
        runs.run(miscalled)

    assert not isinstance(caught.value, StepFailedError)
    assert str(caught.value).startswith("pipeline 'miscalled' failed outside its steps: TypeError")
    assert caught.value.code == "run_failed"


def test_output_and_log_records_of_a_step_are_captured(runs: Runs) -> None:
    @step
    def chatty() -> int:
        print("to stdout")
        logging.getLogger("pipelines.chatty").warning("a warning for %s", "you")
        return 1

    @pipeline
    def talks() -> None:
        chatty()

    runs.run(talks)

    assert runs.records[0].logs == "to stdout\nWARNING pipelines.chatty: a warning for you\n"


def test_captured_output_keeps_only_the_end(runs: Runs) -> None:
    @step
    def verbose() -> int:
        for line in range(20_000):
            print(f"line {line:05d}")
        return 1

    @pipeline
    def floods() -> None:
        verbose()

    runs.run(floods)

    logs = runs.records[0].logs
    assert logs.startswith("[... ")
    assert logs.endswith("line 19999\n")
    assert len(logs) <= LOG_LIMIT + 100


def test_metrics_and_params_logged_by_steps_reach_the_sink_at_each_step_end(
    runs: Runs,
) -> None:
    flushed_before: list[int] = []

    @step
    def fit(rounds: int) -> list[float]:
        losses = [1.0 / (epoch + 1) for epoch in range(rounds)]
        for epoch, loss in enumerate(losses):
            log_metric("loss", loss, step=epoch)
        log_param("optimizer", "sgd")
        return losses

    @step
    def score(losses: list[float]) -> float:
        flushed_before.append(len(runs.sink.metrics))
        return losses[-1]

    @pipeline
    def trains(rounds: int = 3) -> dict[str, float]:
        return {"final_loss": score(fit(rounds))}

    outcome = runs.run(trains)

    assert flushed_before == [3]  # fit's metrics were in the sink before score ran
    assert [(m.key, m.value, m.step) for m in runs.sink.metrics] == [
        ("loss", 1.0, 0),
        ("loss", 0.5, 1),
        ("loss", 1.0 / 3, 2),
        ("final_loss", 1.0 / 3, None),
    ]
    assert runs.sink.params == {"optimizer": "sgd"}
    assert outcome.metrics == {"loss": 1.0 / 3, "final_loss": 1.0 / 3}


def test_steps_are_plain_calls_outside_a_run() -> None:
    assert total(np.array([1.0, 2.0])) == 3.0
    with pytest.raises(InvalidInputError, match=r"log_metric\(\) works only while"):
        prepare([1.0])
    with recording() as logged:
        prepare([1.0, 2.0])
    assert [(metric.key, metric.value) for metric in logged.metrics] == [("prepared", 2.0)]


def test_a_step_called_inside_a_step_is_part_of_it(runs: Runs) -> None:
    @step
    def outer(values: list[float]) -> float:
        return total(np.asarray(values)) * 2

    @pipeline
    def nested() -> float:
        return outer([1.0, 2.0])

    outcome = runs.run(nested)

    assert outcome.value == 6.0
    assert [record.name for record in outcome.steps] == ["outer"]


def test_values_built_by_the_pipeline_are_fingerprinted_by_content(runs: Runs) -> None:
    @step
    def count(frame: pd.DataFrame, weights: tuple[float, ...]) -> int:
        return len(frame) * len(weights)

    @pipeline
    def counts(rows: int = 3) -> int:
        return count(pd.DataFrame({"a": range(rows)}), (0.5, 0.5))

    first = runs.run(counts)
    again = runs.run(counts)
    other = runs.run(counts, params={"rows": 4})

    assert again.cached == ("count",)
    assert other.executed == ("count",)
    assert first.steps[0].params == {}
    assert set(first.steps[0].input_fingerprints) == {"frame", "weights"}
    assert first.graph.edges == ()


def test_a_step_with_the_cache_off_always_runs(runs: Runs) -> None:
    @step(name="fresh_rows", cache=False)
    def read_live_table() -> list[int]:
        return [1, 2, 3]

    @pipeline
    def live() -> list[int]:
        return read_live_table()

    runs.run(live)
    again = runs.run(live)

    assert again.executed == ("fresh_rows",)
    assert runs.cache.entries == {}


def test_the_call_must_match_the_pipeline(runs: Runs, cancer: Dataset, tmp_path: Path) -> None:
    risk = _risk(tmp_path)
    with pytest.raises(InvalidInputError, match="pipeline 'risk' reads data: give a dataset"):
        runs.run(risk, {})
    with pytest.raises(InvalidInputError, match="has no dataset input 'other'"):
        runs.run(risk, {"data": cancer, "other": cancer})
    with pytest.raises(InvalidInputError, match="has no param 'depth'"):
        runs.run(risk, {"data": cancer}, {"depth": 3})
