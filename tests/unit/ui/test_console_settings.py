"""Whom the console lets in without a sign-in: as the CLI, the local user only where the
CLI trusts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathtolive.config import load_settings
from pathtolive.service.context import ServiceContext
from pathtolive.ui.console import ConsoleSettings

SHARED = "postgresql+psycopg://ml@db.example/registry"


def context(
    tmp_path: Path, *, text: str = "", url: str | None = None, **environ: str
) -> ServiceContext:
    (tmp_path / "pathtolive.toml").write_text('[workspace]\nname = "t"\n' + text)
    return ServiceContext(load_settings(tmp_path, environ=environ, metadata_url=url))


@pytest.mark.parametrize(
    ("host", "auth", "expected"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("192.0.2.7", None, True),
        ("127.0.0.1", True, True),
        ("0.0.0.0", False, False),
    ],
)
def test_sign_in_is_needed_beyond_loopback_or_when_asked(
    tmp_path: Path, host: str, auth: bool | None, expected: bool
) -> None:
    settings = ConsoleSettings(host=host, auth=auth)
    assert settings.sign_in_required(context(tmp_path)) is expected


def test_on_a_shared_database_only_a_token_or_an_admins_local_role_spares_the_sign_in(
    tmp_path: Path,
) -> None:
    loopback = ConsoleSettings()
    assert loopback.sign_in_required(context(tmp_path, url=SHARED)) is True
    with_token = context(tmp_path, url=SHARED, PATHTOLIVE_TOKEN="secret")
    assert loopback.sign_in_required(with_token) is False
    trusted = context(tmp_path, text='[auth]\nlocal_role = "viewer"\n', url=SHARED)
    assert loopback.sign_in_required(trusted) is False
