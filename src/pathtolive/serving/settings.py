"""Settings of the live server, from ``[serve]`` in ``pathtolive.toml`` and flags.

Precedence is the workspace's: a flag of ``pathtolive serve`` > the ``[serve]`` table >
the default here. The object is frozen and handed to the app; worker processes get it
as JSON (see :meth:`ServeSettings.to_json`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pathtolive.config import WORKSPACE_FILE, check_choice, unknown_key_message
from pathtolive.errors import ConfigError

if TYPE_CHECKING:
    # For annotations only: the settings are read before anything heavy is imported.
    from pathtolive.predlog import PiiMode
    from pathtolive.registry.validation import UnseenCategories

__all__ = ["ServeSettings", "is_loopback", "serve_settings"]


@dataclass(frozen=True)
class ServeSettings:
    """How the server listens, validates, batches, logs and follows the registry."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    models: tuple[str, ...] = ()
    """Serve only these models (default: every model with a ``live`` version)."""
    poll_interval: float = 2.0
    """Seconds between two reads of the registry's aliases."""
    load_retry_seconds: float = 1.0
    """Wait before trying again a version that failed to load; doubled after each failed
    attempt, up to ``load_retry_max_seconds`` (retries happen on the registry's polls)."""
    load_retry_max_seconds: float = 60.0
    max_rows: int = 10_000
    max_body_bytes: int = 32 * 1024 * 1024
    unseen_categories: UnseenCategories = "reject"
    batching: bool = True
    batch_wait_ms: float = 2.0
    """Longest a request waits for others to share its predict call (only while the
    server sees concurrent requests; a lone request never waits)."""
    max_batch_rows: int = 2_048
    log_predictions: bool = True
    log_sample: float = 1.0
    log_buffer_rows: int = 200_000
    log_flush_seconds: float = 5.0
    log_journal: bool = True
    """Journal every logged prediction to ``.pathtolive/journal/`` before answering, so
    that a crashed server's unflushed rows are written at its next start."""
    log_fsync: bool = False
    """Also flush each journal line to the disk (survives a power cut, not only a crash;
    costs one fdatasync per request)."""
    log_retention_days: int | None = None
    """Delete prediction-log segments and orphaned journals older than this many days
    (at start and every hour while serving; ``pathtolive predictions prune`` too);
    None keeps them."""
    pii: PiiMode = "hash"
    pii_columns: tuple[str, ...] = ()
    """Columns to treat as PII besides those the training data's schema tags ``pii``."""
    auth: bool | None = None
    """True: every endpoint but health needs a token; None: only off loopback."""
    public_docs: bool = False
    """On a server that needs tokens, still answer ``/docs``, ``/redoc``,
    ``/openapi.json`` and ``/version`` without one."""
    feedback_max_unlogged: int = 10_000
    """Labels a model may hold beyond the rows of its prediction log (labels sent before
    their request is logged, corrections); more are refused with a 409."""
    ui: bool = False
    """Mount the web console under ``/ui`` (one worker only: its sessions live in the
    server's memory)."""
    shadow_queue: int = 1_000
    """Requests waiting for the shadow model; beyond it shadow scoring is skipped and
    counted, so shadow work can never hold up live traffic."""

    @property
    def auth_required(self) -> bool:
        return self.auth if self.auth is not None else not is_loopback(self.host)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data = json.loads(text)
        data["models"] = tuple(data.get("models", ()))
        data["pii_columns"] = tuple(data.get("pii_columns", ()))
        return cls(**data)


_FIELDS = {item.name: item for item in dataclasses.fields(ServeSettings)}


def serve_settings(document: Mapping[str, Any], **flags: Any) -> ServeSettings:
    """Settings from the workspace ``document``'s ``[serve]`` table, overridden by the
    flags that are not None. ``ConfigError`` names a bad key or value."""
    section = document.get("serve", {})
    if not isinstance(section, dict):
        raise ConfigError(f"'serve' in {WORKSPACE_FILE} must be a table, like [serve]")
    values: dict[str, Any] = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        if name not in _FIELDS or name in ("host", "port"):
            known = sorted(set(_FIELDS) - {"host", "port"})
            raise ConfigError(unknown_key_message(f"serve.{key}", name, known, kind="setting"))
        values[name] = value
    values.update({key: value for key, value in flags.items() if value is not None})
    for name in ("models", "pii_columns"):
        if name in values:
            values[name] = tuple(values[name])
    settings = ServeSettings(**values)
    _check(settings)
    return settings


def _check(settings: ServeSettings) -> None:
    def fail(name: str, rule: str) -> None:
        raise ConfigError(f"serve.{name} = {getattr(settings, name)!r}: {rule}")

    if not isinstance(settings.port, int) or not 0 <= settings.port <= 65_535:
        fail("port", "must be a port number (0-65535)")
    for name in (
        "workers",
        "max_rows",
        "max_body_bytes",
        "max_batch_rows",
        "log_buffer_rows",
        "feedback_max_unlogged",
    ):
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            fail(name, "must be a positive integer")
    days: object = settings.log_retention_days
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
        fail("log_retention_days", "must be a whole number of days, 1 or more")
    if not isinstance(settings.shadow_queue, int) or settings.shadow_queue < 0:
        fail("shadow_queue", "must be a whole number, 0 or more")
    for name in (
        "poll_interval",
        "log_flush_seconds",
        "load_retry_seconds",
        "load_retry_max_seconds",
    ):
        value = getattr(settings, name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            fail(name, "must be a positive number of seconds")
    if settings.load_retry_max_seconds < settings.load_retry_seconds:
        fail("load_retry_max_seconds", "must be at least load_retry_seconds")
    if not isinstance(settings.batch_wait_ms, int | float) or settings.batch_wait_ms < 0:
        fail("batch_wait_ms", "must be 0 or more milliseconds")
    if not isinstance(settings.log_sample, int | float) or not 0 <= settings.log_sample <= 1:
        fail("log_sample", "must be a share between 0 and 1")
    check_choice(
        settings.unseen_categories, "serve.unseen_categories", ("reject", "allow"), kind="rule"
    )
    check_choice(settings.pii, "serve.pii", ("hash", "redact"), kind="PII mode")
    for name in ("batching", "log_predictions", "log_journal", "log_fsync", "public_docs", "ui"):
        if not isinstance(getattr(settings, name), bool):
            fail(name, "must be true or false")
    auth: object = settings.auth  # a value from the TOML file, whatever its declared type
    if auth is not None and not isinstance(auth, bool):
        fail("auth", "must be true or false")
    if settings.ui and settings.workers > 1:
        fail("workers", "the console (--ui) needs one worker; run 'pathtolive ui' beside it")
    for name in ("models", "pii_columns"):
        if not all(isinstance(item, str) for item in getattr(settings, name)):
            fail(name, "must be a list of names")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; ``0.0.0.0`` and ``::`` listen on
    every interface, so they are not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
