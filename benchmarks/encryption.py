"""The cost of encryption at rest: the same work with `[security] encrypt` off and on.

Usage:  .venv/bin/python benchmarks/encryption.py [--size-mib 512] [--rounds 3]
            [--records 20000] [--seconds 5] [--quick]

In one run, alternating off and on round by round:
  * `pathtolive data add` of a Parquet file of about --size-mib MiB, a fresh workspace each
    round (a real process: hash, copy, schema, profile; with encryption, the copy is
    encrypted as it is hashed);
  * the store alone: stage_file + commit (what `data add` does: one read that copies,
    or encrypts, while it hashes) then get_file of the same file (MiB/s);
  * the prediction log's write path in process: ``PredictionLogger.log`` with its crash
    journal (plain vs sealed lines; this part runs on the request path) and the flush of
    --records records into the store (a Parquet segment, plain vs encrypted; this part
    runs on the logger's thread);
  * serving: ``pathtolive serve`` of the same model from a plain and an encrypted
    workspace (prediction log and journal on, their defaults), single-row requests on
    one keep-alive connection (p50, p99) and from 8 concurrent clients (req/s).
It prints each figure off and on, and the ratio on/off.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, measure, median

KEY = base64.b64encode(bytes(range(32))).decode()


def environ(encrypt: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
    env["PATHTOLIVE_USER"] = "bench"
    if encrypt:
        env["PATHTOLIVE_KEK"] = KEY
    return env


def pathtolive(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "pathtolive", *map(str, args)]


def new_workspace(encrypt: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="ptl-enc-", dir=WORK))
    subprocess.run(pathtolive("init", root), check=True, env=environ(encrypt), capture_output=True)
    if encrypt:
        with (root / "pathtolive.toml").open("a") as handle:
            handle.write("\n[security]\nencrypt = true\n")
    return root


def make_parquet(path: Path, size_mib: int) -> Path:
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    rows = 250_000
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    try:
        while True:
            batch = {f"x{i}": rng.normal(i, 1 + i, rows) for i in range(12)}
            batch["region"] = np.array(["north", "south", "east", "west"])[rng.integers(0, 4, rows)]
            table = pa.table(batch)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table)
            if tmp.stat().st_size >= size_mib << 20:
                break
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


# -- data add ---------------------------------------------------------------------------


def data_add(data: Path, rounds: int) -> dict[bool, list[float]]:
    times: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds + 1):  # the first round warms the page cache, discarded
        for encrypt in (False, True) if round_ % 2 == 0 else (True, False):
            root = new_workspace(encrypt)
            try:
                result = measure(
                    pathtolive("data", "add", data, "--name", "bench"),
                    cwd=root,
                    env=environ(encrypt),
                )
                if round_:
                    times[encrypt].append(result.seconds)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return times


# -- the store alone ---------------------------------------------------------------------


def store_throughput(data: Path, rounds: int) -> dict[tuple[bool, str], list[float]]:
    from pathtolive.store.artifacts import LocalArtifactStore
    from pathtolive.store.artifacts.encryption import EncryptedArtifactStore
    from pathtolive.store.artifacts.keyring import Keyring

    mib = data.stat().st_size / (1 << 20)
    speeds: dict[tuple[bool, str], list[float]] = {}
    for round_ in range(rounds + 1):  # the first round warms up, discarded
        for encrypt in (False, True) if round_ % 2 else (True, False):
            root = Path(tempfile.mkdtemp(prefix="ptl-store-", dir=WORK))
            try:
                inner = LocalArtifactStore(root / "store")
                store = (
                    EncryptedArtifactStore(inner, Keyring((bytes(range(32)),)))
                    if encrypt
                    else inner
                )
                started = time.perf_counter()
                # What `data add` does with a user's file: copy (and encrypt) while
                # hashing, in one read, then publish.
                with store.stage_file(data) as staged:
                    digest = staged.commit().digest
                put = time.perf_counter() - started
                started = time.perf_counter()
                store.get_file(digest, root / "out")
                get = time.perf_counter() - started
                if round_:
                    speeds.setdefault((encrypt, "put"), []).append(mib / put)
                    speeds.setdefault((encrypt, "get"), []).append(mib / get)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return speeds


# -- the prediction log's write path -----------------------------------------------------


def log_path(records: int, rounds: int) -> dict[tuple[bool, str], list[float]]:
    from pathtolive.predlog import PredictionLogger, PredictionRecord
    from pathtolive.store.artifacts import LocalArtifactStore
    from pathtolive.store.artifacts.encryption import EncryptedArtifactStore
    from pathtolive.store.artifacts.keyring import Keyring

    keyring = Keyring((bytes(range(32)),))
    frame = pd.DataFrame({"age": [41], "income": [52_000.5], "region": ["NW"], "member": [True]})
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    figures: dict[tuple[bool, str], list[float]] = {}
    for round_ in range(rounds + 1):  # the first round warms up, discarded
        for encrypt in (False, True) if round_ % 2 else (True, False):
            root = Path(tempfile.mkdtemp(prefix="ptl-log-", dir=WORK))
            try:
                inner = LocalArtifactStore(root / "store")
                store = EncryptedArtifactStore(inner, keyring) if encrypt else inner
                logger = PredictionLogger(
                    lambda model, version, parquet, *_, store=store: store.put_bytes(parquet),
                    buffer_rows=records * 2,
                    flush_seconds=3600,
                    segment_rows=records * 2,
                    journal=root / "journal",
                    keyring=keyring,
                    seal_journal=encrypt,
                )
                now = datetime.now(UTC)
                started = time.perf_counter()
                for i in range(records):
                    logger.log(
                        PredictionRecord(
                            f"req-{i}",
                            now,
                            "risk",
                            1,
                            ("d@1",),
                            "v1",
                            "live",
                            1.0,
                            frame,
                            [[0.4, 0.6]],
                            columns,
                        )
                    )
                logged = time.perf_counter() - started
                started = time.perf_counter()
                logger.flush()
                flushed = time.perf_counter() - started
                logger.close()
                if round_:
                    figures.setdefault((encrypt, "log"), []).append(logged / records * 1e6)
                    figures.setdefault((encrypt, "flush"), []).append(flushed * 1000)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return figures


# -- serving -----------------------------------------------------------------------------


def serving_workspace(encrypt: bool) -> Path:
    from sklearn.ensemble import GradientBoostingClassifier

    from pathtolive import Workspace

    rng = np.random.default_rng(0)
    x = pd.DataFrame({f"f{i}": rng.normal(size=2000) for i in range(20)})
    y = (x["f0"] + rng.normal(size=2000) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=50, random_state=0).fit(x, y)
    root = new_workspace(encrypt)
    with Workspace.open(root, environ=environ(encrypt)) as ws:
        ws.set_alias(
            ws.register_model(model, name="m", sample=x.head(100)).ref,
            "live",
            override="benchmark setup",
        )
    return root


def start_server(root: Path, encrypt: bool) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        pathtolive("serve", "--host", "127.0.0.1", "--port", port),
        cwd=root,
        env=environ(encrypt),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not get ready")


BODY = {"instances": [{f"f{i}": 0.1 * i for i in range(20)}]}


def sequential(url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client() as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            response = client.post(url + "/v1/models/m:predict", json=BODY)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return latencies


def concurrent(url: str, seconds: float, clients: int = 8) -> float:
    counts = [0] * clients

    def drive(index: int) -> None:
        with httpx.Client() as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                assert client.post(url + "/v1/models/m:predict", json=BODY).status_code == 200
                counts[index] += 1

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def serving(seconds: float, rounds: int) -> dict[tuple[bool, str], list[float]]:
    servers = {}
    roots = []
    figures: dict[tuple[bool, str], list[float]] = {}
    try:
        for encrypt in (False, True):
            root = serving_workspace(encrypt)
            roots.append(root)
            servers[encrypt] = start_server(root, encrypt)
        for encrypt in (False, True):  # warm-up
            sequential(servers[encrypt][1], 1.0)
        for round_ in range(rounds):
            for encrypt in (False, True) if round_ % 2 == 0 else (True, False):
                url = servers[encrypt][1]
                latencies = sorted(sequential(url, seconds))
                figures.setdefault((encrypt, "p50"), []).append(statistics.median(latencies) * 1000)
                figures.setdefault((encrypt, "p99"), []).append(
                    latencies[int(len(latencies) * 0.99) - 1] * 1000
                )
                figures.setdefault((encrypt, "rps"), []).append(concurrent(url, seconds))
    finally:
        for process, _ in servers.values():
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    return figures


# -- report ------------------------------------------------------------------------------


def row(what: str, off: float, on: float, unit: str, digits: int = 2) -> str:
    return f"| {what} | {off:,.{digits}f} {unit} | {on:,.{digits}f} {unit} | {on / off:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.size_mib, args.rounds, args.records, args.seconds = 64, 1, 2000, 1.5
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    data = make_parquet(WORK / f"enc-{args.size_mib}mib.parquet", args.size_mib)
    size = data.stat().st_size / (1 << 20)

    print(f"data add of {size:.0f} MiB ...", flush=True)
    added = data_add(data, args.rounds)
    print("store put/get ...", flush=True)
    store = store_throughput(data, args.rounds)
    print("prediction log ...", flush=True)
    logged = log_path(args.records, args.rounds)
    print("serving ...", flush=True)
    served = serving(args.seconds, args.rounds)
    load_after = os.getloadavg()

    lines = [
        f"Machine: {machine()}, Python {sys.version.split()[0]}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f}; medians of {args.rounds} "
        "alternating rounds.",
        "",
        "| what | encrypt off | encrypt on | on / off |",
        "| --- | ---: | ---: | ---: |",
    ]
    added_by = {(encrypt, "add"): times for encrypt, times in added.items()}
    # (what, figures, key, unit, digits)
    table = [
        (f"`data add`, {size:.0f} MiB Parquet (median s)", added_by, "add", "s", 2),
        ("store: stage + commit a file (MiB/s)", store, "put", "MiB/s", 0),
        ("store: get_file (MiB/s)", store, "get", "MiB/s", 0),
        ("`PredictionLogger.log` with its journal (us/record)", logged, "log", "us", 1),
        (f"flush of {args.records:,} records (ms, logger thread)", logged, "flush", "ms", 1),
        ("serve, 1 client, p50 (ms)", served, "p50", "ms", 2),
        ("serve, 1 client, p99 (ms)", served, "p99", "ms", 2),
        ("serve, 8 clients (req/s)", served, "rps", "req/s", 0),
    ]
    lines += [
        row(what, median(figures[False, key]), median(figures[True, key]), unit, digits)
        for what, figures, key, unit, digits in table
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
