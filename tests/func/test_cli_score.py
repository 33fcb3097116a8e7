"""`pathtolive score`: a job scores every input row exactly once into a Parquet folder
committed by its manifest, is recorded and audited, logs its rows as role batch for the
monitor, and refuses a bad row naming its partition and row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.service.predictions import read_prediction_log, record_feedback_many
from pathtolive.service.scoring import MANIFEST
from tests.support.cli import Result, run_in_process
from tests.support.s3 import S3Server
from tests.support.serving import FEATURES, ServedWorkspace, cli_environ

pytestmark = pytest.mark.xdist_group("score")


def _cli(root: Path, *args: str | Path) -> Result:
    return run_in_process(args, cwd=root, environ=cli_environ())


def _input_folder(served: ServedWorkspace, folder: Path, rows: int = 240) -> pd.DataFrame:
    """``rows`` rows with an id column, split over two Parquet files and a CSV file."""
    frame = served.features(rows).assign(garage_id=[f"g{i:04d}" for i in range(rows)])
    folder.mkdir()
    third = rows // 3
    frame.iloc[:third].to_parquet(folder / "a.parquet", index=False)
    frame.iloc[third : 2 * third].to_parquet(folder / "b.parquet", index=False)
    frame.iloc[2 * third :].to_csv(folder / "c.csv", index=False)
    return frame


def test_a_job_scores_every_row_once_records_itself_and_feeds_the_monitor(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path
) -> None:
    served = served_workspace()
    config = served.root / "pathtolive.toml"
    config.write_text(config.read_text() + '\n[serve]\npii_columns = ["income"]\n')
    frame = _input_folder(served, tmp_path / "in")
    out = tmp_path / "out"
    done = _cli(
        served.root,
        "score",
        "risk@1",
        tmp_path / "in",
        "--out",
        out,
        "--id-column",
        "garage_id",
        "--job-id",
        "nightly-1",
        "--json",
    )
    assert done.code == 0, done.stderr
    report = done.json()
    assert (report["job_id"], report["status"], report["rows_out"]) == (
        "nightly-1",
        "succeeded",
        len(frame),
    )
    scores = pd.read_parquet(out)
    assert sorted(scores["garage_id"]) == sorted(frame["garage_id"])  # each row once
    expected = served.models[1].predict_proba(frame[list(FEATURES)])
    got = scores.set_index("garage_id").loc[frame["garage_id"], ["proba_0", "proba_1"]]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-9)
    assert set(scores["model_version"]) == {1}
    assert set(scores["job_id"].astype(str)) == {"nightly-1"}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["rows"] == len(frame)
    assert sum(part["rows"] for part in manifest["parts"]) == len(frame)
    assert not any(p.name.startswith("_tmp") for p in out.iterdir())

    # Lineage both ways: the jobs of model 1, and the model that scored this input.
    by_model = _cli(served.root, "score", "list", "--model", "risk@1", "--json").json()
    by_input = _cli(served.root, "score", "list", "--input", tmp_path / "in", "--json").json()
    assert [job["job_id"] for job in by_model] == ["nightly-1"]
    assert [job["model_ref"] for job in by_input] == ["risk@1"]
    lineage = _cli(served.root, "lineage", "risk@1", "--json").json()
    assert [c["label"] for c in lineage["children"] if c["kind"] == "batch-job"] == ["nightly-1"]
    shown = _cli(served.root, "score", "show", "nightly-1", "--json").json()
    assert shown["input_hash"] == by_input[0]["input_hash"]
    events = _cli(served.root, "audit", "log", "--json").json()
    actions = [event["action"] for event in events]
    assert "score.started" in actions
    assert "score.finished" in actions

    # The same job again finds it published and scores nothing twice.
    again = _cli(
        served.root,
        "score",
        "risk@1",
        tmp_path / "in",
        "--out",
        out,
        "--id-column",
        "garage_id",
        "--job-id",
        "nightly-1",
        "--json",
    )
    assert again.code == 0, again.stderr
    assert len(pd.read_parquet(out)) == len(frame)

    # The batch rows are in the prediction log, where the monitor reads them, and
    # feedback names a batch row by its id.
    labels = served.data["at_risk"].head(len(frame)).tolist()
    with Workspace.open(served.root) as ws:
        logged = read_prediction_log(ws.context, "risk", version=1)
        assert set(logged["role"]) == {"batch"}
        assert sorted(logged["request_id"]) == sorted(frame["garage_id"])
        hashed = logged.set_index("request_id").loc[frame["garage_id"], "input.income"]
        assert hashed.str.fullmatch(r"[0-9a-f]{16}").all()  # PII hashed as online
        record_feedback_many(ws.context, zip(frame["garage_id"], labels, strict=True), model="risk")
    seen = _cli(
        served.root,
        "monitor",
        "risk",
        "--version",
        "1",
        "--last",
        str(len(frame)),
        "--no-alerts",
        "--json",
    )
    assert seen.code == 0, seen.stderr
    report = seen.json()
    assert report["window"]["rows"] == len(frame)
    assert report["decay"]["labelled"] == len(frame)


def test_a_bad_row_stops_the_job_naming_it_and_a_rerun_finishes_the_rest(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path
) -> None:
    served = served_workspace()
    frame = served.features(40).assign(garage_id=[f"g{i}" for i in range(40)])
    folder = tmp_path / "in"
    folder.mkdir()
    frame.iloc[:20].to_parquet(folder / "a.parquet", index=False)
    bad = frame.iloc[20:].reset_index(drop=True)
    bad["region"] = bad["region"].astype(object)
    bad.loc[17, "region"] = "Atlantis"
    bad.to_parquet(folder / "b.parquet", index=False)
    out = tmp_path / "out"
    args = ("score", "risk", folder, "--out", out, "--id-column", "garage_id")
    failed = _cli(served.root, *args, "--job-id", "bad-1")
    assert failed.code == 4, failed.stderr  # invalid_input
    assert "partition 1 (b.parquet), row 17" in failed.stderr
    assert "Atlantis" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (out / MANIFEST).exists()
    shown = _cli(served.root, "score", "show", "bad-1", "--json").json()
    assert shown["status"] == "failed"
    assert "row 17" in shown["error"]

    # Fixed, the same job skips the partition it had finished and scores the rest.
    frame.iloc[20:].to_parquet(folder / "b.parquet", index=False)
    rerun = _cli(served.root, *args, "--job-id", "bad-1", "--json")
    assert rerun.code == 0, rerun.stderr
    assert (rerun.json()["skipped"], rerun.json()["status"]) == (1, "succeeded")
    assert sorted(pd.read_parquet(out)["garage_id"]) == sorted(frame["garage_id"])


def test_a_job_reads_and_writes_s3_prefixes(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path, s3_server: S3Server
) -> None:
    served = served_workspace()
    frame = served.features(30).assign(garage_id=[f"g{i}" for i in range(30)])
    # The server lives as long as the test process: prefixes of this test's own.
    source, target = f"score-in-{uuid.uuid4().hex[:8]}", f"score-out-{uuid.uuid4().hex[:8]}"
    for name, rows in (("a", frame.iloc[:15]), ("b", frame.iloc[15:])):
        path = tmp_path / f"{name}.parquet"
        rows.to_parquet(path, index=False)
        s3_server.client.upload_file(str(path), s3_server.bucket, f"{source}/{name}.parquet")
    # The workspace keeps its own store; only the data is on S3.
    done = run_in_process(
        [
            "score",
            "risk",
            s3_server.url(source),
            "--out",
            s3_server.url(target),
            "--id-column",
            "garage_id",
            "--json",
        ],
        cwd=served.root,
        environ=cli_environ(**s3_server.environ()),
    )
    assert done.code == 0, done.stderr
    assert done.json()["rows_out"] == len(frame)
    keys = s3_server.keys(f"{target}/")
    assert f"{target}/{MANIFEST}" in keys
    assert not [key for key in keys if "_tmp-" in key]
    assert len([key for key in keys if key.endswith(".parquet")]) == 2


def test_a_dataset_version_is_scored_and_its_lineage_shows_the_job(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path
) -> None:
    served = served_workspace()
    done = _cli(served.root, "score", "risk@2", "risk-data@1", "--out", tmp_path / "o", "--json")
    assert done.code == 0, done.stderr
    job = done.json()
    assert (job["input_ref"], job["rows_out"]) == ("risk-data@1", len(served.data))
    scores = pd.read_parquet(tmp_path / "o")
    # Without ids a row is named by its partition and its place in it: each row once.
    assert not scores.duplicated(["partition", "row"]).any()
    assert len(scores) == len(served.data)
    assert set(scores["model_version"]) == {2}
    lineage = _cli(served.root, "lineage", "risk-data@1", "--reverse", "--json").json()
    jobs = [c for c in lineage["children"] if c["kind"] == "batch-job"]
    assert [c["label"] for c in jobs] == [job["job_id"]]
    assert jobs[0]["attributes"]["model"] == "risk@2"
    with Workspace.open(served.root) as ws:  # the notebook API says the same
        assert [j.job_id for j in ws.batch_jobs(source="risk-data@1")] == [job["job_id"]]
        again = ws.score("risk@2", "risk-data@1", tmp_path / "o", job_id=job["job_id"])
    assert (again.job.rows_out, again.skipped) == (len(served.data), again.parts)


def test_a_partitioned_dataset_version_is_scored_partition_by_partition(
    served_workspace: Callable[..., ServedWorkspace], tmp_path: Path
) -> None:
    served = served_workspace()
    folder = tmp_path / "garages"
    folder.mkdir()
    frame = served.data.reset_index(drop=True)
    for index, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{index}.parquet", index=False)
    added = _cli(served.root, "data", "add", folder, "--name", "garages", "--json")
    assert added.code == 0, added.stderr
    done = _cli(served.root, "score", "risk@2", "garages@1", "--out", tmp_path / "o", "--json")
    assert done.code == 0, done.stderr
    job = done.json()
    assert (job["input_ref"], job["rows_out"]) == ("garages@1", len(frame))
    scores = pd.read_parquet(tmp_path / "o")
    # One output partition per stored partition, each of its rows once.
    assert sorted(scores["partition"].unique()) == [0, 1, 2]
    assert not scores.duplicated(["partition", "row"]).any()
    assert len(scores) == len(frame)
