"""A workspace whose artifacts live on S3: moto's emulator, then SeaweedFS's object store,
each on loopback."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import Workspace, env
from tests.support.s3 import S3Server

from .conftest import CLI

pytestmark = pytest.mark.s3


def test_data_versions_on_s3(cli: CLI, tmp_path: Path, s3_server: S3Server) -> None:
    prefix = f"ws-{uuid.uuid4().hex[:8]}"
    s3_env = s3_server.workspace_environ(prefix)
    assert cli("init", extra_env=s3_env).code == 0
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "cancer.csv", index=False)

    added = cli(
        "data",
        "add",
        tmp_path / "cancer.csv",
        "--name",
        "cancer",
        "--tag",
        "target=target",
        "--json",
        extra_env=s3_env,
    )
    assert added.code == 0, added.stderr
    digest = added.json()["version"]["content_hash"]
    assert s3_server.keys(f"{prefix}/objects/") == [f"{prefix}/objects/{digest[:2]}/{digest[2:]}"]
    assert s3_server.keys(f"{prefix}/tmp/") == []
    assert not (tmp_path / "ws" / ".pathtolive" / "objects").exists()

    exported = cli("data", "export", "cancer@1", tmp_path / "back.parquet", extra_env=s3_env)
    assert exported.code == 0, exported.stderr
    back = pd.read_parquet(tmp_path / "back.parquet")
    assert back.shape == frame.shape
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)

    # Damage the object on S3 itself: a later read refuses it.
    s3_server.put(f"{prefix}/objects/{digest[:2]}/{digest[2:]}", b"garbage")
    for cached in (tmp_path / "ws" / ".pathtolive" / "cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    refused = cli("data", "export", "cancer@1", tmp_path / "again.parquet", extra_env=s3_env)
    assert refused.code == 9
    assert "corrupt" in refused.stderr


def test_forgetting_a_version_on_s3_deletes_the_object_and_the_cached_copy(
    cli: CLI, tmp_path: Path, s3_server: S3Server
) -> None:
    prefix = f"ws-{uuid.uuid4().hex[:8]}"
    s3_env = s3_server.workspace_environ(prefix)
    assert cli("init", extra_env=s3_env).code == 0
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    added = cli("data", "add", tmp_path / "cancer.csv", "--name", "cancer", extra_env=s3_env)
    assert added.code == 0, added.stderr
    # A load leaves a verified copy in this machine's cache.
    with Workspace.open(tmp_path / "ws", environ={**s3_env, env.USER: "ada"}) as ws:
        assert len(ws.load("cancer@1")) == 569
    cache = tmp_path / "ws" / ".pathtolive" / "cache"
    assert [p for p in cache.rglob("*") if p.is_file()]

    forgot = cli("data", "forget", "cancer@1", "--reason", "request", extra_env=s3_env)
    assert forgot.code == 0, forgot.stderr
    assert s3_server.keys(f"{prefix}/objects/") == []
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    refused = cli("data", "export", "cancer@1", tmp_path / "y.parquet", extra_env=s3_env)
    assert refused.code == 3
    assert "erased" in refused.stderr


@pytest.mark.postgres
def test_gc_on_s3_and_postgresql_removes_only_orphans(
    cli: CLI, tmp_path: Path, s3_server: S3Server, postgres_url: str
) -> None:
    prefix = f"ws-{uuid.uuid4().hex[:8]}"
    s3_env = {**s3_server.workspace_environ(prefix), env.METADATA_URL: postgres_url}
    assert cli("init", "--local-role", "admin", extra_env=s3_env).code == 0
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[:2].to_csv(tmp_path / "b.csv", index=False)
    for name in ("a.csv", "b.csv"):
        added = cli("data", "add", tmp_path / name, "--name", "loans", extra_env=s3_env)
        assert added.code == 0, added.stderr
    orphan = f"{prefix}/objects/ab/{'c' * 62}"  # an object no row names (a crashed add's)
    s3_server.put(orphan, b"orphan")

    collected = cli("gc", "--grace", "0", "--json", extra_env=s3_env)

    assert collected.code == 0, collected.stderr
    assert collected.json()["removed_digests"] == ["ab" + "c" * 62]
    assert orphan not in s3_server.keys(f"{prefix}/objects/")
    assert len(s3_server.keys(f"{prefix}/objects/")) == 2
    for version, rows in ((1, 4), (2, 2)):
        out = tmp_path / f"v{version}.parquet"
        exported = cli("data", "export", f"loans@{version}", out, extra_env=s3_env)
        assert exported.code == 0, exported.stderr
        assert len(pd.read_parquet(out)) == rows
