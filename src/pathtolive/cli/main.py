"""The ``pathtolive`` (alias ``ptl``) command line.

A command parses its arguments, calls one service operation and renders the result.
Errors are one line on stderr (or a JSON object with ``--json``) and a documented exit code.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pathtolive import __version__, env
from pathtolive.cli import (
    admin,
    alerts,
    bench,
    console,
    data,
    demo,
    gates,
    models,
    monitor,
    ops,
    promotion,
    retention,
    runs,
    score,
    security,
    serve,
    watch,
)
from pathtolive.cli.help import (
    ADMIN,
    DATA,
    MONITORING,
    RELEASE,
    SERVING,
    TRAINING,
    command_tree,
    examples_epilog,
)
from pathtolive.cli.output import err_console
from pathtolive.cli.progress import mode as progress_mode
from pathtolive.cli.progress import showing_progress
from pathtolive.cli.state import GlobalOptions
from pathtolive.errors import PathToLiveError, storage_error
from pathtolive.redaction import install_log_redaction, redact, redacted_streams

__all__ = ["INTERNAL_ERROR_EXIT", "app", "run"]

INTERNAL_ERROR_EXIT = 70
INTERRUPTED_EXIT = 130
USAGE_EXIT = 2

app = typer.Typer(
    name="pathtolive",
    help="Continuous delivery for machine-learning models: from notebook to a live, "
    "monitored service.",
    no_args_is_help=True,
    epilog=examples_epilog(),
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


_NARRATING_COMMANDS = frozenset({"serve", "ui", "watch", "demo", "bench"})


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pathtolive {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace", "-w", help="Workspace folder (default: found from the current one)."
        ),
    ] = None,
    metadata_url: Annotated[
        str | None, typer.Option(help="Metadata database URL (overrides the workspace file).")
    ] = None,
    artifact_url: Annotated[
        str | None, typer.Option(help="Artifact store URL (overrides the workspace file).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    show_progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show the progress of long commands on stderr (default: on a terminal "
            "only; or PATHTOLIVE_PROGRESS=on|off).",
        ),
    ] = None,
) -> None:
    ctx.obj = GlobalOptions(workspace, metadata_url, artifact_url)
    # Commands that run until stopped or tell their own story print as they go: a
    # progress line below their output would only garble it.
    quiet = ctx.invoked_subcommand in _NARRATING_COMMANDS
    ctx.with_resource(showing_progress("off" if quiet else progress_mode(show_progress)))


# Registered group by group: the top-level help lists its panels in this order.
app.add_typer(data.app, name="data", rich_help_panel=DATA)

app.command("run", rich_help_panel=TRAINING)(runs.run)
app.add_typer(runs.runs_app, name="runs", rich_help_panel=TRAINING)
app.add_typer(models.models_app, name="models", rich_help_panel=TRAINING)
app.add_typer(models.alias_app, name="alias", rich_help_panel=TRAINING)
app.command("lineage", rich_help_panel=TRAINING)(models.lineage)

app.add_typer(gates.gates_app, name="gates", rich_help_panel=RELEASE)
app.command("promote", rich_help_panel=RELEASE)(promotion.promote)
app.command("approve", rich_help_panel=RELEASE)(promotion.approve)
app.command("rollback", rich_help_panel=RELEASE)(promotion.rollback)
app.add_typer(promotion.promotions_app, name="promotions", rich_help_panel=RELEASE)
app.command("deploy", rich_help_panel=RELEASE)(serve.deploy)

app.command("serve", rich_help_panel=SERVING)(serve.serve)
app.add_typer(score.score_app, name="score", rich_help_panel=SERVING)
app.command("ui", rich_help_panel=SERVING)(console.ui)
app.add_typer(retention.predictions_app, name="predictions", rich_help_panel=SERVING)
app.add_typer(retention.feedback_app, name="feedback", rich_help_panel=SERVING)

app.command("monitor", rich_help_panel=MONITORING)(monitor.monitor)
app.add_typer(alerts.alerts_app, name="alerts", rich_help_panel=MONITORING)
app.command("watch", rich_help_panel=MONITORING)(watch.watch)
app.command("retrain", rich_help_panel=MONITORING)(watch.retrain)
app.add_typer(watch.triggers_app, name="triggers", rich_help_panel=MONITORING)
app.add_typer(ops.ops_app, name="ops", rich_help_panel=MONITORING)

app.command("init", rich_help_panel=ADMIN)(admin.init)
app.command("demo", rich_help_panel=ADMIN)(demo.demo)
app.add_typer(admin.db_app, name="db", rich_help_panel=ADMIN)
app.add_typer(admin.audit_app, name="audit", rich_help_panel=ADMIN)
app.add_typer(admin.tokens_app, name="tokens", rich_help_panel=ADMIN)
app.add_typer(security.security_app, name="security", rich_help_panel=ADMIN)
app.command("gc", rich_help_panel=ADMIN)(admin.gc)
app.command("bench", rich_help_panel=ADMIN)(bench.bench)


def run(argv: list[str] | None = None) -> None:
    """Entry point of the console scripts: maps errors to exit codes. Everything it
    prints, logs included, goes through a stream that masks secrets."""
    with redacted_streams():
        _run(sys.argv[1:] if argv is None else argv)


def _run(args: list[str]) -> None:
    level = os.environ.get(env.LOG_LEVEL, "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING), stream=sys.stderr)
    install_log_redaction()
    as_json = "--json" in args
    try:
        # Without standalone mode click returns the code of a typer.Exit instead of exiting.
        code = command_tree(app).main(args=args, prog_name="pathtolive", standalone_mode=False)
        if code == INTERRUPTED_EXIT:
            # Typer turns Ctrl-C into this code, without a word.
            err_console.print("interrupted")
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except PathToLiveError as exc:
        _report(exc.code, exc.message, as_json)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        if exc.exit_code == INTERRUPTED_EXIT:
            err_console.print("interrupted")
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(INTERRUPTED_EXIT)
    except typer.TyperException as exc:
        # A usage error (unknown option, missing argument): click's own message, exit 2.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {escape(str(exc))}")
        sys.exit(getattr(exc, "exit_code", USAGE_EXIT))
    except Exception as exc:
        # A full disk or a read-only file system met outside the stores' own translation
        # (a work folder, a Parquet writer) is the store's condition, not a defect.
        full_or_read_only = storage_error(exc)
        if full_or_read_only is not None:
            _report(full_or_read_only.code, full_or_read_only.message, as_json)
            sys.exit(full_or_read_only.exit_code)
        if level == "DEBUG":
            # The traceback, as the interpreter would print it, without the secrets a
            # foreign library's message may carry (a database URL's password).
            sys.stderr.write(redact(traceback.format_exc()))
            sys.exit(INTERNAL_ERROR_EXIT)
        _report(
            "internal_error",
            f"unexpected {type(exc).__name__}: {exc}; rerun with "
            f"{env.LOG_LEVEL}=DEBUG for the traceback and report it",
            as_json,
        )
        sys.exit(INTERNAL_ERROR_EXIT)


def _report(code: str, message: str, as_json: bool) -> None:
    message = redact(message)
    if as_json:
        sys.stdout.write(json.dumps({"error_code": code, "message": message}) + "\n")
    err_console.print(f"[red]error[/]: {escape(message)}")
