"""Secrets masked by name and by shape, wherever text leaves the process or is kept."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from pathtolive.config import Settings
from pathtolive.errors import ConfigError, StoreError
from pathtolive.pipelines import capture_environment
from pathtolive.pipelines.logcapture import Tail
from pathtolive.redaction import (
    MASK,
    RedactingFilter,
    install_log_redaction,
    is_secret_name,
    mask_url,
    mask_urls,
    redact,
    redact_values,
    safe_environ,
    secret_values,
)
from pathtolive.store.metadata.engine import make_engine

PASSWORD = "S3cret/Pw+x"
URL = "postgresql+psycopg://ml:S3cret%2FPw+x@db.internal:5432/pathtolive?sslmode=require"


@pytest.mark.parametrize(
    "name",
    [
        "PATHTOLIVE_TOKEN",
        "PATHTOLIVE_PII_SALT",
        "PATHTOLIVE_WEBHOOK_SECRET",
        "PATHTOLIVE_KEK",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "pgpassword",
        "STRIPE_API_KEY",
        "KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SENTRY_DSN",
        "GPG_PASSPHRASE",
        "TLS_PRIVATE_KEY",
    ],
)
def test_names_that_hold_secrets(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "PWD",
        "HOME",
        "PATHTOLIVE_USER",
        "PATHTOLIVE_METADATA_URL",
        "PATHTOLIVE_LOG_LEVEL",
        "PYTHONHASHSEED",
        "TOKENIZERS_PARALLELISM",
        "MONKEYPATCH",
        "KEYBOARD",
        "PATHTOLIVE_KEK_FILE",
        "PATHTOLIVE_KEK_COMMAND",
        "AUDIT_SIGNING_KEY_PATH",
    ],
)
def test_names_that_hold_no_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_a_url_keeps_everything_but_its_password() -> None:
    assert mask_url(URL) == (
        f"postgresql+psycopg://ml:{MASK}@db.internal:5432/pathtolive?sslmode=require"
    )
    assert mask_url("postgresql+psycopg://ml@db/x") == "postgresql+psycopg://ml@db/x"
    assert mask_url("s3://bucket/prefix") == "s3://bucket/prefix"
    assert mask_url("https://hooks.example.com/a@b") == "https://hooks.example.com/a@b"
    text = f"cannot reach {URL}, nor 'https://u:p4ss@h/x'"
    assert mask_urls(text) == (
        f"cannot reach postgresql+psycopg://ml:{MASK}@db.internal:5432/pathtolive"
        f"?sslmode=require, nor 'https://u:{MASK}@h/x'"
    )


def test_redact_masks_values_of_secret_names_and_url_passwords_in_any_encoding() -> None:
    environ = {
        "PATHTOLIVE_METADATA_URL": URL,
        "PATHTOLIVE_TOKEN": "ptl_abcdefghijklmnop",
        "PAYMENTS_SECRET": "a b/c+d=e-secret",
        "PATHTOLIVE_USER": "ada-lovelace",
        "SHORT_KEY": "1",
    }
    text = (
        "token ptl_abcdefghijklmnop, pw S3cret/Pw+x or S3cret%2FPw+x or S3cret%2FPw%2Bx, "
        "secret a%20b%2Fc%2Bd%3De-secret or a+b%2Fc%2Bd%3De-secret, user ada-lovelace, 1"
    )
    assert redact(text, environ) == (
        f"token {MASK}, pw {MASK} or {MASK} or {MASK}, secret {MASK} or {MASK}, "
        "user ada-lovelace, 1"
    )
    assert PASSWORD in secret_values(environ)
    assert redact_values({"error": [f"at {URL}"], "n": 3}, environ) == {
        "error": [f"at {mask_url(URL)}"],
        "n": 3,
    }


def test_safe_environ_leaves_out_secret_names_and_masks_urls() -> None:
    environ = {"PATHTOLIVE_KEK": "k" * 32, "PATHTOLIVE_METADATA_URL": URL, "LANG": "C.UTF-8"}
    assert safe_environ(environ) == {"PATHTOLIVE_METADATA_URL": mask_url(URL), "LANG": "C.UTF-8"}


def test_every_error_message_masks_url_passwords() -> None:
    error = StoreError(f"metadata database {URL} failed")
    assert PASSWORD not in str(error)
    assert "S3cret" not in error.message
    assert "S3cret" not in str(error.to_dict())


def test_a_malformed_database_url_is_a_config_error_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        make_engine("postgresql+psycopg://ml:S3cretPw@db:notaport/x")
    assert "S3cretPw" not in caught.value.message
    assert "notaport" in caught.value.message


def test_settings_repr_shows_no_token_nor_password() -> None:
    settings = Settings(
        root=Path("/ws"),
        metadata_url=URL,
        artifact_url="s3://b/p",
        token="ptl_abcdefghijklmnop",
        environ={"PATHTOLIVE_TOKEN": "ptl_abcdefghijklmnop"},
    )
    shown = repr(settings)
    assert "ptl_" not in shown
    assert "S3cret" not in shown
    assert "db.internal" in shown


def test_log_records_are_redacted_by_the_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_API_KEY", "sk_live_0123456789")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # once is enough: no second filter
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("connecting to %s with %s", URL, "sk_live_0123456789")
        try:
            raise ConnectionError(f"refused: {URL}")
        except ConnectionError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "S3cret" not in written
    assert "sk_live_0123456789" not in written
    assert "db.internal" in written
    assert "ConnectionError" in written


def test_step_logs_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHTOLIVE_PII_SALT", "salt-0123456789")
    tail = Tail()
    tail.write(f"using salt-0123456789 and {URL}\n")
    assert tail.text() == f"using {MASK} and {mask_url(URL)}\n"


def test_the_recorded_environment_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {name: f"value-of-{name.lower()}-0123" for name in ("PATHTOLIVE_KEK", "X_SECRET")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    recorded = str(capture_environment().to_dict())
    for name, value in values.items():
        assert name not in recorded
        assert value not in recorded


def test_the_server_redacts_uvicorn_logs() -> None:
    import uvicorn

    from pathtolive.serving.server import redact_server_logs

    saved = {name: logging.getLogger(name).handlers[:] for name in ("uvicorn", "uvicorn.access")}
    try:
        uvicorn.Config(app=lambda *_: None, log_level="warning")  # configures its loggers
        redact_server_logs()
        for name in ("uvicorn", "uvicorn.access"):
            handlers = logging.getLogger(name).handlers
            assert handlers
            assert all(
                any(isinstance(f, RedactingFilter) for f in handler.filters) for handler in handlers
            )
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers = handlers


def test_the_cli_streams_mask_what_any_code_prints() -> None:
    import sys

    from pathtolive.redaction import redacted_streams

    out = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    try:
        with redacted_streams({"PATHTOLIVE_TOKEN": "ptl_abcdefghijklmnop"}):
            print(f"token ptl_abcdefghijklmnop for {URL}")
            sys.stderr.write("ptl_abcdefghijklmnop\n")
            assert sys.stdout.isatty() is False  # the wrapped stream answers the rest
    finally:
        sys.stdout, sys.stderr = saved
    assert out.getvalue() == f"token {MASK} for {mask_url(URL)}\n{MASK}\n"


def test_a_password_in_the_workspace_file_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pathtolive.config import load_settings

    (tmp_path / "pathtolive.toml").write_text(f'[store]\nmetadata = "{URL}"\n')
    with caplog.at_level(logging.WARNING, logger="pathtolive.config"):
        settings = load_settings(tmp_path, environ={})
    assert settings.metadata_url == URL  # still used: a warning, not a refusal
    assert "PATHTOLIVE_METADATA_URL" in caplog.text
    assert "S3cret" not in caplog.text


def test_masking_a_long_text_without_urls_scans_it_once() -> None:
    # Unbounded parts made this quadratic: hours for these 800 000 characters (the test's
    # time limit fails it); bounded, it is milliseconds.
    text = "a." * 200_000 + "x://" + "b" * 200_000
    assert mask_urls(text) == text
    assert redact(text, {}) == text
