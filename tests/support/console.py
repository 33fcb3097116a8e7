"""A workspace prepared for the web console, as the demo leaves one: two model versions
(one live, with two days of logged traffic and feedback, monitored as
``pathtolive monitor --every 1d --count 3`` stores it), a pending four-eyes promotion,
open drift alerts, a refused data version, and a token per role; built through the
in-process CLI as ``ada``, who trains both versions."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from pathtolive.config import DEFAULT_METADATA_URL
from tests.support.cli import Result, run_in_process
from tests.support.environ import without_settings
from tests.support.pipelines import RISK, write_pipelines
from tests.support.serving import free_port

__all__ = [
    "MODEL",
    "SCRIPT",
    "ConsoleWorkspace",
    "build_console_workspace",
    "console_environ",
    "console_in_thread",
    "copy_console_workspace",
]

MODEL = "risk-model"
SCRIPT = '<script>alert("pwned")</script>'
"""A text from data that must render as text wherever it shows."""

_CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = 0.5
beat_live_by = 0.0
[models.risk-model.promotion]
live = "{policy}"
staging = "auto"
"""


@dataclass(frozen=True)
class ConsoleWorkspace:
    root: Path
    tokens: dict[str, str]
    """Token secrets by principal: ``ada`` (approver, the author), ``sam`` (scientist,
    the requester), ``maria`` (approver), ``val`` (viewer), ``root`` (admin)."""


def console_environ(**extra: str) -> dict[str, str]:
    """The environment without PATHTOLIVE_* settings, acting as the local user ``ada``."""
    environ = without_settings()
    environ[env.USER] = "ada"
    environ.update(extra)
    return environ


PLAIN = "mean texture"
"""What stands where :data:`SCRIPT` would in a workspace built ``plain``."""


def build_console_workspace(
    root: Path, scratch: Path, *, metadata_url: str | None = None, plain: bool = False
) -> ConsoleWorkspace:
    """The prepared workspace at ``root``; with ``metadata_url`` (an empty PostgreSQL
    schema) its metadata lives there, named in its ``pathtolive.toml`` so that whoever
    opens ``root`` finds it, with ``[auth] local_role`` set so the local user acts
    without a token as on SQLite. (Such a workspace cannot be copied: copies would share
    the database.) ``plain``: no text made to test escaping (for pictures of the pages):
    the refused value, the promotion's reason and the second drifted feature are
    ordinary."""
    bait = PLAIN if plain else SCRIPT
    root.mkdir(parents=True)
    scratch.mkdir(parents=True, exist_ok=True)

    def cli(*args: str | Path, token: str | None = None) -> Result:
        extra = {env.TOKEN: token} if token else {}
        result = run_in_process(args, cwd=root, environ=console_environ(**extra))
        assert result.code == 0, f"{args}: {result.stderr}"
        return result

    if metadata_url is None:
        cli("init")
    else:
        shared = run_in_process(
            ["init", "--local-role", "admin"],
            cwd=root,
            environ=console_environ(**{env.METADATA_URL: metadata_url}),
        )
        assert shared.code == 0, shared.stderr
        _name_metadata(root / "pathtolive.toml", metadata_url)
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(scratch / "cancer.csv", index=False)
    cli("data", "add", scratch / "cancer.csv", "--name", "cancer", "--tag", "target=target")
    # A version the contract refuses: a text column where numbers were, named to test
    # escaping.
    refused = frame.head(50).copy()
    refused["mean radius"] = bait
    refused.to_csv(scratch / "refused.csv", index=False)
    refusal = run_in_process(
        ["data", "add", scratch / "refused.csv", "--name", "cancer"],
        cwd=root,
        environ=console_environ(),
    )
    assert refusal.code != 0, "the contract should refuse a text column"
    weak = RISK.replace("n_jobs=1)", "n_jobs=1, max_depth=1)")
    for source, trees in ((weak, 1), (RISK, 60)):
        write_pipelines(root, risk=source)
        cli("run", "risk", "--data", "cancer@1", "--param", f"n_estimators={trees}",
            "--register", MODEL)  # fmt: skip
    config = root / "pathtolive.toml"
    base = config.read_text()
    config.write_text(base + _CONFIG.format(policy="auto"))
    cli("promote", f"{MODEL}@1", "--to", "live")
    _log_traffic(root, frame)
    cli("monitor", MODEL, "--every", "1d", "--count", "3")
    config.write_text(base + _CONFIG.format(policy="four-eyes"))
    tokens = {
        name: cli("tokens", "create", "--user", name, "--role", role, "--json").json()["secret"]
        for name, role in (
            ("ada", "approver"),
            ("sam", "scientist"),
            ("maria", "approver"),
            ("val", "viewer"),
            ("root", "admin"),
        )
    }
    reason = "more trees: a better ROC AUC on the test split" if plain else SCRIPT
    cli("promote", f"{MODEL}@2", "--to", "live", "--reason", reason, token=tokens["sam"])
    _raise_drift_alerts(root, bait)
    return ConsoleWorkspace(root, tokens)


def copy_console_workspace(template: ConsoleWorkspace, root: Path) -> ConsoleWorkspace:
    """A copy of a SQLite ``template`` at ``root``: a workspace of its own (its store
    paths are relative to its folder)."""
    shutil.copytree(template.root, root)
    return ConsoleWorkspace(root, template.tokens)


def _name_metadata(config: Path, metadata_url: str) -> None:
    """Name ``metadata_url`` in the workspace file (no environment variable to carry)."""
    text = config.read_text()
    default = f'metadata = "{DEFAULT_METADATA_URL}"'
    assert default in text, "init no longer writes the default metadata URL"
    config.write_text(text.replace(default, f"metadata = {json.dumps(metadata_url)}"))


TRAFFIC_ROWS = 150
"""Rows of live traffic logged on each of the last two days: fewer than the 500 a drift
verdict needs by default, so the heat map shows figures and no alert opens."""


def _log_traffic(root: Path, frame: Any) -> None:
    """Two days of the live version's answers to rows of its training data, with their
    labels as feedback, logged as the server logs them."""
    from pathtolive import Workspace
    from pathtolive.predlog import PredictionLogger, PredictionRecord
    from pathtolive.service.predictions import StoreSegmentSink, record_feedback_many
    from pathtolive.service.servables import load_servable

    now = datetime.now(UTC)
    with Workspace.open(root) as ws:
        ctx = ws.context
        servable = load_servable(ctx, MODEL, 1)
        inputs = list(servable.signature.input_names)
        logger = PredictionLogger(StoreSegmentSink(ctx))
        labels: list[tuple[str, Any, int]] = []
        for day in (1, 0):
            rows = frame.sample(TRAFFIC_ROWS, random_state=day).reset_index(drop=True)
            proba = servable.model.predict_proba(rows[inputs])
            assert proba is not None
            request = f"day-{day}"
            logger.log(
                PredictionRecord(
                    request_id=request,
                    at=now - timedelta(days=day, hours=1),
                    model=MODEL,
                    version=1,
                    trained_on=servable.trained_on,
                    protocol="v1",
                    role="live",
                    latency_ms=1.0,
                    inputs=rows[inputs],
                    outputs=[[float(a), float(b)] for a, b in proba],
                )
            )
            labels += [(request, int(label), row) for row, label in enumerate(rows["target"])]
        logger.close()
        record_feedback_many(ctx, labels, model=MODEL)


def _raise_drift_alerts(root: Path, second: str) -> None:
    """Open drift alerts as monitoring would (serving traffic to drift is another
    suite's subject)."""
    from pathtolive import Workspace

    with Workspace.open(root) as ws, ws.context.metadata.write() as session:
        now = datetime.now(UTC)
        for feature, psi in (("mean radius", 0.41), (second, 0.33)):
            session.raise_alert(
                MODEL,
                "drift",
                f"drift:{feature}",
                f"drift in {feature}: psi {psi} >= 0.2",
                {"feature": feature, "psi": psi},
                at=now,
            )


@contextmanager
def console_in_thread(root: Path, **settings: Any) -> Iterator[httpx.Client]:
    """The console app of ``root`` on uvicorn in a thread of this process, on a free
    loopback port, with :class:`~pathtolive.ui.console.ConsoleSettings` ``settings``
    (``host`` only decides the access mode: the socket is on 127.0.0.1); a client that
    keeps cookies and does not follow redirects."""
    import uvicorn

    from pathtolive.service.workspace import open_workspace
    from pathtolive.serving.server import GracefulServer
    from pathtolive.ui.console import ConsoleSettings, create_console

    ctx = open_workspace(root, environ=console_environ())
    port = free_port()
    config = uvicorn.Config(
        create_console(ctx, ConsoleSettings(port=port, **settings)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
    server = GracefulServer(config)
    thread = threading.Thread(target=server.run, name=f"console-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
            deadline = time.monotonic() + 60
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise AssertionError("the console did not start")
                time.sleep(0.02)
            yield client
    finally:
        server.should_exit = True
        thread.join(60)
        ctx.close()
