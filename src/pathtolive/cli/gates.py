"""``pathtolive gates …``: release gates of a model version."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, table
from pathtolive.cli.state import open_context
from pathtolive.errors import VerificationFailedError

__all__ = ["gates_app"]

gates_app = typer.Typer(
    help="Release gates: is a model version fit to go live?", no_args_is_help=True
)


@gates_app.command("check")
def gates_check(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The candidate, NAME@VERSION.")],
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Do not call an external baseline: judge against the answers it gave the "
            "last check of this version, read back from the artifact store.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run every gate on a candidate: a table of gate, figure, threshold and verdict, and
    the gates skipped because [models.NAME.gates] sets no threshold for them. Exit 1 if
    any gate fails. The report is kept with the model version."""
    from pathtolive.gates import REPORT_COLUMNS
    from pathtolive.service import gates as service

    report = service.check_gates(open_context(ctx), ref, offline=offline)

    def render() -> None:
        colour = "green" if report.passed else "red"
        console.print(f"[{colour}]{escape(report.summary())}[/]")
        console.print(table(None, list(REPORT_COLUMNS), report.rows()))
        note = report.skipped_note()
        if note is not None:
            console.print(escape(note))
        for line in report.cost_lines():
            console.print(escape(line))

    emit(report, as_json, render)
    if not report.passed:
        raise typer.Exit(VerificationFailedError.exit_code)
