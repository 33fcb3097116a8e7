"""A full disk, a read-only objects folder and a read-only copy of a workspace, on real
file systems: a tmpfs filled to the brim and read-only bind mounts (see
:mod:`tests.support.mounts`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tests.func.conftest import CLI
from tests.support.mounts import fill_to_the_brim, read_only_view, small_tmpfs
from tests.support.serving import ServedWorkspace, risk_frame

STORE_ERROR_EXIT = 10


def _files(root: Path) -> dict[str, bytes]:
    """Every file under the workspace's state folder but SQLite's own transient ones."""
    state = root / ".pathtolive"
    return {
        str(path.relative_to(state)): path.read_bytes()
        for path in sorted(state.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


def _leftovers(root: Path) -> list[str]:
    tmp = root / ".pathtolive" / "tmp"
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*")) if tmp.is_dir() else []


def _state(cli: CLI, root: Path) -> tuple[object, object]:
    listed = cli("data", "list", "--json", cwd=root)
    assert listed.code == 0, listed.stderr
    audit = cli("audit", "log", "--json", cwd=root)
    assert audit.code == 0, audit.stderr
    return listed.json(), audit.json()


def test_a_full_disk_during_data_add_is_a_store_error_naming_the_path(
    cli: CLI, tmp_path: Path
) -> None:
    source = tmp_path / "applicants.csv"
    risk_frame(20_000, seed=3).to_csv(source, index=False)
    with small_tmpfs(tmp_path / "ws", "4m") as root:
        assert cli("init").code == 0
        before = _state(cli, root)
        # Room for the database's own small files, not for the data's Parquet.
        filler = fill_to_the_brim(root, leave=128 << 10)
        added = cli("data", "add", source, "--name", "applicants", "--json")
        leftovers = _leftovers(root)
        filler.unlink()
        after = _state(cli, root)
    assert added.code == STORE_ERROR_EXIT, added.stderr
    error = json.loads(added.stdout)
    assert error["error_code"] == "store_error"
    assert "no space left" in error["message"]
    assert str(root) in error["message"]
    assert "unexpected" not in added.stderr
    # The store is as it was, and nothing of the attempt is left in its temporary folder.
    assert after == before
    assert leftovers == []


def test_a_read_only_objects_folder_leaves_no_temporary_file(cli: CLI, workspace: Path) -> None:
    first = workspace.parent / "first.csv"
    risk_frame(200, seed=1).to_csv(first, index=False)
    assert cli("data", "add", first, "--name", "applicants").code == 0
    second = workspace.parent / "second.csv"
    risk_frame(200, seed=2).to_csv(second, index=False)
    before = _files(workspace)
    with read_only_view(workspace / ".pathtolive" / "objects"):
        added = cli("data", "add", second, "--name", "applicants", "--json")
        leftovers = _leftovers(workspace)
    assert added.code == STORE_ERROR_EXIT, added.stderr
    error = json.loads(added.stdout)
    assert error["error_code"] == "store_error"
    assert str(workspace / ".pathtolive" / "objects") in error["message"]
    assert leftovers == []
    assert _files(workspace) == before


def test_a_read_only_copy_answers_reads_and_refuses_writes_cleanly(
    cli: CLI, tmp_path: Path, served_workspace: Callable[..., ServedWorkspace]
) -> None:
    served = served_workspace(tmp_path / "served")
    listed = cli("data", "list", "--json", cwd=served.root)
    versions = cli("models", "list", "--json", cwd=served.root)
    source = tmp_path / "more.csv"
    risk_frame(50, seed=5).to_csv(source, index=False)
    before = _files(served.root)
    with read_only_view(served.root, tmp_path / "backup") as copy:
        reads = {
            "data list": cli("data", "list", "--json", cwd=copy),
            "data show": cli("data", "show", "risk-data@1", "--json", cwd=copy),
            "audit verify": cli("audit", "verify", cwd=copy),
            "models list": cli("models", "list", "--json", cwd=copy),
            "models show": cli("models", "show", "risk@1", "--json", cwd=copy),
            "alias list": cli("alias", "list", "risk", "--json", cwd=copy),
            "lineage": cli("lineage", "risk@1", "--json", cwd=copy),
        }
        add = cli("data", "add", source, "--name", "risk-data", "--json", cwd=copy)
        alias = cli("alias", "set", "risk@2", "staging", "--json", cwd=copy)
    for name, result in reads.items():
        assert result.code == 0, f"{name}: {result.stderr}"
    assert reads["data list"].json() == listed.json()
    assert reads["models list"].json() == versions.json()
    assert "risk-data@1" in reads["lineage"].stdout
    for write in (add, alias):
        assert write.code == STORE_ERROR_EXIT, write.stderr
        error = json.loads(write.stdout)
        assert error["error_code"] == "store_error"
        assert "read-only" in error["message"]
    assert _files(served.root) == before


def test_a_read_only_copy_taken_mid_write_shows_the_last_commit(
    cli: CLI, tmp_path: Path, workspace: Path
) -> None:
    """A copy of a running workspace holds SQLite's write-ahead log: its last commits are
    there, not yet in the database file, and a read-only open reads them."""
    import sqlite3

    first = tmp_path / "first.csv"
    pd.DataFrame({"x": [1, 2, 3]}).to_csv(first, index=False)
    assert cli("data", "add", first, "--name", "numbers").code == 0
    database = workspace / ".pathtolive" / "meta.db"
    holder = sqlite3.connect(database)  # keeps the log from being folded in at close
    try:
        holder.execute("PRAGMA wal_autocheckpoint=0")
        holder.execute("SELECT count(*) FROM datasets").fetchall()
        second = tmp_path / "second.csv"
        pd.DataFrame({"x": [3, 2, 1]}).to_csv(second, index=False)
        assert cli("data", "add", second, "--name", "numbers").code == 0
        copy = tmp_path / "copy"
        shutil.copytree(workspace, copy)
    finally:
        holder.close()
    assert (copy / ".pathtolive" / "meta.db-wal").stat().st_size > 0
    with read_only_view(copy):
        listed = cli("data", "list", "numbers", "--json", cwd=copy)
    assert listed.code == 0, listed.stderr
    assert [v["version"] for v in listed.json()] == [1, 2]


def test_a_database_on_a_disk_full_to_the_brim_says_the_disk_is_full(
    cli: CLI, tmp_path: Path
) -> None:
    """With no byte left SQLite cannot make its shared-memory file, and says "disk I/O
    error": the error says what is wrong instead."""
    source = tmp_path / "applicants.csv"
    risk_frame(200, seed=4).to_csv(source, index=False)
    with small_tmpfs(tmp_path / "ws", "4m") as root:
        assert cli("init").code == 0
        filler = fill_to_the_brim(root)
        listed = cli("data", "list", "--json")
        added = cli("data", "add", source, "--name", "applicants", "--json")
        leftovers = _leftovers(root)
        filler.unlink()
        after = _state(cli, root)
    for result in (listed, added):
        assert result.code == STORE_ERROR_EXIT, result.stderr
        error = json.loads(result.stdout)
        assert error["error_code"] == "store_error"
        assert "no space left" in error["message"]
        assert str(root) in error["message"]
    assert leftovers == []
    assert after[0] == []
