"""``pathtolive gates …``: release gates of a model version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, table
from pathtolive.cli.state import open_context
from pathtolive.errors import VerificationFailedError

if TYPE_CHECKING:
    from pathtolive.gates import GateReport

__all__ = ["HoldoutOption", "TargetOption", "gates_app", "print_judged_on"]

HoldoutOption = Annotated[
    str | None,
    typer.Option(
        "--holdout",
        help="Judge on this dataset version (DATASET@N or DATASET@latest): for a model "
        "without a test split of its own (imported, registered by hand), or over a "
        "pipeline's split. A version the model was trained on is refused.",
    ),
]
TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="The column of the holdout the model predicts."),
]


def print_judged_on(report: GateReport) -> None:
    """The report's summary with what it was judged on: an unknown training set first."""
    judged = report.judged_lines()
    unknown = judged[:1] if judged and judged[0].startswith("Training data unknown") else []
    for line in unknown:
        console.print(f"[yellow]{escape(line)}[/]")
    colour = "green" if report.passed else "red"
    console.print(f"[{colour}]{escape(report.summary())}[/]")
    for line in judged[len(unknown) :]:
        console.print(escape(line))


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
    holdout: HoldoutOption = None,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run every gate on a candidate: a table of gate, figure, threshold and verdict, and
    the gates skipped because [models.NAME.gates] sets no threshold for them. Exit 1 if
    any gate fails. The report is kept with the model version, with the holdout it was
    judged on and who chose it."""
    from pathtolive.gates import REPORT_COLUMNS
    from pathtolive.service import gates as service

    report = service.check_gates(
        open_context(ctx), ref, offline=offline, holdout=holdout, target=target
    )

    def render() -> None:
        print_judged_on(report)
        console.print(table(None, list(REPORT_COLUMNS), report.rows()))
        note = report.skipped_note()
        if note is not None:
            console.print(escape(note))
        for line in report.cost_lines():
            console.print(escape(line))

    emit(report, as_json, render)
    if not report.passed:
        raise typer.Exit(VerificationFailedError.exit_code)
