"""The environment tests run pathtolive in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from pathtolive import env

QUICK_PROBE = {env.LATENCY_BUDGET: "0"}
"""The suite's gate checks time only the latency probe's fewest calls (60 single rows, 5
batches): no test judges the percentiles' precision, and a forest's full series would
add two seconds to every gate check. ``test_holdout`` checks the default series."""


def without_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (by default this process's) without its PATHTOLIVE_* settings, with the
    suite's quick latency probe."""
    source = os.environ if environ is None else environ
    kept = {k: v for k, v in source.items() if not k.startswith("PATHTOLIVE_")}
    return {**kept, **QUICK_PROBE}


def as_ada_in(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """This process as the local user ``ada`` working in ``folder``, as a notebook would
    run: no PATHTOLIVE_* settings but the suite's quick latency probe."""
    for name in [name for name in os.environ if name.startswith("PATHTOLIVE_")]:
        monkeypatch.delenv(name)
    for name, value in QUICK_PROBE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(env.USER, "ada")
    monkeypatch.chdir(folder)
