"""``pathtolive demo``: the whole path to live, end to end, on synthetic data."""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from pathtolive.cli.output import JsonOption, console, emit, err_console
from pathtolive.cli.state import options
from pathtolive.errors import MissingExtraError

__all__ = ["demo"]

_NEEDS = ("sklearn", "skops", "threadpoolctl", "fastapi", "uvicorn")
"""What the demo imports beyond the core: the sklearn and serve extras."""


def demo(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Play in this folder and keep it (it must not be a workspace yet); "
            "default: a new folder under the system's temporary folder.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 0,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Half the garages, fewer boosting rounds and requests."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Play the whole path to live on synthetic garage data: a data version and its
    contract, training, gates, promotion under four-eyes, the live server, drift and
    decay, a new data version, the controller's retrain, approval and a hot swap under
    traffic, then the audit chain, lineage, model card and monitoring report."""
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"the demo trains with scikit-learn and serves with the server extra "
            f"({', '.join(missing)} missing): pip install 'pathtolive[sklearn,serve,explain]'"
        )
    from pathtolive.demo.story import DemoOptions, run_demo

    chosen = workspace if workspace is not None else options(ctx).workspace
    narrator = err_console if as_json else console
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = run_demo(DemoOptions(workspace=chosen, seed=seed, fast=fast), narrator)
    finally:
        signal.signal(signal.SIGTERM, previous)
    emit(summary, as_json, lambda: None)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the demo as Ctrl-C does: through its clean-up, which stops the server.
    raise KeyboardInterrupt
