"""Engines for the metadata database: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import importlib.util
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from pathtolive.errors import ConfigError, MissingExtraError, UnknownSchemeError
from pathtolive.redaction import mask_url

__all__ = [
    "SUPPORTED_SCHEMES",
    "check_metadata_url",
    "make_engine",
    "read_only_database",
    "sqlite_file",
]

logger = logging.getLogger("pathtolive.store")

SUPPORTED_SCHEMES = ("sqlite", "postgresql+psycopg")
_SQLITE_BUSY_TIMEOUT_MS = 60_000


def check_metadata_url(url: str) -> URL:
    """``url`` parsed, if it names a database this store speaks to with its driver
    installed; ConfigError (or its kinds) otherwise, before anything connects."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(
            f"metadata URL {mask_url(url)!r} is not a database URL; use sqlite:///path/meta.db "
            "or postgresql+psycopg://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", ""):
            raise UnknownSchemeError(
                f"PostgreSQL driver {parsed.get_driver_name()!r} is not supported; "
                "use postgresql+psycopg://"
            )
        if importlib.util.find_spec("psycopg") is None:
            raise MissingExtraError(
                "PostgreSQL needs the psycopg driver; install it with "
                "pip install 'pathtolive[postgres]'"
            )
        return parsed.set(drivername="postgresql+psycopg")
    raise UnknownSchemeError(
        f"metadata URL scheme {parsed.drivername!r} is not supported; "
        f"use one of {', '.join(SUPPORTED_SCHEMES)}"
    )


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a clear error for an unknown scheme or a missing driver."""
    parsed = check_metadata_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(parsed, pool_pre_ping=True, future=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url``; None for another database or one in memory."""
    parsed = check_metadata_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).absolute()


def read_only_database(url: str) -> Path | None:
    """The SQLite file of ``url`` when this process cannot write it or its folder (a
    read-only mount, a backup or an auditor's copy); None when it can, or for another
    database. SQLite in WAL mode writes beside the file even to read, so such a file is
    opened read-only (see :func:`make_engine`)."""
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None  # created on first use, where writes fail with their own error
    if not os.access(path, os.W_OK):
        return path
    if os.access(path.parent, os.W_OK):
        return None
    # A folder closed to new files still serves a writer whose log files are there.
    beside = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    return None if all(os.access(file, os.W_OK) for file in beside) else path


def _read_only_uri(path: Path) -> str:
    """The URI that opens ``path`` read-only. Where the folder holds the WAL's shared
    memory and log (``-shm``, ``-wal``), SQLite reads through them (``mode=ro``), so the
    last commits of a copy taken while it ran are seen; without a log to read, the file
    is opened as ``immutable``: no lock and no file beside it is needed."""
    uri = f"{path.as_uri()}?mode=ro"
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    has_log = wal.is_file() and wal.stat().st_size > 0
    if has_log and shm.is_file():
        return uri
    if has_log:
        # Without its shared-memory index SQLite cannot read a log it may not rebuild.
        logger.warning(
            "%s is read-only and its write-ahead log has no -shm file beside it: the "
            "commits still in the log are not seen; copy the -shm file with the database",
            path,
        )
    return uri + "&immutable=1"


def _sqlite_engine(url: str) -> Engine:
    # NullPool: each operation opens its own connection, so a forked or threaded caller
    # never shares a SQLite handle, and files are closed when the work is done.
    read_only = read_only_database(url)
    if read_only is None:
        engine = create_engine(url, poolclass=NullPool, future=True)
    else:
        uri = _read_only_uri(read_only)
        engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=NullPool,
            future=True,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below; pysqlite's own
        # implicit BEGIN would start write transactions as DEFERRED and deadlock-prone.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if read_only is None:  # a read-only file keeps the journal mode it has
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the database lock up front (IMMEDIATE) so two writers queue on the
        # busy timeout instead of failing when a read lock would need upgrading.
        immediate = connection.get_execution_options().get("pathtolive_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
