"""Finding and joining the Dask cluster.

``distributed`` is an optional extra (``pip install 'pathtolive[dask]'``) imported only
when a cluster is asked for, so commands that run in-process never pay for it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pathtolive import env
from pathtolive.errors import ClusterUnavailableError, ConfigError, MissingExtraError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CONNECT_TIMEOUT_SECONDS", "connect", "scheduler_address"]

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long joining a scheduler may take before the command says it is unreachable."""

_INSTALL_HINT = "install the extra: pip install 'pathtolive[dask]'"


def scheduler_address(
    flag: str | None, document: Mapping[str, Any], environ: Mapping[str, str]
) -> str | None:
    """The scheduler work is sent to (flag > ``PATHTOLIVE_DASK_SCHEDULER`` >
    ``[compute] scheduler``), or None to run in this process."""
    if flag:
        return flag
    if environ.get(env.DASK_SCHEDULER):
        return environ[env.DASK_SCHEDULER]
    compute = document.get("compute", {})
    address = compute.get("scheduler") if isinstance(compute, Mapping) else None
    if address is None or address == "":
        return None
    if not isinstance(address, str):
        raise ConfigError(
            f"compute.scheduler = {address!r} is not an address; write it as a string, "
            'e.g. scheduler = "tcp://10.0.0.5:8786"'
        )
    return address


@contextmanager
def connect(address: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Iterator[Client]:
    """A client of the scheduler at ``address``, closed on exit. An unreachable scheduler
    is a :class:`ClusterUnavailableError` within ``timeout`` seconds."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise MissingExtraError(
            f"running on a Dask cluster needs distributed: {_INSTALL_HINT}"
        ) from exc
    try:
        client = Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise ClusterUnavailableError(
            f"the Dask scheduler at {address} did not answer within {timeout:g} s "
            f"({type(exc).__name__}); check that it runs and that this machine can reach it, "
            "or leave out --scheduler to run here"
        ) from exc
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]
