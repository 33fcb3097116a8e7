"""Promotion to live: policies, four-eyes, overrides, rollback, through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import Result, run_in_process
from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer

CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = {floor}
beat_live_by = 0.0
[models.risk-model.promotion]
live = "{policy}"
staging = "auto"
"""


def build_models(cli: CLI, workspace: Path, scratch: Path) -> None:
    """A new workspace with cancer@1, and risk-model@1 (one shallow tree) and risk-model@2
    (20 trees) trained on it."""
    initialise_with_cancer(cli, workspace, scratch)
    weak = RISK.replace("n_jobs=1)", "n_jobs=1, max_depth=1)")
    for source, trees in ((weak, 1), (RISK, 20)):
        write_pipelines(workspace, risk=source)
        ran = cli(
            "run", "risk", "--data", "cancer@1", "--param", f"n_estimators={trees}",
            "--register", "risk-model",
        )  # fmt: skip
        assert ran.code == 0, ran.stderr


def configure(workspace: Path, *, policy: str, floor: float = 0.5) -> None:
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + CONFIG.format(policy=policy, floor=floor))


@pytest.fixture
def with_models(
    cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates
) -> Callable[..., Path]:
    """The ``cli``'s workspace with :func:`build_models`' versions (prepared once per test
    process), under the promotion settings given."""

    def make(*, policy: str, floor: float = 0.5) -> Path:
        workspace = workspace_templates.copy("risk-models", build_models, tmp_path / "ws")
        configure(workspace, policy=policy, floor=floor)
        return workspace

    return make


def live(cli: CLI) -> int | None:
    aliases = {row["alias"]: row["version"] for row in cli("alias", "list", "--json").json()}
    return aliases.get("live")


def test_auto_promotes_a_better_candidate_and_rollback_restores(
    cli: CLI, with_models: Callable[..., Path]
) -> None:
    with_models(policy="auto")
    first = cli("promote", "risk-model@1", "--to", "live", "--json")
    assert first.code == 0, first.stderr
    assert first.json()["applied"] is True
    assert live(cli) == 1
    second = cli("promote", "risk-model@2", "--to", "live", "--json")
    assert second.code == 0, second.stderr
    beat = next(r for r in second.json()["report"]["results"] if r["gate"] == "beat_live")
    assert beat["verdict"] == "pass"
    assert beat["figure"] > 0
    assert live(cli) == 2
    # Version 1 is worse than live now: refused, with the figures, and live unchanged.
    worse = cli("promote", "risk-model@1", "--to", "live")
    assert worse.code == 1
    assert "beat_live" in worse.stderr
    assert live(cli) == 2

    rolled = cli("rollback", "risk-model", "--json")
    assert rolled.code == 0, rolled.stderr
    assert (rolled.json()["from_version"], rolled.json()["to_version"]) == (2, 1)
    assert live(cli) == 1
    again = cli("rollback", "risk-model")
    assert again.code == 6
    assert "no earlier version" in again.stderr
    actions = [e["action"] for e in cli("audit", "log", "--limit", "100", "--json").json()]
    for action in (
        "promotion.requested",
        "promotion.refused",
        "promotion.rolled_back",
        "alias.moved",
        "gates.checked",
    ):
        assert action in actions
    assert cli("audit", "verify").code == 0


def test_four_eyes_needs_another_approver(
    cli: CLI, with_models: Callable[..., Path], tmp_path: Path
) -> None:
    workspace = with_models(policy="four-eyes")
    approver = cli("tokens", "create", "--user", "bob", "--role", "approver", "--json").json()
    viewer = cli("tokens", "create", "--user", "val", "--role", "viewer", "--json").json()
    requested = cli("promote", "risk-model@2", "--to", "live", "--json")
    assert requested.code == 0, requested.stderr
    assert requested.json()["applied"] is False
    pending = cli("promotions", "list", "--status", "pending", "--json").json()
    assert [(p["version"], p["alias"], p["policy"]) for p in pending] == [(2, "live", "four-eyes")]
    assert live(cli) is None

    by_author = cli("approve", "risk-model@2", "--to", "live")
    assert by_author.code == 7
    assert "four-eyes" in by_author.stderr
    by_viewer = cli("approve", "risk-model@2", extra_env={"PATHTOLIVE_TOKEN": viewer["secret"]})
    assert by_viewer.code == 7
    # A name typed into PATHTOLIVE_USER is no second pair of eyes, even bob's.
    by_name = cli("approve", "risk-model@2", extra_env={"PATHTOLIVE_USER": "bob"})
    assert by_name.code == 7
    assert "without a token" in by_name.stderr
    # Nor is the author under another spelling, with a token of her own.
    other_ada = cli("tokens", "create", "--user", "ADA", "--role", "approver", "--json").json()
    by_ada = cli("approve", "risk-model@2", extra_env={"PATHTOLIVE_TOKEN": other_ada["secret"]})
    assert by_ada.code == 7
    assert "ADA trained it" in by_ada.stderr
    assert live(cli) is None

    approved = cli(
        "approve",
        "risk-model@2",
        "--to",
        "live",
        "--comment",
        "looks good",
        extra_env={"PATHTOLIVE_TOKEN": approver["secret"]},
    )
    assert approved.code == 0, approved.stderr
    assert live(cli) == 2
    done = cli("promotions", "list", "--json").json()[0]
    assert done["status"] == "applied"
    assert done["decided_by"] == "bob"
    assert [a["decision"] for a in done["approvals"]] == ["refused"] * 3 + ["approved"]
    events = cli("audit", "log", "--action", "promotion.approval_refused", "--json").json()
    # Newest first: the author, bob by name only, the author by another spelling.
    assert [e["actor"] for e in events] == ["ADA", "bob", "ada"]
    assert "token_id" not in events[1]["details"]  # bob was not authenticated

    # staging is "auto": it moves at once.
    assert cli("promote", "risk-model@2", "--to", "staging", "--json").json()["applied"]

    config = workspace / "pathtolive.toml"
    config.write_text(
        config.read_text() + "[models.risk-model.card]\n"
        'intended_use = "rank test centres for inspection"\n'
        'limitations = "not for individual decisions"\n'
    )
    written = cli("models", "card", "risk-model@live", "--out", tmp_path / "cards", "--json")
    assert written.code == 0, written.stderr
    markdown = Path(written.json()["markdown"]).read_text()
    page = Path(written.json()["html"]).read_text()
    assert markdown.startswith("# Model card: risk-model@2")
    for expected in (
        "rank test centres for inspection",
        "not for individual decisions",
        "cancer@1",
        "| min_metric | pass |",
        "| beat_live |",
        "bob approved",
        "ada refused",
        "four-eyes",
        "run ",
        "mean radius",
    ):
        assert expected in markdown, expected
    from html.parser import HTMLParser

    tags: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            assert not any(name in ("src", "href") for name, _ in attrs), "not self-contained"

    Collect().feed(page)
    assert tags.count("table") >= 4
    assert "style" in tags
    # The holdout scored again: a ROC curve, a calibration plot and a confusion matrix,
    # drawn; every metric says which split it comes from.
    for chart in ("roc", "calibration", "confusion"):
        assert f'<svg class="chart {chart}"' in page, chart
    assert "Evaluation on the holdout of cancer@1: all " in page
    assert "logged by run " in markdown
    assert "holdout of cancer@1 (" in markdown
    assert "ROC AUC " in markdown


def test_failing_gates_block_unless_an_admin_overrides(
    cli: CLI, with_models: Callable[..., Path], tmp_path: Path
) -> None:
    workspace = with_models(policy="auto", floor=0.9999)
    refused = cli("promote", "risk-model@2", "--to", "live")
    assert refused.code == 1
    assert "min_metric" in refused.stderr
    assert "--override" in refused.stderr
    assert live(cli) is None
    scientist = cli("tokens", "create", "--user", "sam", "--role", "scientist", "--json").json()
    denied = cli(
        "promote",
        "risk-model@2",
        "--override",
        "hotfix",
        extra_env={"PATHTOLIVE_TOKEN": scientist["secret"]},
    )
    assert denied.code == 7
    forced = cli("promote", "risk-model@2", "--override", "regulator deadline", "--json")
    assert forced.code == 0, forced.stderr
    assert forced.json()["promotion"]["override_reason"] == "regulator deadline"
    assert live(cli) == 2
    assert cli("audit", "log", "--action", "promotion.overridden", "--json").json()
    card = cli("models", "card", "risk-model@2", "--out", tmp_path / "cards", "--json").json()
    assert "regulator deadline" in Path(card["markdown"]).read_text()

    # A version whose artifact no longer matches its hash is refused before any gate runs.
    shown = cli("models", "show", "risk-model@1", "--json").json()["version"]
    digest = shown["artifact_digest"]
    artifact = workspace / ".pathtolive" / "objects" / digest[:2] / digest[2:]
    artifact.chmod(0o644)
    artifact.write_bytes(artifact.read_bytes()[:-2] + b"!!")
    corrupt = cli("promote", "risk-model@1", "--override", "anyway")
    assert corrupt.code == 9
    assert len(corrupt.stderr.strip().splitlines()) == 1
    assert live(cli) == 2
    refusal = cli("audit", "log", "--action", "promotion.refused", "--json").json()[0]
    assert "hash" in refusal["details"]["why"]


def test_bad_promotion_requests(cli: CLI, with_models: Callable[..., Path]) -> None:
    with_models(policy="approval")
    for args, code in [
        (["promote", "risk-model@9"], 3),
        (["promote", "risk-model@2", "--to", "Bad Alias"], 4),
        (["approve", "risk-model@2"], 3),
        (["rollback", "risk-model"], 6),
        (["rollback", "nope"], 3),
        (["promotions", "withdraw", "risk-model@2"], 3),
    ]:
        result = cli(*args)
        assert result.code == code, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    requested = cli("promote", "risk-model@2", "--json")
    assert requested.json()["applied"] is False
    assert cli("promote", "risk-model@2").code == 6  # already pending
    withdrawn = cli("promotions", "withdraw", "risk-model@2", "--json")
    assert withdrawn.json()["status"] == "withdrawn"


@pytest.mark.subprocess  # the racers are real processes
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_racing_promotions_leave_one_winner(
    backend: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    request: pytest.FixtureRequest,
    workspace_templates: WorkspaceTemplates,
) -> None:
    environ = dict(cli_env)
    if backend == "postgres":
        environ["PATHTOLIVE_METADATA_URL"] = request.getfixturevalue("postgres_url")
    root = tmp_path / "ws"

    def run(*args: str) -> Result:
        if args == ("init",):
            # On the shared database the racers act as the local admin, by the admin's
            # explicit choice (else each would need a token).
            args = ("init", "--local-role", "admin")
        return run_in_process(args, cwd=root, environ=environ)

    if backend == "postgres":
        root.mkdir()
        build_models(run, root, tmp_path)
    else:  # the same models, prepared once per test process
        workspace_templates.copy("risk-models", build_models, root)
    configure(root, policy="auto")
    assert run("promote", "risk-model@1").code == 0
    write_pipelines(root, risk=RISK)
    assert (
        run(
            "run",
            "risk",
            "--data",
            "cancer@1",
            "--param",
            "n_estimators=21",
            "--register",
            "risk-model",
        ).code
        == 0
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "pathtolive", "promote", f"risk-model@{v}"],
            cwd=root,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (2, 3)
    ]
    codes = []
    for racer in racers:
        _, stderr = racer.communicate(timeout=300)
        codes.append((racer.returncode, stderr))
    assert sorted(code for code, _ in codes) == [0, 6], codes
    loser = next(stderr for code, stderr in codes if code == 6)
    assert "promote again" in loser
    history = run("models", "show", "risk-model@live", "--json").json()["alias_history"]
    live_moves = [(h["from_version"], h["to_version"]) for h in history if h["alias"] == "live"]
    winner = live_moves[-1][1]
    assert live_moves == [(None, 1), (1, winner)]
    assert winner in (2, 3)
    assert run("audit", "verify").code == 0
