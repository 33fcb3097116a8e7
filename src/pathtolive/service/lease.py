"""The controller's lease as others see it: its name in the metadata database, and when
it lapses.

Kept apart from :mod:`pathtolive.service.controller` so that the server, which shows on
/metrics whether a controller still runs, reads it without loading the release machinery.
"""

from __future__ import annotations

from datetime import datetime

from pathtolive.service.context import ServiceContext

__all__ = ["LOCK_NAME", "lease_expires_at"]

LOCK_NAME = "controller"
"""The name of the lease in the metadata database that only one controller holds."""


def lease_expires_at(ctx: ServiceContext) -> datetime | None:
    """When the controller's lease lapses unless a controller renews it (None: no
    controller ever ran here). A controller renews it every round, so a time long past it
    means none is running: stopped, crashed or hung."""
    with ctx.metadata.read() as session:
        return session.lock_expires_at(LOCK_NAME)
