"""`pathtolive score` on a real multi-process Dask cluster: partitions are scored on the
workers, and a worker process killed mid-job has its partition retried, every input row
landing exactly once in the output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.service.scoring import score
from tests.support.cluster import local_cluster
from tests.support.serving import ServedWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("score-cluster")]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    pytest.importorskip("distributed")
    with local_cluster(2) as address:
        yield address


def _files(served: ServedWorkspace, folder: Path, files: int = 4, rows: int = 50) -> pd.DataFrame:
    frame = served.features(files * rows).assign(
        garage_id=[f"g{i:04d}" for i in range(files * rows)]
    )
    folder.mkdir()
    for n in range(files):
        frame.iloc[n * rows : (n + 1) * rows].to_parquet(folder / f"{n}.parquet", index=False)
    return frame


def test_partitions_are_scored_on_the_workers_exactly_once_despite_a_killed_worker(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path, scheduler: str
) -> None:
    served = served_workspace()
    frame = _files(served, tmp_path / "in")
    marker = tmp_path / "kill-once"
    marker.touch()  # the first partition to start kills its worker process
    with Workspace.open(served.root) as ws:
        result = score(
            ws.context,
            "risk@1",
            str(tmp_path / "in"),
            str(tmp_path / "out"),
            id_columns=["garage_id"],
            scheduler=scheduler,
            job_id="cluster-1",
            fail_once_marker=str(marker),
        )
    assert not marker.exists()  # a worker did die
    assert (result.job.status, result.job.rows_out, result.parts) == ("succeeded", 200, 4)
    scores = pd.read_parquet(tmp_path / "out")
    assert scores["garage_id"].is_unique
    assert sorted(scores["garage_id"]) == sorted(frame["garage_id"])


def test_an_unreachable_scheduler_is_a_clear_error(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path
) -> None:
    from tests.support.cli import run_in_process
    from tests.support.serving import cli_environ, free_port

    served = served_workspace()
    _files(served, tmp_path / "in", files=1, rows=5)
    failed = run_in_process(
        [
            "score",
            "risk",
            tmp_path / "in",
            "--out",
            tmp_path / "out",
            "--scheduler",
            f"tcp://127.0.0.1:{free_port()}",
        ],
        cwd=served.root,
        environ=cli_environ(),
    )
    assert failed.code == 12, failed.stderr
    assert "did not answer" in failed.stderr
    assert "Traceback" not in failed.stderr
