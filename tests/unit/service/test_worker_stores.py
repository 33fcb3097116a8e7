"""What a Dask worker gets to open the workspace's artifact store: the store's URL, its
encryption settings and the store's own environment variables, nothing else."""

from __future__ import annotations

import pickle
from pathlib import Path

from pathtolive import env
from pathtolive.config import Settings
from pathtolive.service.worker_stores import WorkerStoreOpener


def test_a_worker_gets_the_store_and_its_credentials_but_not_the_database_or_token(
    tmp_path: Path,
) -> None:
    settings = Settings(
        root=tmp_path,
        metadata_url="postgresql+psycopg://ml:secret@db/pathtolive",
        artifact_url="store",
        document={"security": {"encrypt": True, "key_file": "keys/kek"}},
        environ={
            "AWS_SECRET_ACCESS_KEY": "s3-secret",
            env.S3_ENDPOINT_URL: "http://127.0.0.1:9000",
            env.KEK: "a2V5",
            env.TOKEN: "ptl_token",
            env.METADATA_URL: "postgresql+psycopg://ml:secret@db/pathtolive",
            "HOME": "/home/ada",
        },
    )
    opener = WorkerStoreOpener.for_settings(settings)
    travelled = pickle.loads(pickle.dumps(opener))

    assert travelled == opener
    assert travelled.artifact_url == str(tmp_path / "store")  # the same folder, from anywhere
    assert dict(travelled.security) == {"encrypt": True, "key_file": str(tmp_path / "keys/kek")}
    assert dict(travelled.environ) == {
        "AWS_SECRET_ACCESS_KEY": "s3-secret",
        env.S3_ENDPOINT_URL: "http://127.0.0.1:9000",
        env.KEK: "a2V5",
    }
    assert "secret" not in repr(opener)
    remote = Settings(root=tmp_path, metadata_url="", artifact_url="s3://bucket/prefix")
    assert WorkerStoreOpener.for_settings(remote).artifact_url == "s3://bucket/prefix"


def test_a_worker_opens_the_store_and_reads_what_was_stored(tmp_path: Path) -> None:
    (tmp_path / "pathtolive.toml").write_text("")
    settings = Settings(root=tmp_path, metadata_url="", artifact_url=".pathtolive")
    opener = WorkerStoreOpener.for_settings(settings)
    digest = opener.open().put_bytes(b"rows").digest

    assert pickle.loads(pickle.dumps(opener)).open().get_bytes(digest) == b"rows"
    assert opener.open() is opener.open()  # once per process
