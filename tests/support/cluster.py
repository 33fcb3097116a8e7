"""A real Dask cluster for the tests: a ``LocalCluster`` of worker processes (not
threads), so work crosses a process boundary as it would between machines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def local_cluster(workers: int = 2) -> Iterator[str]:
    """The address of a ``LocalCluster`` of ``workers`` single-threaded worker processes
    on loopback, shut down on exit."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: another cluster may hold 8787
        silence_logs=40,
    ) as cluster:
        yield cluster.scheduler_address
