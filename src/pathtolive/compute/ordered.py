"""Running one function over many items (partitions, log segments) here or on the
cluster, with the results taken in the items' order, so that what is merged from them is
the same wherever they ran."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pathtolive.compute.cluster import connect, scheduler_address

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["AHEAD_PER_WORKER", "cluster", "map_ordered"]

T = TypeVar("T")
R = TypeVar("R")

AHEAD_PER_WORKER = 2
"""Items in flight per worker: enough to keep every worker busy while the results are
taken in order, few enough that results waiting to be taken stay bounded."""


@contextmanager
def cluster(
    flag: str | None, document: Mapping[str, Any], environ: Mapping[str, str]
) -> Iterator[Client | None]:
    """A client of the configured cluster (see :func:`scheduler_address`), or None to
    work in this process."""
    address = scheduler_address(flag, document, environ)
    if address is None:
        yield None
        return
    with connect(address) as client:
        yield client


def map_ordered(
    function: Callable[[T], R], items: Sequence[T], client: Client | None
) -> Iterator[R]:
    """``function`` of each item, in order: here one at a time, or on the cluster of
    ``client`` with a bounded number in flight, each result released once taken. Closing
    the iterator early cancels what is still in flight."""
    if client is None:
        for item in items:
            yield function(item)
        return
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    ahead = workers * AHEAD_PER_WORKER
    # Named by the task's type, not its repr (Dask's default), which would show the
    # task's fields (a store, a schema) in the scheduler's logs and dashboard.
    name = getattr(function, "__name__", type(function).__name__)
    pending: deque[Any] = deque()
    position = 0
    try:
        while position < len(items) or pending:
            while position < len(items) and len(pending) < ahead:
                key = f"{name}-{position}-{uuid.uuid4().hex}"
                pending.append(client.submit(function, items[position], key=key))
                position += 1
            future = pending.popleft()
            result: R = future.result()
            future.release()
            yield result
    finally:
        if pending:
            client.cancel(list(pending))  # type: ignore[no-untyped-call]
