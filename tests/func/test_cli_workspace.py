"""`init`, workspace discovery, `db upgrade`, tokens and roles through the real CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config

from pathtolive.store.metadata import store as store_module

from .conftest import CLI


def test_init_makes_a_workspace_and_refuses_to_overwrite_it(cli: CLI, tmp_path: Path) -> None:
    first = cli("init", "--json")
    assert first.code == 0, first.stderr
    root = tmp_path / "ws"
    assert (root / "pathtolive.toml").is_file()
    assert (root / ".pathtolive" / "meta.db").is_file()
    config_before = (root / "pathtolive.toml").read_text()

    again = cli("init")
    assert again.code == 6
    assert "exists already" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert (root / "pathtolive.toml").read_text() == config_before

    log = cli("audit", "log", "--json").json()
    assert [event["action"] for event in log] == ["workspace.created"]
    assert log[0]["actor"] == "ada"


@pytest.mark.subprocess(cli=True)  # exit codes and streams of a real process
def test_ptl_alias_help_and_version(cli: CLI) -> None:
    import shutil
    import subprocess
    import sys

    ptl = shutil.which("ptl", path=str(Path(sys.executable).parent))
    assert ptl is not None
    completed = subprocess.run([ptl, "--help"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    for group in ("init", "data", "audit", "tokens", "db"):
        assert group in completed.stdout
    assert cli("--version").stdout.startswith("pathtolive ")


@pytest.mark.subprocess(cli=True)  # exit codes and streams of a real process
def test_commands_outside_a_workspace_say_how_to_make_one(cli: CLI) -> None:
    result = cli("data", "list")
    assert result.code == 3
    assert "pathtolive init" in result.stderr


@pytest.mark.subprocess(cli=True)  # exit codes and streams of a real process
def test_json_errors_carry_code_and_message(cli: CLI, workspace: Path) -> None:
    result = cli("data", "show", "nope@1", "--json")
    assert result.code == 3
    assert result.json()["error_code"] == "not_found"
    assert "nope" in result.json()["message"]


def test_workspace_found_from_a_subfolder(cli: CLI, workspace: Path) -> None:
    sub = workspace / "notebooks" / "deep"
    sub.mkdir(parents=True)
    assert cli("data", "list", "--json", cwd=sub).json() == []


def test_init_on_postgres(cli: CLI, tmp_path: Path, postgres_url: str) -> None:
    result = cli("--metadata-url", postgres_url, "init", tmp_path / "pgws", "--json")
    assert result.code == 0, result.stderr
    # A shared database trusts no local user: its maker gets the first admin token.
    first = result.json()["admin_token"]
    assert first["secret"].startswith("ptl_")
    admin = {"PATHTOLIVE_TOKEN": first["secret"]}
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "a"]})
    frame.to_csv(tmp_path / "small.csv", index=False)
    add = ("data", "add", tmp_path / "small.csv", "--name", "small", "--json")
    unauthenticated = cli("--metadata-url", postgres_url, *add, cwd=tmp_path / "pgws")
    assert unauthenticated.code == 7
    assert "needs a token" in unauthenticated.stderr
    added = cli("--metadata-url", postgres_url, *add, cwd=tmp_path / "pgws", extra_env=admin)
    assert added.code == 0, added.stderr
    assert added.json()["version"]["rows"] == 3
    pgws = tmp_path / "pgws"
    tokens = cli(
        "--metadata-url", postgres_url, "tokens", "list", "--json", cwd=pgws, extra_env=admin
    )
    assert [(t["principal"], t["role"]) for t in tokens.json()] == [("ada", "admin")]
    # The SQLite file of the default was never made: everything went to PostgreSQL.
    assert not (tmp_path / "pgws" / ".pathtolive" / "meta.db").exists()
    verify = cli("--metadata-url", postgres_url, "audit", "verify", cwd=tmp_path / "pgws")
    assert verify.code == 7  # reading needs a token too
    verified = cli("--metadata-url", postgres_url, "audit", "verify", cwd=pgws, extra_env=admin)
    assert verified.code == 0, verified.stderr
    second = cli("--metadata-url", postgres_url, "init", tmp_path / "other")
    assert second.code == 6
    assert "holds a workspace already" in second.stderr
    assert not (tmp_path / "other").exists()


def test_db_upgrade_brings_an_older_database_up_to_date(cli: CLI, workspace: Path) -> None:
    db = workspace / ".pathtolive" / "meta.db"
    config = Config()
    config.set_main_option("script_location", str(store_module._MIGRATIONS))
    from pathtolive.store.metadata import MetadataStore

    old = MetadataStore(f"sqlite:///{db}")
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    old.close()

    outdated = cli("tokens", "list")
    assert outdated.code == 10
    assert "db upgrade" in outdated.stderr
    status = cli("db", "status", "--json").json()
    assert status["current"] == "0001"
    assert not status["up_to_date"]

    upgraded = cli("db", "upgrade", "--json")
    assert upgraded.code == 0, upgraded.stderr
    assert upgraded.json() == {"before": "0001", "after": status["head"], "changed": True}
    assert cli("tokens", "list", "--json").json() == []
    assert cli("db", "upgrade", "--json").json()["changed"] is False
    actions = [e["action"] for e in cli("audit", "log", "--json").json()]
    assert actions[0] == "database.upgraded"
    assert cli("audit", "verify").code == 0


def test_tokens_roles_and_revocation(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    frame.to_csv(tmp_path / "x.csv", index=False)

    viewer = cli("tokens", "create", "--user", "val", "--role", "viewer", "--json").json()
    scientist = cli("tokens", "create", "--user", "sam", "--role", "scientist", "--json").json()
    assert viewer["secret"].startswith("ptl_")

    listed = cli("tokens", "list", "--json")
    assert viewer["secret"] not in listed.stdout
    assert {t["principal"] for t in listed.json()} == {"val", "sam"}
    db = sqlite3.connect(workspace / ".pathtolive" / "meta.db")
    stored = [row[0] for row in db.execute("select token_hash from tokens")]
    db.close()
    assert viewer["secret"] not in stored

    as_viewer = {"PATHTOLIVE_TOKEN": viewer["secret"]}
    refused = cli("data", "add", tmp_path / "x.csv", "--name", "x", extra_env=as_viewer)
    assert refused.code == 7
    assert "val (viewer) may not add data" in refused.stderr
    assert cli("data", "list", "--json", extra_env=as_viewer).json() == []
    assert cli("tokens", "list", extra_env=as_viewer).code == 7

    as_scientist = {"PATHTOLIVE_TOKEN": scientist["secret"]}
    added = cli("data", "add", tmp_path / "x.csv", "--name", "x", "--json", extra_env=as_scientist)
    assert added.code == 0, added.stderr
    assert added.json()["version"]["author"] == "sam"
    event = cli("audit", "log", "--action", "dataset.version_added", "--json").json()[0]
    assert event["actor"] == "sam"
    assert event["details"]["token_id"] == scientist["token"]["token_id"]

    assert cli("tokens", "revoke", viewer["token"]["token_id"]).code == 0
    revoked = cli("data", "list", extra_env=as_viewer)
    assert revoked.code == 7
    assert "revoked" in revoked.stderr
    unknown = cli("data", "list", extra_env={"PATHTOLIVE_TOKEN": "ptl_made_up"})
    assert unknown.code == 7
    assert cli("tokens", "create", "--user", "x", "--role", "boss").code == 4
    assert cli("tokens", "revoke", "tok_nothing").code == 3


@pytest.mark.subprocess(cli=True)  # exit codes and streams of a real process
def test_usage_errors_exit_2_with_the_usage(cli: CLI, workspace: Path) -> None:
    result = cli("data", "add")
    assert result.code == 2
    assert "Usage" in result.stderr
    assert "Missing argument" in result.stderr
    assert cli("data", "frobnicate").code == 2


def test_a_misspelt_section_is_a_config_error_naming_file_key_and_nearest(
    cli: CLI, workspace: Path
) -> None:
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + "\n[serv]\nworkers = 2\n")
    result = cli("data", "list", "--json")
    assert result.code == 8
    assert result.json()["error_code"] == "config_error"
    assert f"{config.resolve()}: [serv] is not a section; did you mean [serve]?" in result.stderr
