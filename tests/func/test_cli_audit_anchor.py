"""The audit chain anchored outside the database by signed checkpoints.

Someone with write access to the metadata database (but not to the signing key) can
rewrite the chain so that it is internally consistent again: the hash function is public.
These tests play that attacker on SQLite and PostgreSQL, and check that ``audit verify``
finds each rewrite once a checkpoint signed with the workspace's key covers it; that a
corrupt row is a verification failure (exit 1) naming the row, never an internal error;
and that verify says exactly what it could prove.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pathtolive.audit import event_hash
from tests.func.conftest import WorkspaceTemplates
from tests.func.test_cli_promotion import build_models, configure
from tests.support.cli import Result, run_in_process

_VERIFY_FAILED = 1
_CONFIG_ERROR = 8


@dataclass
class Workspace:
    root: Path
    metadata_url: str
    run: Callable[..., Result]
    key: Path

    def sql(self, statement: str, **params: object) -> list[Any]:
        engine = sa.create_engine(self.metadata_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(sa.text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def events(self, n: int) -> None:
        """Append ``n`` audit events (a token each)."""
        for i in range(n):
            made = self.run("tokens", "create", "--user", f"u{i}", "--role", "viewer")
            assert made.code == 0, made.stderr

    def head(self) -> tuple[int, str]:
        row = self.sql("select last_seq, last_hash from audit_head where id = 1")[0]
        return int(str(row[0])), str(row[1])

    def checkpoint(self) -> dict[str, object]:
        made = self.run("audit", "checkpoint", "--json")
        assert made.code == 0, made.stderr
        body: dict[str, object] = made.json()
        return body

    def verify(self) -> Result:
        return self.run("audit", "verify")

    def verify_json(self) -> tuple[int, dict[str, object]]:
        result = self.run("audit", "verify", "--json")
        return result.code, json.loads(result.stdout)


SQLITE_ONLY = pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
"""For what the signing key decides, not the database: the key's file, its checks, the
records in the artifact store."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ws(request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str]) -> Workspace:
    """A new workspace (on SQLite or PostgreSQL) whose audit signing key is made, outside
    the workspace, but not yet checkpointed."""
    environ = dict(cli_env)
    root = tmp_path / "ws"
    root.mkdir()
    if request.param == "postgres":
        metadata_url = str(request.getfixturevalue("postgres_url"))
        environ["PATHTOLIVE_METADATA_URL"] = metadata_url
    else:
        metadata_url = f"sqlite:///{root / '.pathtolive' / 'meta.db'}"

    def run(*args: str | Path, extra_env: dict[str, str] | None = None) -> Result:
        return run_in_process(args, cwd=root, environ={**environ, **(extra_env or {})})

    assert run("init", "--local-role", "admin").code == 0
    key = tmp_path / "keys" / "audit.key"
    made = run("audit", "keygen", "--out", key)
    assert made.code == 0, made.stderr
    return Workspace(root, metadata_url, run, key)


def _truncate(ws: Workspace, keep: int) -> None:
    """Delete the events after ``keep`` and move the head back to event ``keep``."""
    (hash_,) = ws.sql("select hash from audit_events where seq = :seq", seq=keep)[0]
    ws.sql("delete from audit_events where seq > :seq", seq=keep)
    ws.sql("update audit_head set last_seq = :seq, last_hash = :h where id = 1", seq=keep, h=hash_)


def _rewrite(ws: Workspace, seq: int, actor: str) -> None:
    """Edit event ``seq`` and recompute its hash and every later one with the public
    ``event_hash``, then move the head to the new last hash: internally consistent."""
    rows = ws.sql(
        "select seq, time, actor, action, subject, details_json, prev_hash from audit_events "
        "order by seq"
    )
    prev = None
    for row in rows:
        number, time, old_actor, action, subject, details, prev_hash = row
        if int(str(number)) < seq:
            continue
        new_actor = actor if number == seq else old_actor
        link = prev if prev is not None else prev_hash
        digest = event_hash(
            seq=int(str(number)),
            time=str(time),
            actor=str(new_actor),
            action=str(action),
            subject=str(subject),
            details=json.loads(str(details)),
            prev_hash=str(link),
        )
        ws.sql(
            "update audit_events set actor = :a, prev_hash = :p, hash = :h where seq = :s",
            a=new_actor,
            p=link,
            h=digest,
            s=number,
        )
        prev = digest
        last = (number, digest)
    ws.sql("update audit_head set last_seq = :s, last_hash = :h where id = 1", s=last[0], h=last[1])


# -- the three rewrites of the chain ------------------------------------------------------


def test_deleting_the_newest_events_and_moving_the_head_back_is_found(ws: Workspace) -> None:
    ws.events(5)
    anchored = ws.checkpoint()
    seq = int(str(anchored["seq"]))
    _truncate(ws, seq - 3)
    # Internally the shortened chain is consistent: only the checkpoint can tell.
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stdout
    assert f"{seq - 2}-{seq}" in result.stdout
    assert "deleted" in result.stdout
    code, report = ws.verify_json()
    assert code == _VERIFY_FAILED
    assert report["ok"] is False
    assert report["first_bad_seq"] == seq - 2


def test_deleting_everything_and_resetting_the_head_is_found(ws: Workspace) -> None:
    ws.events(3)
    ws.checkpoint()
    ws.sql("delete from audit_events")
    ws.sql("update audit_head set last_seq = 0, last_hash = :h where id = 1", h="0" * 64)
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stdout
    assert "deleted" in result.stdout


def test_an_edit_with_every_later_hash_recomputed_is_found(ws: Workspace) -> None:
    ws.events(4)
    anchored = ws.checkpoint()
    seq = int(str(anchored["seq"]))
    ws.events(2)  # events after the checkpoint are chained on the forged hashes
    _rewrite(ws, 2, "mallory")
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stdout
    assert f"event {seq}" in result.stdout
    assert "checkpoint" in result.stdout
    code, report = ws.verify_json()
    assert code == _VERIFY_FAILED
    assert report["first_bad_seq"] == seq


def test_a_rewritten_chain_that_grew_past_the_checkpoint_is_found(ws: Workspace) -> None:
    ws.events(2)
    ws.checkpoint()
    # Everything deleted, and a new history written through pathtolive itself, longer
    # than the old one: the event at the checkpoint's number is another event now.
    ws.sql("delete from audit_events")
    ws.sql("update audit_head set last_seq = 0, last_hash = :h where id = 1", h="0" * 64)
    ws.events(6)
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stdout
    assert "checkpoint" in result.stdout


def test_a_rewrite_after_the_last_checkpoint_is_only_chained(ws: Workspace) -> None:
    """What a checkpoint cannot prove: events after it can be rewritten consistently. The
    report says so rather than claiming more."""
    ws.events(2)
    seq = int(str(ws.checkpoint()["seq"]))
    ws.events(3)
    _rewrite(ws, seq + 2, "mallory")
    code, report = ws.verify_json()
    assert code == 0
    assert report["anchored_seq"] == seq
    assert report["unanchored"] == 3
    assert "not anchored" in str(report["statement"])


# -- what verify says ---------------------------------------------------------------------


@SQLITE_ONLY
def test_verify_says_what_it_proves(ws: Workspace) -> None:
    ws.events(2)
    unanchored = ws.verify()
    assert unanchored.code == 0
    assert "no checkpoint" in unanchored.stdout
    assert "audit checkpoint" in unanchored.stdout

    made = ws.checkpoint()
    seq = int(str(made["seq"]))
    assert seq == ws.head()[0]
    ws.events(2)
    result = ws.verify()
    assert result.code == 0, result.stdout
    text = " ".join(result.stdout.split())
    assert f"verified {seq + 2} events" in text
    assert f"chain intact up to checkpoint seq {seq} signed at {made['time']}" in text
    assert f"events after {seq} (2) are only hash-chained, not anchored" in text
    code, report = ws.verify_json()
    assert code == 0
    assert report["ok"] is True
    assert report["checked"] == seq + 2
    assert report["anchored_seq"] == seq
    assert report["unanchored"] == 2


def test_without_a_key_only_internal_consistency_is_checked(
    cli: Callable[..., Result], workspace: Path
) -> None:
    result = cli("audit", "verify")
    assert result.code == 0
    assert "only internal consistency" in " ".join(result.stdout.split())
    report = cli("audit", "verify", "--json").json()
    assert report["ok"] is True
    assert report["anchored_seq"] is None


# -- corrupt rows are verification failures ------------------------------------------------


def test_a_missing_head_row_is_a_verification_failure(ws: Workspace) -> None:
    ws.events(1)
    ws.sql("delete from audit_head")
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stderr
    assert "audit_head" in result.stdout
    assert "Traceback" not in result.stderr


def test_invalid_json_in_an_event_is_a_verification_failure(ws: Workspace) -> None:
    ws.events(3)
    ws.sql("update audit_events set details_json = '{not json' where seq = 2")
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stderr
    assert "event 2" in result.stdout
    assert "JSON" in result.stdout
    code, report = ws.verify_json()
    assert code == _VERIFY_FAILED
    assert report["first_bad_seq"] == 2


def test_details_that_are_not_an_object_are_a_verification_failure(ws: Workspace) -> None:
    ws.events(2)
    ws.sql("update audit_events set details_json = '[1, 2]' where seq = 2")
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stderr
    assert "event 2" in result.stdout


# -- checkpoints and keys -------------------------------------------------------------------


def _checkpoints(ws: Workspace) -> list[Path]:
    return sorted((ws.root / ".pathtolive" / "checkpoints").glob("*.json"))


@SQLITE_ONLY
def test_keygen_writes_a_private_key_only_its_owner_reads(ws: Workspace) -> None:
    assert stat.S_IMODE(os.stat(ws.key).st_mode) == 0o600
    config = tomllib.loads((ws.root / "pathtolive.toml").read_text())
    assert config["audit"]["public_key"].startswith("ed25519:")
    assert Path(config["audit"]["signing_key"]) == ws.key
    # The private key is never in the workspace file.
    assert "PRIVATE" not in (ws.root / "pathtolive.toml").read_text()
    again = ws.run("audit", "keygen", "--out", ws.key.with_name("other.key"))
    assert again.code == 6
    assert "--force" in again.stderr
    assert not ws.key.with_name("other.key").exists()


@SQLITE_ONLY
def test_a_replaced_key_still_verifies_its_checkpoints_until_removed(ws: Workspace) -> None:
    ws.events(1)
    old = ws.checkpoint()
    rotated = ws.run("audit", "keygen", "--force", "--out", ws.key.with_name("new.key"), "--json")
    assert rotated.code == 0, rotated.stderr
    new = ws.checkpoint()
    assert new["key_id"] != old["key_id"]
    code, report = ws.verify_json()
    assert code == 0, report
    assert report["checkpoints"] == 2
    assert report["anchored_seq"] == new["seq"]
    # After a compromise the old key is struck out: what it signed is trusted no more.
    config = ws.root / "pathtolive.toml"
    lines = config.read_text().splitlines()
    config.write_text("\n".join(x for x in lines if "previous_public_keys" not in x) + "\n")
    result = ws.verify()
    assert result.code == _VERIFY_FAILED
    assert str(old["object"]).split("/")[-1] in result.stdout


@SQLITE_ONLY
def test_keygen_keeps_the_private_key_out_of_the_workspace(ws: Workspace) -> None:
    inside = ws.root / "keys" / "audit.key"
    refused = ws.run("audit", "keygen", "--force", "--out", inside)
    assert refused.code == _CONFIG_ERROR
    assert "outside" in refused.stderr
    assert not inside.exists()


@SQLITE_ONLY
def test_each_checkpoint_is_a_new_object(ws: Workspace) -> None:
    first = ws.checkpoint()
    ws.events(1)
    second = ws.checkpoint()
    third = ws.checkpoint()  # the same head again: still a new object, none replaced
    names = {str(first["object"]), str(second["object"]), str(third["object"])}
    assert len(names) == 3
    assert all(name.startswith("checkpoints/") for name in names)
    files = _checkpoints(ws)
    assert len(files) == 3
    assert all(not os.access(path, os.W_OK) or os.geteuid() == 0 for path in files)


@SQLITE_ONLY
def test_a_checkpoint_signed_with_another_key_is_refused(ws: Workspace) -> None:
    ws.events(2)
    genuine = ws.checkpoint()
    stored = json.loads((ws.root / ".pathtolive" / str(genuine["object"])).read_text())
    # Someone with bucket access but without the key signs a checkpoint with a key of
    # their own (of the true head even: the signature alone refuses it).
    seq, digest = ws.head()
    payload = dict(stored["payload"], seq=seq, hash=digest)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    signature = base64.b64encode(Ed25519PrivateKey.generate().sign(canonical)).decode()
    forged = ws.root / ".pathtolive" / "checkpoints" / f"{seq:020d}-99999999T999999Z-forged.json"
    forged.write_text(json.dumps({"payload": payload, "signature": signature}))
    result = ws.verify()
    assert result.code == _VERIFY_FAILED, result.stdout
    assert "forged.json" in result.stdout
    assert "signature" in result.stdout


def test_checkpoint_refuses_to_anchor_a_broken_chain(ws: Workspace) -> None:
    ws.events(3)
    ws.checkpoint()
    _truncate(ws, 2)
    refused = ws.run("audit", "checkpoint")
    assert refused.code == _VERIFY_FAILED
    assert "deleted" in refused.stderr
    assert len(_checkpoints(ws)) == 1


def test_checkpoint_without_a_signing_key_says_how_to_make_one(
    cli: Callable[..., Result], workspace: Path
) -> None:
    result = cli("audit", "checkpoint")
    assert result.code == _CONFIG_ERROR
    assert "audit keygen" in result.stderr


@SQLITE_ONLY
def test_a_signing_key_that_does_not_match_the_public_key_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    other.chmod(0o600)
    result = ws.run("audit", "checkpoint", extra_env={"PATHTOLIVE_AUDIT_SIGNING_KEY": str(other)})
    assert result.code == _CONFIG_ERROR
    assert "public_key" in result.stderr
    assert "PRIVATE" not in result.stderr


@SQLITE_ONLY
def test_a_signing_key_others_can_read_is_refused(ws: Workspace) -> None:
    ws.key.chmod(0o644)
    result = ws.run("audit", "checkpoint")
    assert result.code == _CONFIG_ERROR
    assert "chmod 600" in result.stderr


def test_a_promotion_is_checkpointed_when_the_signing_key_is_at_hand(
    cli: Callable[..., Result], tmp_path: Path, workspace_templates: WorkspaceTemplates
) -> None:
    root = workspace_templates.copy("risk-models", build_models, tmp_path / "ws")
    configure(root, policy="auto")
    assert cli("audit", "keygen", "--out", tmp_path / "audit.key").code == 0
    promoted = cli("promote", "risk-model@1", "--to", "live")
    assert promoted.code == 0, promoted.stderr
    report = cli("audit", "verify", "--json").json()
    assert report["ok"] is True
    assert report["anchored_seq"] == report["head_seq"]
    assert report["unanchored"] == 0
    # Without the key at hand the promotion still goes through, only unanchored.
    (tmp_path / "audit.key").rename(tmp_path / "elsewhere.key")
    second = cli("promote", "risk-model@2", "--to", "live")
    assert second.code == 0, second.stderr
    after = cli("audit", "verify", "--json").json()
    assert after["ok"] is True
    assert after["unanchored"] == after["head_seq"] - report["head_seq"] > 0


def test_a_write_without_a_head_row_is_refused_clearly(ws: Workspace) -> None:
    ws.sql("delete from audit_head")
    refused = ws.run("tokens", "create", "--user", "x", "--role", "viewer")
    assert refused.code == 10
    assert "head row is missing" in refused.stderr
    assert "audit verify" in refused.stderr
