"""A real Dask cluster for the tests: a ``LocalCluster`` of worker processes (not
threads), so work crosses a process boundary as it would between machines."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def local_cluster(workers: int = 2, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The address of a ``LocalCluster`` of ``workers`` single-threaded worker processes
    on loopback, shut down on exit. ``env`` is set in every worker process, a restarted
    one included (a worker keeps the environment it started with, as on a real cluster;
    variables set later in this process never reach it)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        # Any free port: a fixed one (8787) clashes with clusters of other test processes.
        dashboard_address=":0",
        silence_logs=40,
        env=dict(env or {}),
    ) as cluster:
        yield cluster.scheduler_address
