"""kill -9 the server while it answers and logs under load: every prediction whose answer
reached a client is in the log after the restart, once.

The bound is "acknowledged": a prediction is journaled (one write to the kernel) before
its answer is sent, so a killed process loses nothing it answered; a request cut off by
the kill may or may not be logged. Surviving power loss as well needs
``[serve] log_fsync = true``."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from pathtolive import Workspace, env
from pathtolive.predlog import JOURNAL_SUFFIX
from pathtolive.service.predictions import read_prediction_log
from tests.reliability.checks import report_figures
from tests.support.serving import cli_environ, make_served_workspace, running_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability-crash")]

CLIENTS = 4


def _log(root: Path, environ: dict[str, str]) -> pd.DataFrame:
    with Workspace.open(root, environ=environ) as ws:
        return read_prediction_log(ws.context, "risk")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_server_killed_under_load_loses_no_acknowledged_prediction(
    tmp_path: Path, encrypted: bool
) -> None:
    served = make_served_workspace(tmp_path / "ws")
    config = served.root / "pathtolive.toml"
    # Flush often, so the kill lands among stored segments, and hash a PII column, so the
    # replayed rows must carry the same hashes as the flushed ones.
    config.write_text(
        config.read_text() + '\n[serve]\nlog_flush_seconds = 1.0\npii_columns = ["region"]\n'
    )
    environ = cli_environ(**{env.PII_SALT: "pepper"})
    if encrypted:  # segments and the journal sealed: the replay needs the key
        config.write_text(config.read_text() + "\n[security]\nencrypt = true\n")
        environ[env.KEK] = base64.b64encode(bytes(range(32))).decode()
    rows: list[dict[str, Any]] = json.loads(served.features(20).to_json(orient="records"))
    acked: list[str] = []
    refused: list[str] = []
    cut_off = [0]
    stop = threading.Event()
    journal = served.root / ".pathtolive" / "journal"

    with running_server(served.root, environ=environ) as server:
        url = f"{server.url}/v1/models/risk:predict"

        def client(number: int) -> None:
            with httpx.Client(timeout=30) as http:
                sent = 0
                while not stop.is_set():
                    request_id = f"client{number}-{sent}"
                    body = {"instances": [rows[sent % len(rows)]]}
                    sent += 1
                    try:
                        answer = http.post(url, json=body, headers={"x-request-id": request_id})
                    except httpx.TransportError:
                        cut_off[0] += 1  # the server died under this request
                        return
                    if answer.status_code == 200:
                        acked.append(request_id)
                    else:
                        refused.append(f"{answer.status_code} {answer.text[:200]}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        # Past a few flushes, then mid-stream.
        while (len(acked) < 600 or time.monotonic() < deadline - 27) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)
        server.process.kill()  # SIGKILL: no shutdown, no final flush
        server.process.wait(30)
        killed_at = len(acked)
        stop.set()
        for thread in threads:
            thread.join(60)

    assert refused == []
    assert killed_at >= 200, "too few answers before the kill to mean anything"
    # Usually some answered rows wait in the journal (none only when the kill fell
    # between a flush taking the buffer and the next request; test_journal.py covers
    # replay deterministically).
    left = sorted(journal.glob(f"*{JOURNAL_SUFFIX}"))
    if encrypted:  # sealed: no request id readable in what the kill left
        assert all(b"client" not in path.read_bytes() for path in left)
    flushed_before = len(_log(served.root, environ))

    restart_started = time.monotonic()
    with running_server(served.root, environ=environ):
        ready_after = time.monotonic() - restart_started
    log = _log(served.root, environ)

    logged = set(log["request_id"])
    lost = [request_id for request_id in acked if request_id not in logged]
    duplicates = int(log.duplicated(["request_id", "row", "role"]).sum())
    assert lost == []
    assert duplicates == 0
    assert list(journal.glob(f"*{JOURNAL_SUFFIX}")) == []
    # Replayed rows look like flushed ones: the same types, the same PII hashes.
    assert str(log["input.age"].dtype) == "int64"
    sent = log["request_id"].str.split("-").str[1].astype(int) % len(rows)
    region = sent.map(lambda index: rows[index]["region"])
    hashes = log["input.region"].groupby(region).nunique()
    assert (hashes == 1).all(), hashes
    assert log["input.region"].nunique() == region.nunique()
    assert not set(log["input.region"]) & {r["region"] for r in rows}
    with Workspace.open(served.root, environ=environ) as ws:
        started = [e for e in ws.audit_log(limit=None) if e.action == "serve.started"]
    recovered = started[0].details.get("recovered", {"rows": 0, "duplicate_rows": 0})
    if left:  # a journal file exists only once a line was written to it
        assert recovered["rows"] + recovered["duplicate_rows"] > 0
    assert recovered["rows"] == len(log) - flushed_before

    report_figures(
        "crash_serving_encrypted" if encrypted else "crash_serving",
        {
            "clients": CLIENTS,
            "acknowledged": len(acked),
            "requests_cut_off_by_the_kill": cut_off[0],
            "rows_flushed_before_the_kill": flushed_before,
            "journal_files_left": len(left),
            "rows_replayed_at_restart": recovered["rows"],
            "rows_already_in_the_log": recovered["duplicate_rows"],
            "acknowledged_rows_lost": len(lost),
            "duplicate_rows": duplicates,
            "restart_to_ready_s": round(ready_after, 2),
        },
        tmp_path,
    )
