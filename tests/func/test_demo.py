"""``pathtolive demo`` end to end, as ``make demo`` runs it: the five acts in a workspace
that is kept, with the registry, the audit trail and the files on disk checked
afterwards through the Python API, and no server left behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.demo import garage
from pathtolive.service import promotion as promotion_service


def test_the_garage_data_is_seeded_and_changes_when_documented() -> None:
    first = garage.simulate(garages=40, seed=1).frame
    pd.testing.assert_frame_equal(first, garage.simulate(garages=40, seed=1).frame)
    assert not first.equals(garage.simulate(garages=40, seed=2).frame)

    before = first[first["month"] < garage.CHANGE_MONTH]
    after = first[first["month"] >= garage.CHANGE_MONTH]
    assert set(before["region"]) <= set(garage.REGIONS)
    assert garage.NEW_REGION in set(after["region"])
    assert before["ev_share"].isna().all()
    assert after["ev_share"].notna().mean() > 0.8
    assert after["fail_rate_emissions"].mean() > 1.5 * before["fail_rate_emissions"].mean()
    assert set(before[garage.TARGET]) == {0, 1}

    year = garage.GarageData(first).months("2023-01-01", "2023-12-01")
    assert "ev_share" not in year.columns
    assert list(year.index) == list(range(len(year)))
    assert year["garage_id"].nunique() == 40


def _serving_processes(port: int) -> list[str]:
    """Command lines of live processes serving on ``port`` (Linux: from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if b"serve" in args and str(port).encode() in args and b"pathtolive" in args:
            found.append(b" ".join(args).decode(errors="replace"))
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.subprocess  # the demo starts its own servers
@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_demo_plays_the_whole_path_to_live(tmp_path: Path, cli_env: dict[str, str]) -> None:
    workspace = tmp_path / "garage-demo"
    completed = subprocess.run(
        [sys.executable, "-m", "pathtolive", "demo", "--fast", "--json", "-w", str(workspace)],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    summary = json.loads(completed.stdout)
    story = completed.stderr

    # The narrative: every act, with its figures.
    for act in (
        "1/5 · A year of garage tests",
        "2/5 · Version 1, its contract, training, gates, live",
        "3/5 · Live: the server, traffic, an explanation",
        "4/5 · The world drifts; the loop closes",
        "5/5 · Monitoring, audit, lineage, model card",
    ):
        assert act in story
    for line in (
        "ada adds garage-months@1",
        "Is the bespoke model worth it?",
        "And its upkeep: +",
        "maria approves: garage-risk@1 is live.",
        "shap.TreeExplainer",
        "features drift",
        "Refused by the strict contract of version 1",
        "The change is classified compatible",
        "awaits approval for live (four-eyes)",
        "Hot swap:",
        "the loop is closed",
        "Audit chain intact",
        "The lineage of garage-risk@live",
    ):
        assert line in story, line

    # The figures: the gates passed, drift was found, the swap failed no request.
    assert summary["release"]["gates_passed"] is True
    assert summary["release"]["baseline_difference"] > 0
    assert 0 < summary["release"]["monthly_cost"] < 50
    assert "over the 'logistic' baseline" in summary["release"]["worth_it"][0]
    assert "a month" in summary["release"]["worth_it"][0]
    assert summary["serving"]["failed"] == 0
    assert "fail_rate_emissions" in summary["drift"]["drifted"]
    assert summary["drift"]["decayed"] is True
    assert summary["retrain"]["schema_change"] == "compatible"
    assert summary["retrain"]["live_difference"] > 0
    swap = summary["swap"]
    assert swap["failed"] == 0
    assert swap["by_old"] > 0
    assert swap["by_new"] > 0
    assert swap["live"] == "garage-risk@2"
    assert summary["proof"]["audit_ok"] is True
    assert summary["proof"]["alerts_open"] == []

    # The registry and the audit trail say the same.
    with Workspace.open(workspace, environ=cli_env) as ws:
        [model] = ws.models()
        assert model.name == "garage-risk"
        assert model.latest_version == 2
        assert ws.model("garage-risk@live").version == 2
        assert [(v.version, v.validation_status) for v in ws.versions("garage-months")] == [
            (1, "inferred"),
            (2, "accepted"),
        ]
        promotions = promotion_service.list_promotions(ws.context, model="garage-risk")
        assert sorted((p.version, p.status, p.policy) for p in promotions) == [
            (1, "applied", "four-eyes"),
            (2, "applied", "four-eyes"),
        ]
        for promotion in promotions:
            assert [(a.approver, a.decision) for a in promotion.approvals] == [
                ("maria@garage-authority", "approved")
            ]
        report = ws.verify_audit()
        assert report.ok, report.problem
        assert report.checked == summary["proof"]["audit_events"]
        assert ws.audit_log(subject="server:", limit=None)[0].action == "serve.stopped"

    # The files it names are there.
    paths = summary["paths"]
    assert Path(paths["workspace"]) == workspace.resolve()
    for key in ("model_card", "model_card_markdown", "monitoring_report", "drift_report"):
        path = Path(paths[key])
        assert path.is_file(), key
        assert path.parent == workspace.resolve() / "reports"
    assert "garage-risk@2" in Path(paths["model_card_markdown"]).read_text(encoding="utf-8")
    assert Path(paths["monitoring_report"]).read_text(encoding="utf-8").startswith("<!DOCTYPE")

    # No server is left behind.
    port = urlsplit(summary["serving"]["url"]).port
    assert port is not None
    assert not _listening(port)
    if Path("/proc").is_dir():
        assert _serving_processes(port) == []
