"""The server under 50 concurrent clients for 12 s while `pathtolive alias set` moves
``live`` between two versions every 2.5 s: no 5xx, no transport error, every answered
prediction logged once after a clean stop, and memory flat (a leak check: the server's
resident set at the end is within 200 MB of the start; not a timing threshold).

The figures (requests, failures, rows lost, RSS) are printed as one ``RELIABILITY`` JSON
line (``pytest -s``) and recorded in benchmarks/RESULTS.md, from longer runs:
``PTL_LOAD_SECONDS=30`` (or 120, a longer leak check) with ``PTL_SWAP_EVERY=5``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pathtolive import Workspace
from pathtolive.service.predictions import read_prediction_log
from tests.reliability.checks import report_figures, vm_rss_mb
from tests.support.serving import cli_environ, make_served_workspace, running_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability-load")]

CLIENTS = 50
SECONDS = float(os.environ.get("PTL_LOAD_SECONDS", "12"))
SWAP_EVERY = float(os.environ.get("PTL_SWAP_EVERY", "2.5"))
WARM_UP = 3.0
RSS_EVERY = 3.0
LEAK_BOUND_MB = 200


@dataclass
class Load:
    acked: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    answered_by: Counter[str] = field(default_factory=Counter)
    transport_errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    swaps: list[tuple[float, str, int]] = field(default_factory=list)
    rss_warm_mb: float = 0.0
    rss_samples_mb: list[int] = field(default_factory=list)
    seconds: float = 0.0


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request_id: str, body: bytes
) -> tuple[int, dict[bytes, bytes]]:
    """One keep-alive HTTP/1.1 POST and its answer's status and headers."""
    writer.write(
        b"POST /v1/models/risk:predict HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s\r\n\r\n%s"
        % (len(body), request_id.encode(), body)
    )
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return int(status_line.split()[1]), headers


async def _load(url: str, rows: list[dict[str, Any]], pid: int, root: Path) -> Load:
    """50 clients, each on its own keep-alive connection, sending one-row predictions back
    to back (a minimal HTTP/1.1 client: httpx's own per-request cost would make the
    client, not the server, the bottleneck on two cores)."""
    load = Load()
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = started + SECONDS
    host, port = url.removeprefix("http://").split(":")
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]

    async def client(number: int) -> None:
        sent = 0
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while loop.time() < end:
                request_id = f"c{number}-{sent}"
                body = bodies[(number + sent) % len(bodies)]
                sent += 1
                began = time.perf_counter()
                try:
                    status, headers = await _post(reader, writer, request_id, body)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
                    load.transport_errors.append(f"{request_id}: {exc!r}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    continue
                load.latencies.append(time.perf_counter() - began)
                load.statuses[status] += 1
                if status == 200:
                    load.acked.append(request_id)
                    load.answered_by[headers[b"x-model-name"].decode()] += 1
        finally:
            writer.close()

    async def swapper() -> None:
        target = 2
        moment = SWAP_EVERY
        while moment < SECONDS:
            await asyncio.sleep(max(0.0, started + moment - loop.time()))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pathtolive", "alias", "set", f"risk@{target}", "live",
                "--override", "load test", cwd=root, env=cli_environ(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            code = await process.wait()
            load.swaps.append((round(loop.time() - started, 1), f"risk@{target}", code))
            target = 3 - target
            moment += SWAP_EVERY

    async def watch_rss() -> None:
        await asyncio.sleep(WARM_UP)
        load.rss_warm_mb = vm_rss_mb(pid)
        while loop.time() < end:
            load.rss_samples_mb.append(round(vm_rss_mb(pid)))
            await asyncio.sleep(max(0.0, min(RSS_EVERY, end - loop.time())))

    await asyncio.gather(*(client(n) for n in range(CLIENTS)), swapper(), watch_rss())
    load.seconds = loop.time() - started
    return load


def test_fifty_clients_through_hot_swaps(tmp_path: Path) -> None:
    served = make_served_workspace(tmp_path / "ws")
    rows: list[dict[str, Any]] = json.loads(served.features(50).to_json(orient="records"))
    with running_server(served.root) as server:
        pid = server.process.pid
        rss_start = vm_rss_mb(pid)
        load = asyncio.run(_load(server.url, rows, pid, served.root))
        rss_end = vm_rss_mb(pid)
    assert server.process.returncode == 0, server.stderr()  # stopped cleanly (SIGINT)

    with Workspace.open(served.root) as ws:
        log = read_prediction_log(ws.context, "risk")
    logged = Counter(log["request_id"])
    lost = [request_id for request_id in load.acked if request_id not in logged]
    duplicated = sum(count - 1 for count in logged.values())
    server_errors = sum(count for status, count in load.statuses.items() if status >= 500)
    latencies = np.array(load.latencies) * 1000
    figures = {
        "clients": CLIENTS,
        "seconds": round(load.seconds, 1),
        "requests": sum(load.statuses.values()) + len(load.transport_errors),
        "answered_200": len(load.acked),
        "requests_per_s": round(len(load.acked) / load.seconds),
        "client_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "client_p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "statuses": dict(load.statuses),
        "server_errors_5xx": server_errors,
        "transport_errors": len(load.transport_errors),
        "swaps": load.swaps,
        "answered_by": dict(load.answered_by),
        "log_rows": len(log),
        "rows_lost": len(lost),
        "rows_duplicated": duplicated,
        "rss_start_mb": round(rss_start, 1),
        "rss_after_warm_up_mb": round(load.rss_warm_mb, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_every_3_s_mb": load.rss_samples_mb,
    }
    report_figures("load", figures, tmp_path)

    assert load.transport_errors == [], load.transport_errors[:5]
    assert set(load.statuses) == {200}, load.statuses
    assert [code for _, _, code in load.swaps] == [0] * len(load.swaps)
    assert len(load.swaps) == int((SECONDS - 0.001) // SWAP_EVERY)
    assert set(load.answered_by) == {"risk@1", "risk@2"}  # the swaps reached the clients
    assert lost == []
    assert duplicated == 0
    assert len(log) == len(load.acked)
    assert rss_end < rss_start + LEAK_BOUND_MB
