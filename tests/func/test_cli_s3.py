"""A workspace whose artifacts live on S3 (a real S3 API: moto's server on loopback)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from tests.support.moto import S3_BUCKET, MotoS3

from .conftest import CLI

pytestmark = pytest.mark.s3


def test_data_versions_on_s3(cli: CLI, tmp_path: Path, moto_s3: MotoS3) -> None:
    prefix = f"ws-{uuid.uuid4().hex[:8]}"
    s3_env = moto_s3.workspace_environ(prefix)
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
    assert moto_s3.keys(f"{prefix}/objects/") == [f"{prefix}/objects/{digest[:2]}/{digest[2:]}"]
    assert moto_s3.keys(f"{prefix}/tmp/") == []
    assert not (tmp_path / "ws" / ".pathtolive" / "objects").exists()

    exported = cli("data", "export", "cancer@1", tmp_path / "back.parquet", extra_env=s3_env)
    assert exported.code == 0, exported.stderr
    back = pd.read_parquet(tmp_path / "back.parquet")
    assert back.shape == frame.shape
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)

    # Damage the object on S3 itself: a later read refuses it.
    moto_s3.client.put_object(
        Bucket=S3_BUCKET, Key=f"{prefix}/objects/{digest[:2]}/{digest[2:]}", Body=b"garbage"
    )
    for cached in (tmp_path / "ws" / ".pathtolive" / "cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    refused = cli("data", "export", "cancer@1", tmp_path / "again.parquet", extra_env=s3_env)
    assert refused.code == 9
    assert "corrupt" in refused.stderr
