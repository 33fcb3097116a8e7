"""Batch scoring the way a team runs it: metadata in PostgreSQL, artifacts and data in a
real S3 object store (SeaweedFS's gateway), partitions scored on a multi-process Dask
cluster whose workers hold the bucket's credentials. A worker killed mid-job has its
partition retried, every input row lands exactly once in the output, and the job is
recorded in PostgreSQL; a pipeline step sent to the same cluster reads its dataset from the
bucket and is recorded in PostgreSQL as if it ran here."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace, env
from pathtolive.service.scoring import MANIFEST, score
from tests.support.cluster import local_cluster
from tests.support.pipelines import write_pipelines
from tests.support.s3 import S3Server
from tests.support.serving import FEATURES, risk_frame, risk_pipeline

from .conftest import CLI

pytestmark = [
    pytest.mark.slow,
    pytest.mark.s3,
    pytest.mark.seaweedfs,
    pytest.mark.postgres,
    pytest.mark.xdist_group("team-score-cluster"),
]


@pytest.fixture(scope="module")
def team_scheduler(seaweed_s3: S3Server, postgres_server: str) -> Iterator[str]:
    """A cluster of two worker processes started with the bucket's credentials and
    endpoint in their environment, as a team's workers would be (the test process passes
    its own to the workspace, not through its environment). Without PostgreSQL or
    SeaweedFS the tests skip before the cluster starts."""
    pytest.importorskip("distributed")
    with local_cluster(2, env=seaweed_s3.environ()) as address:
        yield address


def _team_workspace(root: Path, team: dict[str, str]) -> pd.DataFrame:
    """A workspace on the team's stores with ``risk-data@1`` and ``risk@1`` (a small
    logistic regression) in it; the features it was trained on."""
    data = risk_frame(200)
    features, label = data[list(FEATURES)], data["at_risk"]
    model = risk_pipeline(LogisticRegression(max_iter=300)).fit(features, label)
    with Workspace.init(root, environ=team, local_role="admin") as ws:
        ws.add_dataset(data, "risk-data")
        ws.register_model(model, name="risk", data="risk-data@1", sample=features.head(50))
    return features


def _upload(server: S3Server, prefix: str, frame: pd.DataFrame, files: int) -> None:
    rows = len(frame) // files
    for n in range(files):
        buffer = io.BytesIO()
        frame.iloc[n * rows : (n + 1) * rows].to_parquet(buffer, index=False)
        server.put(f"{prefix}/{n}.parquet", buffer.getvalue())


def _download(server: S3Server, prefix: str) -> pd.DataFrame:
    parts = [key for key in server.keys(f"{prefix}/") if key.endswith(".parquet")]
    return pd.concat(
        pd.read_parquet(
            io.BytesIO(server.client.get_object(Bucket=server.bucket, Key=key)["Body"].read())
        )
        for key in parts
    )


def test_a_team_scores_s3_on_the_cluster_exactly_once_despite_a_killed_worker(
    cli: CLI,
    tmp_path: Path,
    seaweed_s3: S3Server,
    seaweed_postgres_environ: dict[str, str],
    team_scheduler: str,
) -> None:
    team = seaweed_postgres_environ
    features = _team_workspace(tmp_path / "ws", team)

    run = uuid.uuid4().hex[:8]
    source, target = f"team-in-{run}", f"team-out-{run}"
    frame = features.assign(garage_id=[f"g{i:04d}" for i in range(len(features))])
    _upload(seaweed_s3, source, frame, files=4)
    marker = tmp_path / "kill-once"
    marker.touch()  # the first partition to start kills its worker process
    with Workspace.open(tmp_path / "ws", environ=team) as ws:
        result = score(
            ws.context,
            "risk@1",
            seaweed_s3.url(source),
            seaweed_s3.url(target),
            id_columns=["garage_id"],
            scheduler=team_scheduler,
            job_id=f"team-{run}",
            fail_once_marker=str(marker),
        )
    assert not marker.exists()  # a worker did die
    assert (result.job.status, result.job.rows_out, result.parts) == ("succeeded", 200, 4)

    keys = seaweed_s3.keys(f"{target}/")
    assert f"{target}/{MANIFEST}" in keys
    assert not [key for key in keys if "_tmp-" in key]
    scores = _download(seaweed_s3, target)
    assert scores["garage_id"].is_unique
    assert sorted(scores["garage_id"]) == sorted(frame["garage_id"])

    # The job is in PostgreSQL: the CLI finds it there, and the same job run again
    # through the CLI finds it published and scores nothing twice.
    assert team[env.METADATA_URL].startswith("postgresql")
    shown = cli("score", "show", f"team-{run}", "--json", extra_env=team)
    assert shown.code == 0, shown.stderr
    job = shown.json()
    assert (job["status"], job["model_ref"], job["rows_in"], job["rows_out"]) == (
        "succeeded", "risk@1", 200, 200,
    )  # fmt: skip
    assert job["output"] == seaweed_s3.url(target)
    again = cli(
        "score", "risk@1", seaweed_s3.url(source), "--out", seaweed_s3.url(target),
        "--id-column", "garage_id", "--job-id", f"team-{run}", "--scheduler", team_scheduler,
        "--json", extra_env=team,
    )  # fmt: skip
    assert again.code == 0, again.stderr
    assert (again.json()["status"], again.json()["skipped"]) == ("succeeded", 4)
    assert len([key for key in seaweed_s3.keys(f"{target}/") if key.endswith(".parquet")]) == 4
    assert not (tmp_path / "ws" / ".pathtolive" / "objects").exists()


STEPS = """
import os

from pathtolive import Dataset, log_metric, pipeline, step


@step(compute="dask")
def tally(data: Dataset, trace: str) -> int:
    with open(trace, "a") as handle:  # which process ran it
        handle.write(f"{os.getpid()}\\n")
    rows = int(data.ddf.map_partitions(len).sum().compute())  # read from the bucket
    log_metric("rows", rows)
    return rows


@pipeline
def count(data: Dataset, trace: str = ""):
    tally(data, trace)
"""


def test_a_team_pipeline_step_runs_on_the_cluster_and_is_recorded_in_postgresql(
    cli: CLI,
    tmp_path: Path,
    seaweed_s3: S3Server,
    seaweed_postgres_environ: dict[str, str],
    team_scheduler: str,
) -> None:
    team = seaweed_postgres_environ
    _team_workspace(tmp_path / "ws", team)
    write_pipelines(tmp_path / "ws", steps=STEPS)
    trace = tmp_path / "trace.txt"
    ran = cli(
        "run", "count", "--data", "risk-data@1", "--param", f"trace={trace}",
        "--scheduler", team_scheduler, "--json", extra_env=team,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert ran.json()["executed"] == ["tally"]
    assert int(trace.read_text()) != os.getpid()  # it ran in a worker process
    shown = cli("runs", "show", ran.json()["run"]["run_id"], "--json", extra_env=team)
    assert shown.code == 0, shown.stderr
    assert [(m["key"], m["value"]) for m in shown.json()["metrics"]] == [("rows", 200.0)]
    output = shown.json()["steps"][0]["output_digest"]
    prefix = team[env.ARTIFACT_URL].removeprefix(f"s3://{seaweed_s3.bucket}/")
    assert f"{prefix}/objects/{output[:2]}/{output[2:]}" in seaweed_s3.keys(f"{prefix}/objects/")
