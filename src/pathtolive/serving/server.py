"""Run the app under uvicorn, in this process or in ``workers`` processes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping

import uvicorn
from fastapi import FastAPI

from pathtolive import env
from pathtolive.config import load_settings
from pathtolive.redaction import install_log_redaction
from pathtolive.service.context import ServiceContext
from pathtolive.serving.app import create_app
from pathtolive.serving.metrics import MULTIPROCESS_DIR
from pathtolive.serving.settings import ServeSettings

__all__ = ["GracefulServer", "redact_server_logs", "run_server", "worker_app"]


def run_server(ctx: ServiceContext, settings: ServeSettings) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM stop it cleanly: requests in flight
    finish, the prediction log is flushed, the stop is audited)."""
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        # An access line per request would cost more than a small model's predict.
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if settings.workers == 1:
        config = uvicorn.Config(create_app(ctx, settings), **common)  # type: ignore[arg-type]
        redact_server_logs()  # after the Config, which sets up uvicorn's handlers
        GracefulServer(config).run()
        return
    # Worker processes import the app by name, so the settings travel in the environment.
    os.environ[env.WORKSPACE] = str(ctx.settings.root)
    os.environ[env.SERVE_SETTINGS] = settings.to_json()
    if ctx.settings.metadata_url:
        os.environ[env.METADATA_URL] = ctx.settings.metadata_url
    if ctx.settings.artifact_url:
        os.environ[env.ARTIFACT_URL] = ctx.settings.artifact_url
    # The workers add up their metrics in files of this server's own, gone when it stops.
    with tempfile.TemporaryDirectory(prefix="pathtolive-metrics-") as shared:
        os.environ[MULTIPROCESS_DIR] = shared
        try:
            uvicorn.run(
                "pathtolive.serving.server:worker_app",
                factory=True,
                workers=settings.workers,
                **common,  # type: ignore[arg-type]
            )
        finally:
            os.environ.pop(MULTIPROCESS_DIR, None)


def redact_server_logs() -> None:
    """Put the secret-masking filter on uvicorn's handlers too: its loggers write through
    handlers of their own, not the root logger's, and an unexpected error's traceback
    may quote a database URL or a secret from the environment."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        install_log_redaction(logging.getLogger(name))


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a stop by SIGTERM or SIGINT, once graceful, ends
    with exit status 0. uvicorn raises the signal again after shutting down, so a
    supervisor would see a process killed by SIGTERM although nothing was lost (its
    multi-worker supervisor exits 0 already)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def worker_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The app of one worker process, from the settings its parent left in the
    environment."""
    environ = dict(os.environ if environ is None else environ)
    redact_server_logs()
    ctx = ServiceContext(load_settings(environ=environ))
    return create_app(ctx, ServeSettings.from_json(environ[env.SERVE_SETTINGS]))
