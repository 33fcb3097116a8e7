"""Where the metadata database's schema stands, through the service: an empty database
needs an upgrade, an initialised workspace is up to date. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from pathtolive import env
from pathtolive.config import load_settings
from pathtolive.service.database import database_status, upgrade_database
from pathtolive.service.workspace import init_workspace


def test_an_initialised_workspace_is_up_to_date(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> None:
    environ = {**clean_environ, env.METADATA_URL: metadata_url}
    init_workspace(tmp_path / "ws", environ=environ).close()

    status = database_status(load_settings(tmp_path / "ws", environ=environ))

    assert status.up_to_date
    assert status.current == status.head
    assert status.backend == metadata_url.partition(":")[0].partition("+")[0]


def test_an_empty_database_needs_an_upgrade(tmp_path: Path, clean_environ: dict[str, str]) -> None:
    init_workspace(tmp_path / "ws", environ=clean_environ).close()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    settings = load_settings(tmp_path / "ws", environ=clean_environ, metadata_url=empty)

    before = database_status(settings)
    upgrade_database(settings)
    after = database_status(settings)

    assert before.current is None
    assert not before.up_to_date
    assert after.current == after.head == before.head
    assert after.up_to_date
