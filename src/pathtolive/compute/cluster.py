"""Finding and joining the Dask cluster.

``distributed`` is an optional extra (``pip install 'pathtolive[dask]'``) imported only
when a cluster is asked for, so commands that run in-process never pay for it."""

from __future__ import annotations

import socket
import threading
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
    if _refused(address, timeout):
        # Nothing listens there: Dask would retry for the whole timeout, to no end.
        raise ClusterUnavailableError(
            f"the Dask scheduler at {address} did not answer: nothing listens there "
            "(connection refused); check that it runs and the address, or leave out "
            "--scheduler to run here"
        )
    try:
        client = _client_within(Client, address, timeout)
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


def _client_within(client_type: Any, address: str, timeout: float) -> Client:
    """``Client(address)``, or :class:`TimeoutError` once ``timeout`` has passed. Dask's
    own timeout does not cover every wait: a peer that accepts the connection and never
    speaks (another service on that port, a proxy) held it for minutes. The thread left
    behind then ends with the process."""
    made: list[Client] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            made.append(client_type(address, timeout=timeout, set_as_default=False))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=start, name="pathtolive-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if failed:
        raise failed[0]
    if not made:
        raise TimeoutError(f"no answer within {timeout:g} s")
    return made[0]


def _refused(address: str, timeout: float) -> bool:
    """Whether a TCP connection to ``address`` (``tcp://HOST:PORT``) is refused outright.
    Anything else (no answer yet, another scheme, a name that does not resolve) is left
    to Dask, which says so within its timeout."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        return False
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 2.0)):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
