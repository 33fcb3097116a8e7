"""``pathtolive bench``: the benchmarks against peers in one go, one table of ratios."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pathtolive.benchmarking import (
    BENCHMARKS,
    BenchmarkOutcome,
    Ratio,
    find_benchmarks,
    run_benchmark,
    select_benchmarks,
)
from pathtolive.cli.output import JsonOption, console, emit, err_console
from pathtolive.format import magnitude

__all__ = ["BENCHMARK_FAILED_EXIT", "bench"]

BENCHMARK_FAILED_EXIT = 1
COLUMNS = ("benchmark", "figure", "pathtolive", "peer", "ratio", "target", "met")
_STATUS_WIDTH = 100


def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes and short runs: minutes, not an hour.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated benchmarks to run: {', '.join(BENCHMARKS)}."),
    ] = None,
    benchmarks: Annotated[
        Path | None,
        typer.Option(
            "--benchmarks",
            help="The folder of benchmark scripts (default: benchmarks/ here or above).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(help="Stop a benchmark that runs longer than this many seconds."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the scripts' own output (on stderr).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the benchmarks against peers (data add vs DVC, tracking vs MLflow, serving vs
    MLflow, drift vs Evidently) and print one table of ratios.

    The scripts are in the source repository's benchmarks/ folder, not in the package.

    Each installs its peer in a throw-away venv under benchmarks/.work the first time.

    A ratio is how many times better pathtolive is than the peer.

    Exit codes: 0 all ran (missed targets reported), 1 a script failed, 3 not found, 4 bad --only.
    """
    folder = find_benchmarks(benchmarks)
    selected = select_benchmarks(folder, only)
    err_console.print(
        f"{len(selected)} benchmark{'s' if len(selected) != 1 else ''} from "
        f"{escape(str(folder))}{' (--quick)' if quick else ''}; each installs its peer "
        f"under {escape(str(folder / '.work'))} the first time"
    )
    started = time.perf_counter()
    outcomes: list[BenchmarkOutcome] = []
    for index, (name, script) in enumerate(selected, 1):
        log = folder / ".work" / "logs" / f"{name}.log"
        label = f"[{index}/{len(selected)}] {name}"
        try:
            if verbose:
                err_console.rule(escape(label))
                outcome = run_benchmark(
                    name, script, quick=quick, log=log, timeout=timeout, echo=sys.stderr
                )
            else:
                outcome = _run_with_status(name, script, label, quick, log, timeout)
        except KeyboardInterrupt:
            err_console.print(escape(f"interrupted: stopped {label} (its output: {log})"))
            raise
        outcomes.append(outcome)
        _progress_line(label, outcome)
    seconds = time.perf_counter() - started

    failed = [outcome for outcome in outcomes if not outcome.ok]
    ratios = [ratio for outcome in outcomes for ratio in outcome.ratios]
    machine = next((outcome.machine for outcome in outcomes if outcome.machine), None)
    emit(
        {
            "benchmarks_folder": folder,
            "quick": quick,
            "machine": machine,
            "seconds": round(seconds, 3),
            "all_ran": not failed,
            "targets_met": sum(ratio.met is True for ratio in ratios),
            "targets_missed": sum(ratio.met is False for ratio in ratios),
            "benchmarks": outcomes,
        },
        as_json,
        lambda: _render(outcomes, machine, seconds, quick),
    )
    if failed:
        err_console.print(
            f"[red]error[/]: {len(failed)} of {len(outcomes)} benchmarks failed: "
            + "; ".join(
                escape(f"{outcome.benchmark} ({outcome.error}), output in {outcome.log}")
                for outcome in failed
            )
        )
        raise typer.Exit(BENCHMARK_FAILED_EXIT)


def _run_with_status(
    name: str, script: Path, label: str, quick: bool, log: Path, timeout: float | None
) -> BenchmarkOutcome:
    """Run one benchmark under a spinner showing its elapsed time and latest line."""
    began = time.perf_counter()
    with err_console.status(escape(f"{label} starting")) as status:

        def show(line: str) -> None:
            text = f"{label} {time.perf_counter() - began:.0f} s: {line.strip()}"
            status.update(escape(text[:_STATUS_WIDTH]))

        return run_benchmark(name, script, quick=quick, log=log, timeout=timeout, on_line=show)


def _progress_line(label: str, outcome: BenchmarkOutcome) -> None:
    if outcome.ok:
        met = sum(ratio.met is True for ratio in outcome.ratios)
        targets = sum(ratio.met is not None for ratio in outcome.ratios)
        err_console.print(
            f"[green]ok[/]     {escape(label)} in {outcome.seconds:.1f} s: "
            f"{len(outcome.ratios)} figures, {met} of {targets} targets met"
        )
    else:
        err_console.print(
            f"[red]failed[/] {escape(label)} after {outcome.seconds:.1f} s: "
            f"{escape(outcome.error or '')} (output: {escape(str(outcome.log))})"
        )


def _times(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def _met(ratio: Ratio) -> str:
    if ratio.met is None:
        return "-"
    return "[green]yes[/]" if ratio.met else "[red]no[/]"


def _render(
    outcomes: list[BenchmarkOutcome], machine: str | None, seconds: float, quick: bool
) -> None:
    grid = Table(title="Benchmarks", title_justify="left", header_style="bold")
    for column in COLUMNS:
        numeric = column in {"pathtolive", "peer", "ratio", "target"}
        grid.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for outcome in outcomes:
        if not outcome.ok:
            grid.add_row(
                outcome.benchmark,
                f"[red]failed[/]: {escape(outcome.error or '')}",
                *[""] * 5,
                end_section=True,
            )
            continue
        if not outcome.ratios:
            grid.add_row(outcome.benchmark, "(no figures)", *[""] * 5, end_section=True)
        for index, ratio in enumerate(outcome.ratios):
            grid.add_row(
                outcome.benchmark if index == 0 else "",
                escape(ratio.what),
                magnitude(ratio.pathtolive, ratio.unit),
                magnitude(ratio.peer, ratio.unit),
                _times(ratio.ratio),
                "-" if ratio.target is None else f"≥ {ratio.target:g}x",
                _met(ratio),
                end_section=index == len(outcome.ratios) - 1,
            )
    console.print(grid)
    ratios = [ratio for outcome in outcomes for ratio in outcome.ratios]
    missed = [
        f"{outcome.benchmark}: {ratio.what}"
        for outcome in outcomes
        for ratio in outcome.ratios
        if ratio.met is False
    ]
    targets = sum(ratio.met is not None for ratio in ratios)
    ran = sum(outcome.ok for outcome in outcomes)
    console.print(
        f"{ran} of {len(outcomes)} benchmarks ran in {seconds:.0f} s; "
        f"{targets - len(missed)} of {targets} targets met"
        + (f" (missed: {escape('; '.join(missed))})" if missed else "")
    )
    if machine:
        console.print(f"machine: {escape(machine)}")
    console.print("ratio: how many times better pathtolive is than the peer")
    if quick:
        console.print(
            "--quick: small sizes, where start-up costs weigh more; the targets are set for "
            "the full sizes (benchmarks/RESULTS.md)"
        )
