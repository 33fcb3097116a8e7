"""Encryption at rest end to end: datasets, models, serving and its prediction log, all
stored encrypted, read back with the key, refused (with one clear line) without it."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace, env
from pathtolive.service.predictions import read_prediction_log
from pathtolive.store.artifacts.keyring import key_id_of
from tests.support.s3 import S3Server
from tests.support.serving import (
    FEATURES,
    cli_environ,
    risk_frame,
    risk_pipeline,
    serving_in_thread,
)

from .conftest import CLI

SENTINEL = "SENTINEL-at-rest-91c2"
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def write_key(path: Path, text: str) -> None:
    """A key file only its owner reads, as the README asks."""
    path.write_text(text + "\n")
    path.chmod(0o600)


def secure(root: Path, key: bytes = OLD_KEY) -> None:
    """Encryption on, the key in a file of the workspace."""
    write_key(root / "kek", b64(key))
    with (root / "pathtolive.toml").open("a") as handle:
        handle.write('\n[security]\nencrypt = true\nkey_file = "kek"\n')


def sentinel_frame(rows: int = 200) -> pd.DataFrame:
    frame = risk_frame(rows)
    frame["note"] = [f"{SENTINEL}-{i}" for i in range(rows)]
    return frame


def stored_files(root: Path) -> list[Path]:
    """Every file the artifact store and the journal keep (the metadata database is not
    encrypted by this feature and holds no row values)."""
    state = root / ".pathtolive"
    folders = [state / "objects", state / "journal", state / "tmp"]
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def assert_no_plaintext(root: Path) -> None:
    files = stored_files(root)
    assert files
    leaking = [p for p in files if SENTINEL.encode() in p.read_bytes()]
    assert leaking == []


def test_datasets_models_and_the_prediction_log_round_trip_encrypted(tmp_path: Path) -> None:
    environ = cli_environ()
    root = tmp_path / "ws"
    Workspace.init(root, environ=environ).close()
    secure(root)
    data = sentinel_frame()
    features = data[list(FEATURES)]
    model = risk_pipeline(LogisticRegression(max_iter=500)).fit(features, data["at_risk"])
    with Workspace.open(root, environ=environ) as ws:
        ws.add_dataset(data, "loans")
        pd.testing.assert_frame_equal(ws.load("loans@1"), data, check_dtype=False)
        ws.register_model(model, name="risk", data="loans@1", sample=features.head(50))
        ws.set_alias("risk@1", "live", override="test setup")
        loaded = ws.load_model("risk@1")
        assert loaded.predict(features.head(5)) is not None
    assert_no_plaintext(root)

    request_id = f"{SENTINEL}-request"
    with serving_in_thread(root, environ=environ, log_flush_seconds=3600) as server:
        response = httpx.post(
            f"{server.url}/v1/models/risk:predict",
            json={"instances": features.head(3).to_dict(orient="records")},
            headers={"x-request-id": request_id},
        )
        assert response.status_code == 200, response.text
        journals = list((root / ".pathtolive" / "journal").glob("*.jsonl"))
        assert journals  # the request is in the (sealed) journal until the flush
        assert all(SENTINEL.encode() not in p.read_bytes() for p in journals)
    assert_no_plaintext(root)
    with Workspace.open(root, environ=environ) as ws:
        log = read_prediction_log(ws.context, "risk")
    assert log["request_id"].tolist() == [request_id] * 3  # one row per instance


def test_without_the_right_key_a_read_is_one_clear_line(
    cli: CLI, tmp_path: Path, workspace: Path
) -> None:
    secure(workspace)
    sentinel_frame(50).to_csv(tmp_path / "loans.csv", index=False)
    assert cli("data", "add", tmp_path / "loans.csv", "--name", "loans").code == 0
    write_key(workspace / "kek", b64(NEW_KEY))

    wrong = cli("data", "export", "loans@1", tmp_path / "out.parquet")

    assert wrong.code == 8
    assert key_id_of(OLD_KEY).hex() in wrong.stderr
    assert "PATHTOLIVE_KEK" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.parquet").exists()

    (workspace / "kek").unlink()
    missing = cli("data", "export", "loans@1", tmp_path / "out.parquet")
    assert missing.code == 8
    assert "kek" in missing.stderr
    assert "Traceback" not in missing.stderr
    server = cli("serve", "--port", "9")  # refused before it would listen
    assert server.code == 8
    assert "serving on" not in server.stderr
    assert "kek" in server.stderr

    # Encryption switched off with no key at all: the object is named as encrypted.
    toml = workspace / "pathtolive.toml"
    toml.write_text(toml.read_text().replace("encrypt = true", "encrypt = false"))
    toml.write_text(toml.read_text().replace('key_file = "kek"\n', ""))
    off = cli("data", "export", "loans@1", tmp_path / "out.parquet")
    assert off.code == 8
    assert "encrypted at rest" in off.stderr


def test_rotation_rewraps_then_the_new_key_alone_reads(
    cli: CLI, tmp_path: Path, workspace: Path
) -> None:
    secure(workspace)
    data = sentinel_frame(50)
    data.to_csv(tmp_path / "loans.csv", index=False)
    assert cli("data", "add", tmp_path / "loans.csv", "--name", "loans").code == 0
    write_key(workspace / "kek", f"{b64(NEW_KEY)}\n{b64(OLD_KEY)}")
    viewer_token = cli("tokens", "create", "--user", "vic", "--role", "viewer", "--json")
    assert viewer_token.code == 0, viewer_token.stderr
    secret = viewer_token.json()["secret"]

    refused = cli("security", "rotate-key", extra_env={env.TOKEN: secret})
    assert refused.code == 7

    rotated = cli("security", "rotate-key", "--json")
    assert rotated.code == 0, rotated.stderr
    report = rotated.json()
    assert report["rewrapped"] >= 1
    assert report["key_id"] == key_id_of(NEW_KEY).hex()
    again = cli("security", "rotate-key", "--json").json()
    assert (again["rewrapped"], again["current"]) == (0, report["rewrapped"])

    write_key(workspace / "kek", b64(NEW_KEY))  # the old key is gone
    keys = cli("security", "keys", "--json").json()
    assert set(keys["objects"]) == {key_id_of(NEW_KEY).hex()}
    exported = cli("data", "export", "loans@1", tmp_path / "back.parquet")
    assert exported.code == 0, exported.stderr
    back = pd.read_parquet(tmp_path / "back.parquet")
    assert back["note"].tolist() == data["note"].tolist()
    audit = cli("audit", "log", "--action", "security.", "--json").json()
    assert [event["action"] for event in audit] == ["security.key_rotated"] * 2
    assert_no_plaintext(workspace)


def test_the_key_can_come_from_a_command(cli: CLI, tmp_path: Path, workspace: Path) -> None:
    key_file = tmp_path / "secret-manager"
    key_file.write_text(b64(OLD_KEY))
    with (workspace / "pathtolive.toml").open("a") as handle:
        handle.write(f'\n[security]\nencrypt = true\nkey_command = "cat {key_file}"\n')
    sentinel_frame(20).to_csv(tmp_path / "loans.csv", index=False)
    assert cli("data", "add", tmp_path / "loans.csv", "--name", "loans").code == 0
    assert cli("data", "export", "loans@1", tmp_path / "b.parquet").code == 0
    assert_no_plaintext(workspace)


@pytest.mark.s3
def test_on_s3_objects_are_encrypted_client_side_and_server_side(
    cli: CLI, tmp_path: Path, s3_server: S3Server
) -> None:
    prefix = f"enc-{uuid.uuid4().hex[:8]}"
    s3_env = {**s3_server.workspace_environ(prefix), env.KEK: b64(OLD_KEY)}
    assert cli("init", extra_env=s3_env).code == 0
    with (tmp_path / "ws" / "pathtolive.toml").open("a") as handle:
        handle.write('\n[security]\nencrypt = true\ns3_sse = "AES256"\n')
    data = sentinel_frame(80)
    data.to_csv(tmp_path / "loans.csv", index=False)
    added = cli(
        "data", "add", tmp_path / "loans.csv", "--name", "loans", "--json", extra_env=s3_env
    )
    assert added.code == 0, added.stderr
    digest = added.json()["version"]["content_hash"]
    key = f"{prefix}/objects/{digest[:2]}/{digest[2:]}"
    stored = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)
    assert stored["ServerSideEncryption"] == "AES256"
    body = stored["Body"].read()
    assert body.startswith(b"PTLENC")
    assert SENTINEL.encode() not in body

    rotated = cli(
        "security",
        "rotate-key",
        "--json",
        extra_env={**s3_env, env.KEK: f"{b64(NEW_KEY)},{b64(OLD_KEY)}"},
    )
    assert rotated.code == 0, rotated.stderr
    after = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)
    assert after["ServerSideEncryption"] == "AES256"
    assert after["Body"].read()[64:] == body[64:]  # the data was copied, not re-encrypted
    assert s3_server.keys(f"{prefix}/tmp/") == []

    exported = cli(
        "data",
        "export",
        "loans@1",
        tmp_path / "b.parquet",
        extra_env={**s3_env, env.KEK: b64(NEW_KEY)},
    )
    assert exported.code == 0, exported.stderr
    assert pd.read_parquet(tmp_path / "b.parquet")["note"].tolist() == data["note"].tolist()


def test_a_server_replays_the_sealed_journal_a_crashed_server_left(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from pathtolive.predlog import PredictionLogger, PredictionRecord
    from pathtolive.store.artifacts.keyring import Keyring

    environ = cli_environ()
    root = tmp_path / "ws"
    Workspace.init(root, environ=environ).close()
    secure(root)
    data = risk_frame(200)
    features = data[list(FEATURES)]
    model = risk_pipeline(LogisticRegression(max_iter=500)).fit(features, data["at_risk"])
    with Workspace.open(root, environ=environ) as ws:
        ws.add_dataset(data, "loans")
        ws.register_model(model, name="risk", data="loans@1", sample=features.head(50))
        ws.set_alias("risk@1", "live", override="test setup")

    class Down:
        def write(self, *_: object) -> None:
            raise OSError("the process is about to die")

    crashed = PredictionLogger(
        Down(),
        journal=root / ".pathtolive" / "journal",
        keyring=Keyring((OLD_KEY,)),
        seal_journal=True,
    )
    now = datetime.now(UTC)
    for i in range(4):
        crashed.log(
            PredictionRecord(
                f"{SENTINEL}-{i}",
                now,
                "risk",
                1,
                ("loans@1",),
                "v1",
                "live",
                1.0,
                features.iloc[[i]].reset_index(drop=True),
                [[0.5, 0.5]],
            )
        )
    crashed.close()  # what kill -9 leaves: the sealed journal, no segment
    assert_no_plaintext(root)

    with serving_in_thread(root, environ=environ):
        pass
    with Workspace.open(root, environ=environ) as ws:
        log = read_prediction_log(ws.context, "risk")
    assert sorted(log["request_id"]) == [f"{SENTINEL}-{i}" for i in range(4)]
    assert list((root / ".pathtolive" / "journal").glob("*.jsonl")) == []
    assert_no_plaintext(root)


def test_turning_encryption_on_later_then_encrypting_what_was_stored(
    cli: CLI, tmp_path: Path, workspace: Path
) -> None:
    data = sentinel_frame(40)
    data.to_csv(tmp_path / "loans.csv", index=False)
    assert cli("data", "add", tmp_path / "loans.csv", "--name", "loans").code == 0
    with pytest.raises(AssertionError):
        assert_no_plaintext(workspace)  # stored before encryption: plain
    secure(workspace)
    assert cli("data", "export", "loans@1", tmp_path / "a.parquet").code == 0  # still readable

    done = cli("security", "encrypt-existing", "--json")

    assert done.code == 0, done.stderr
    assert done.json()["encrypted"] >= 1
    assert_no_plaintext(workspace)
    assert cli("security", "encrypt-existing", "--json").json()["encrypted"] == 0
    back = cli("data", "export", "loans@1", tmp_path / "b.parquet")
    assert back.code == 0, back.stderr
    assert pd.read_parquet(tmp_path / "b.parquet")["note"].tolist() == data["note"].tolist()
    audit = cli("audit", "log", "--action", "security.", "--json").json()
    assert [event["action"] for event in audit] == ["security.objects_encrypted"]


def test_runs_and_gates_work_on_an_encrypted_workspace(
    cli: CLI, tmp_path: Path, workspace: Path
) -> None:
    from sklearn.datasets import load_breast_cancer

    from tests.support.pipelines import RISK, write_pipelines

    secure(workspace)
    load_breast_cancer(as_frame=True).frame.to_csv(tmp_path / "cancer.csv", index=False)
    added = cli(
        "data", "add", tmp_path / "cancer.csv", "--name", "cancer", "--tag", "target=target"
    )
    assert added.code == 0, added.stderr
    write_pipelines(workspace, risk=RISK.replace("n_jobs=1)", "n_jobs=1, max_depth=2)"))
    ran = cli(
        "run", "risk", "--data", "cancer@1", "--param", "n_estimators=5", "--register", "risk-model"
    )
    assert ran.code == 0, ran.stderr
    with (workspace / "pathtolive.toml").open("a") as handle:
        handle.write(
            '\n[models.risk-model]\nmetric = "roc_auc"\n'
            "[models.risk-model.gates]\nmin_metric = 0.5\np95_latency_ms = 5000\n"
        )
    checked = cli("gates", "check", "risk-model@1", "--json")  # loads it in a probe process
    assert checked.code == 0, checked.stderr
    assert checked.json()["passed"] is True
    objects = [p for p in (workspace / ".pathtolive" / "objects").rglob("*") if p.is_file()]
    assert len(objects) >= 3  # the data, the run's outputs, the model
    assert all(p.read_bytes().startswith(b"PTLENC") for p in objects)


def test_new_key_writes_a_private_file_and_never_prints_the_key(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "new.kek"

    made = cli("security", "new-key", path, "--json")

    assert made.code == 0, made.stderr
    key = path.read_text(encoding="ascii").strip()
    assert len(base64.b64decode(key, validate=True)) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert key not in made.stdout + made.stderr
    # A key file is never overwritten: the old key may still be the only one for some data.
    again = cli("security", "new-key", path)
    assert again.code == 6
    assert "never overwritten" in again.stderr
    assert path.read_text(encoding="ascii").strip() == key
