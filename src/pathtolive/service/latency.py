"""Prediction latency of a model version, measured in a separate, clean process."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from typing import Any

import pandas as pd

from pathtolive import env
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError
from pathtolive.service.context import ServiceContext

__all__ = ["measure_latency"]

_TIMEOUT_SECONDS = 600


def measure_latency(
    ctx: ServiceContext, version: ModelVersion, sample: pd.DataFrame
) -> dict[str, Any]:
    """p50/p95/p99 of single-row and 1000-row predictions, from a fresh interpreter that
    loads the artifact from the store as serving will. A model that fails to load or to
    answer there is reported as an :class:`InvalidInputError` naming the failure."""
    if sample.empty:
        raise InvalidInputError("latency needs at least one row of input to predict on")
    base = ctx.settings.state_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix="latency-") as folder:
        path = f"{folder}/sample.parquet"
        sample.to_parquet(path, index=False)
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pathtolive.service.latency_probe",
                str(ctx.settings.root),
                version.ref,
                path,
            ],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_SECONDS,
            env=_probe_environ(ctx),
        )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidInputError(f"{version.ref} did not load and answer in a clean process: {last}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _probe_environ(ctx: ServiceContext) -> dict[str, str]:
    """The environment of the probe: this process's, with the stores this context was
    opened on, so stores given as flags (not in the environment) are the ones it reads."""
    environ = dict(ctx.settings.environ)
    environ[env.METADATA_URL] = ctx.settings.metadata_url
    environ[env.ARTIFACT_URL] = ctx.settings.artifact_url
    return environ
