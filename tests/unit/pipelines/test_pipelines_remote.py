"""Steps that run elsewhere (``compute="dask"``): the executor's side, with the task run
as a worker runs it (pickled, the store opened afresh) in this process. The real cluster
is in tests/func/test_cluster_steps.py."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from pathtolive import config
from pathtolive.errors import ConfigError, InvalidInputError, StepFailedError
from pathtolive.pipelines import (
    Compute,
    Dataset,
    DatasetInput,
    StepRecord,
    StepReply,
    StepTask,
    StoredInput,
    log_metric,
    log_param,
    pipeline,
    step,
)
from pathtolive.store.artifacts.local import LocalArtifactStore
from tests.unit.pipelines.fakes import FolderOpener, InProcessRemote, Runs


@step
def prepare(data: Dataset) -> pd.DataFrame:
    return data.df


@step(compute="dask")
def fit(frame: pd.DataFrame, data: Dataset, depth: int = 3) -> Any:
    # data.ddf is read where the step runs, partition by partition.
    rows = int(data.ddf[data.target].count().compute())
    log_metric("rows", rows)
    log_param("criterion", "gini")
    print("fitting on", rows, "rows")
    logging.getLogger("fit").warning("depth %d", depth)
    features = frame.drop(columns=[data.target])
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(features, frame[data.target])


@step
def score(model: Any, frame: pd.DataFrame, target: str) -> dict[str, float]:
    return {"accuracy": float(model.score(frame.drop(columns=[target]), frame[target]))}


@pipeline
def fitted(data: Dataset, depth: int = 3) -> Any:
    frame = prepare(data)
    model = fit(frame, data, depth=depth)
    return model, score(model, frame, data.target)


def _runs(tmp_path: Path, name: str) -> tuple[Runs, InProcessRemote]:
    folder = tmp_path / name
    return Runs(store=LocalArtifactStore(folder)), InProcessRemote(FolderOpener(folder))


def _what_records_say(records: list[StepRecord]) -> list[tuple[Any, ...]]:
    """Everything but the times."""
    return [
        (
            r.name,
            r.cache_key,
            r.cached,
            r.status,
            dict(r.params),
            dict(r.input_fingerprints),
            r.output_digest,
            r.logs,
            r.error,
        )
        for r in records
    ]


def test_a_step_run_elsewhere_is_recorded_as_if_it_ran_here(
    tmp_path: Path, cancer: Dataset
) -> None:
    here, _ = _runs(tmp_path, "here")
    there, remote = _runs(tmp_path, "there")

    local = here.run(fitted, {"data": cancer})
    sent = there.run(fitted, {"data": cancer}, remote=remote)

    assert [task.step for task in remote.tasks] == ["fit"]
    assert _what_records_say(there.records) == _what_records_say(here.records)
    assert there.records[1].logs == "fitting on 569 rows\nWARNING fit: depth 3\n"
    assert sent.metrics == local.metrics
    assert sent.graph == local.graph
    logged = [(m.key, m.value, m.step) for m in there.sink.metrics]
    assert logged == [(m.key, m.value, m.step) for m in here.sink.metrics]
    assert ("rows", 569.0, None) in logged
    assert there.sink.params == here.sink.params == {"criterion": "gini"}
    # The inputs travelled by digest: the frame as the stored output of `prepare`, the
    # dataset as its identity and the digest of its Parquet bytes; the depth as it is.
    (task,) = remote.tasks
    frame_input, data_input, depth = task.args
    assert frame_input == StoredInput(there.records[0].output_digest or "")
    assert isinstance(data_input, DatasetInput)
    assert data_input.content_hash == cancer.content_hash
    assert depth == 3


def test_a_cached_step_is_not_sent_again(tmp_path: Path, cancer: Dataset) -> None:
    runs, remote = _runs(tmp_path, "store")
    runs.run(fitted, {"data": cancer}, remote=remote)
    again = runs.run(fitted, {"data": cancer}, remote=remote)
    changed = runs.run(fitted, {"data": cancer}, {"depth": 2}, remote=remote)

    assert again.cached == ("prepare", "fit", "score")
    assert changed.executed == ("fit", "score")
    assert [task.args[-1] for task in remote.tasks] == [3, 2]


@step
def explode(frame: pd.DataFrame) -> float:
    print("about to fail")
    return len(frame) / 0


@step
def unstorable(frame: pd.DataFrame) -> Any:
    return lambda row: row


@pipeline
def fails(data: Dataset) -> Any:
    return explode(prepare(data))


@pipeline
def returns_a_function(data: Dataset) -> Any:
    return unstorable(prepare(data))


@pytest.mark.parametrize(
    ("broken", "error"), [(fails, StepFailedError), (returns_a_function, InvalidInputError)]
)
def test_a_failure_elsewhere_is_the_failure_it_would_be_here(
    tmp_path: Path, cancer: Dataset, broken: Any, error: type[Exception]
) -> None:
    here, _ = _runs(tmp_path, "here")
    there, remote = _runs(tmp_path, "there")
    with pytest.raises(error) as locally:
        here.run(broken, {"data": cancer})
    # The pipeline's setting sends every step that does not say otherwise to Dask.
    with pytest.raises(error) as remotely:
        there.run(broken, {"data": cancer}, compute="dask", remote=remote)

    assert str(remotely.value) == str(locally.value)
    assert len(remote.tasks) == 2  # prepare and the broken step
    failed_here, failed_there = here.records[-1], there.records[-1]
    assert (failed_there.status, failed_there.logs) == (failed_here.status, failed_here.logs)
    assert failed_there.error is not None
    if error is StepFailedError:
        assert failed_there.logs == "about to fail\n"
        assert failed_there.error.startswith("Traceback")
        assert "return len(frame) / 0" in failed_there.error
        assert "pathtolive/pipelines/remote.py" not in failed_there.error  # user code first
        assert remotely.value.details["exception"] == "ZeroDivisionError"  # type: ignore[attr-defined]
    else:
        assert failed_there.error == failed_here.error


class _Interrupted:
    def run(self, task: StepTask) -> StepReply:
        raise KeyboardInterrupt


def test_an_interrupt_while_waiting_marks_the_step_cancelled(
    tmp_path: Path, cancer: Dataset
) -> None:
    runs, _ = _runs(tmp_path, "store")
    with pytest.raises(KeyboardInterrupt):
        runs.run(fitted, {"data": cancer}, remote=_Interrupted())
    assert [(r.name, r.status) for r in runs.records] == [
        ("prepare", "succeeded"),
        ("fit", "cancelled"),
    ]


def test_a_step_asking_for_dask_runs_here_without_a_cluster(
    tmp_path: Path, cancer: Dataset
) -> None:
    runs, _ = _runs(tmp_path, "store")
    outcome = runs.run(fitted, {"data": cancer}, compute="dask")
    assert outcome.executed == ("prepare", "fit", "score")


def test_where_a_step_runs_is_one_of_the_places_the_workspace_file_knows(tmp_path: Path) -> None:
    assert get_args(Compute) == config.COMPUTE_CHOICES
    with pytest.raises(InvalidInputError, match=r"compute='gpu' is not a place a step runs"):
        step(compute="gpu")(len)  # type: ignore[call-overload]
    (tmp_path / config.WORKSPACE_FILE).write_text('[pipelines.risk]\ncompute = "dsak"\n')
    with pytest.raises(ConfigError, match=r"pipelines\.risk\.compute = 'dsak'.*'dask'"):
        config.load_settings(tmp_path, environ={})
    (tmp_path / config.WORKSPACE_FILE).write_text('[pipelines.risk]\ncompute = "dask"\n')
    settings = config.load_settings(tmp_path, environ={})
    assert config.pipeline_compute(settings, "risk") == "dask"
    assert config.pipeline_compute(settings, "other") == "local"
