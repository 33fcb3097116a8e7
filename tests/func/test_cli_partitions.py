"""`data add` of a folder of Parquet partitions, here and on a multi-process Dask
cluster: stored as its partitions plus a manifest, the same version either way, a profile
equal to the single file's (mean and standard deviation to 1e-9 relative, all else
exactly), read back in order, and validated partition by partition."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from pathtolive import Workspace, env
from pathtolive.data.partitions import ManifestEntry, partitioned_digest
from pathtolive.hashing import hash_file
from tests.func.conftest import CLI
from tests.support.pipelines import write_pipelines
from tests.unit.data.test_data_partitions import assert_equal_profiles

_BOUNDS = (0, 150, 151, 442)
_COUNTED = """
from pathtolive import Dataset, pipeline, step


@step
def count(data: Dataset) -> dict:
    return {"rows": float(len(data.df)), "first_age": float(data.df["age"].iloc[0])}


@pipeline
def counted(data: Dataset):
    return count(data)
"""


def _write_parts(frame: pd.DataFrame, folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for number, (start, stop) in enumerate(itertools.pairwise(_BOUNDS)):
        path = folder / f"part-{number}.parquet"
        frame.iloc[start:stop].to_parquet(path, index=False)
        paths.append(path)
    return paths


@pytest.mark.subprocess
def test_a_partitioned_version_on_a_cluster(
    cli: CLI, workspace: Path, tmp_path: Path, dask_cluster: str
) -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["band"] = (frame["bmi"] > 26).map({True: "high", False: "low"})
    paths = _write_parts(frame, tmp_path / "parts")
    frame.to_parquet(tmp_path / "whole.parquet", index=False)

    added = cli(
        "data", "add", tmp_path / "parts", "--name", "diab", "--scheduler", dask_cluster, "--json"
    )
    assert added.code == 0, added.stderr
    version = added.json()["version"]
    assert version["rows"] == len(frame)
    assert version["source_format"] == "partitions"
    entries = [
        ManifestEntry(hash_file(p), n, p.stat().st_size)
        for p, n in zip(paths, (150, 1, 291), strict=True)
    ]
    assert version["content_hash"] == partitioned_digest(entries)

    # The same partitions profiled here are the same version.
    again = cli("data", "add", tmp_path / "parts", "--name", "diab", "--json")
    assert again.code == 0, again.stderr
    assert again.json()["created"] is False

    whole = cli("data", "add", tmp_path / "whole.parquet", "--name", "whole", "--json")
    assert whole.code == 0, whole.stderr
    shown = {ref: cli("data", "show", ref, "--json").json() for ref in ("diab@1", "whole@1")}
    assert_equal_profiles(shown["whole@1"]["profile"], shown["diab@1"]["profile"])

    exported = cli("data", "export", "diab@1", tmp_path / "out.parquet")
    assert exported.code == 0, exported.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), frame)
    with Workspace.open(workspace, environ={env.USER: "ada"}) as ws:
        pd.testing.assert_frame_equal(ws.load("diab@1", ["age", "band"]), frame[["age", "band"]])

    # A pipeline's data.df is the partitions concatenated in order.
    write_pipelines(workspace, counted=_COUNTED)
    run = cli("run", "counted", "--data", "diab@1", "--json")
    assert run.code == 0, run.stderr
    metrics = run.json()["run"]["outputs"]["metrics"]
    assert metrics == {"rows": float(len(frame)), "first_age": float(frame["age"].iloc[0])}

    # A partition that breaks the contract is refused, named, and nothing is stored.
    bad = frame.iloc[:20].copy()
    bad["age"] = bad["age"].mask(bad.index < 3)
    broken = tmp_path / "broken"
    _write_parts(frame, broken)
    bad.to_parquet(broken / "part-9.parquet", index=False)
    refused = cli("data", "add", broken, "--name", "diab", "--scheduler", dask_cluster)
    assert refused.code != 0
    assert "part-9.parquet: column 'age'" in refused.stderr
    assert cli("data", "show", "diab@2").code != 0

    # Erasing the version removes its partitions with its manifest.
    objects = workspace / ".pathtolive" / "objects"
    assert all((objects / entry.digest[:2] / entry.digest[2:]).exists() for entry in entries)
    forgot = cli("data", "forget", "diab@1", "--reason", "erasure request 7")
    assert forgot.code == 0, forgot.stderr
    for entry in entries:
        assert not (objects / entry.digest[:2] / entry.digest[2:]).exists()
    assert list(objects.rglob("*"))  # whole@1's object stays
