"""Where data-heavy work runs: in this process, streaming (the default), or on an existing
Dask cluster named by ``--scheduler``, ``PATHTOLIVE_DASK_SCHEDULER`` or
``[compute] scheduler``. Objects travel between machines through the artifact store by
hash, never by pickling live state."""

from __future__ import annotations

from pathtolive.compute.cluster import (
    CONNECT_TIMEOUT_SECONDS,
    connect,
    scheduler_address,
)
from pathtolive.compute.ordered import cluster, map_ordered

__all__ = ["CONNECT_TIMEOUT_SECONDS", "cluster", "connect", "map_ordered", "scheduler_address"]
