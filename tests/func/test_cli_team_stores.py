"""The path to live on the stores a team shares: metadata in PostgreSQL, artifacts in a
real S3 object store (SeaweedFS's gateway), driven through the CLI from ``init`` to
``promote``, with the audit chain anchored by a checkpoint record in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from tests.support.pipelines import RISK, write_pipelines
from tests.support.s3 import S3Server

from .conftest import CLI
from .test_cli_promotion import configure

pytestmark = [pytest.mark.s3, pytest.mark.seaweedfs, pytest.mark.postgres]


def test_init_to_promote_on_postgresql_and_seaweedfs(
    cli: CLI, tmp_path: Path, seaweed_s3: S3Server, seaweed_postgres_environ: dict[str, str]
) -> None:
    team = seaweed_postgres_environ
    prefix = team[env.ARTIFACT_URL].removeprefix(f"s3://{seaweed_s3.bucket}/")
    workspace = tmp_path / "ws"
    assert cli("init", "--local-role", "admin", extra_env=team).code == 0
    configure(workspace, policy="auto")
    made = cli("audit", "keygen", "--out", tmp_path / "keys" / "audit.key", extra_env=team)
    assert made.code == 0, made.stderr
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)

    added = cli(
        "data", "add", tmp_path / "cancer.csv", "--name", "cancer", "--tag", "target=target",
        "--json", extra_env=team,
    )  # fmt: skip
    assert added.code == 0, added.stderr
    data_digest = added.json()["version"]["content_hash"]
    write_pipelines(workspace, risk=RISK)
    ran = cli(
        "run", "risk", "--data", "cancer@1", "--param", "n_estimators=10",
        "--register", "risk-model", "--json", extra_env=team,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    checked = cli("gates", "check", "risk-model@1", "--json", extra_env=team)
    assert checked.code == 0, checked.stdout + checked.stderr
    assert checked.json()["passed"] is True
    promoted = cli("promote", "risk-model@1", "--to", "live", "--json", extra_env=team)
    assert promoted.code == 0, promoted.stderr
    assert promoted.json()["applied"] is True
    anchored = cli("audit", "checkpoint", "--json", extra_env=team)
    assert anchored.code == 0, anchored.stderr

    aliases = cli("alias", "list", "--json", extra_env=team).json()
    assert [(a["model"], a["alias"], a["version"]) for a in aliases] == [("risk-model", "live", 1)]
    verified = cli("audit", "verify", extra_env=team)
    assert verified.code == 0, verified.stdout + verified.stderr
    # Every byte went to the bucket, every row to PostgreSQL: nothing stored locally.
    objects = seaweed_s3.keys(f"{prefix}/objects/")
    assert f"{prefix}/objects/{data_digest[:2]}/{data_digest[2:]}" in objects
    assert len(objects) > 1  # the model and the run's other artifacts beside the data
    assert seaweed_s3.keys(f"{prefix}/tmp/") == []
    assert [key for key in seaweed_s3.keys(prefix) if "/checkpoints/" in key]
    local = workspace / ".pathtolive"
    assert not (local / "objects").exists()
    assert not list(local.glob("*.db"))
