"""Fixtures of the service tests: ``make_setup`` makes a workspace with a model to retrain
(the RISK pipeline on the breast-cancer data), for the controller, triggers and releases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from pathtolive.service.context import ServiceContext
from pathtolive.service.workspace import init_workspace, open_workspace
from tests.support.controller import Setup
from tests.support.pipelines import BROKEN, RISK, write_pipelines

CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = {floor}
[models.risk-model.promotion]
live = "{policy}"
[models.risk-model.retrain]
pipeline = "{pipeline}"
dataset = "cancer"
{parameter}
on = {on}
params = {{ n_estimators = 20 }}
{schedule}
"""


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture
def make_setup(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str], cancer: pd.DataFrame
) -> Iterator[Callable[..., Setup]]:
    made: list[ServiceContext] = []

    def make(
        *,
        policy: str = "auto",
        floor: float = 0.5,
        on: str = '["new_data"]',
        schedule: str = "",
        pipeline: str = "risk",
        parameter: str | None = "data",
    ) -> Setup:
        root = tmp_path / "ws"
        # In the environment rather than as an argument: the gates' clean-process probe
        # opens the workspace from the environment it inherits.
        environ = {**clean_environ, env.METADATA_URL: metadata_url}
        init_workspace(root, environ=environ, local_role="admin").close()
        write_pipelines(root, risk=RISK, broken=BROKEN)
        config = root / "pathtolive.toml"
        config.write_text(
            config.read_text()
            + CONFIG.format(
                policy=policy,
                floor=floor,
                on=on,
                schedule=schedule,
                pipeline=pipeline,
                parameter="" if parameter is None else f"parameter = {parameter!r}",
            )
        )
        ctx = open_workspace(root, environ=environ)
        made.append(ctx)
        return Setup(ctx, root, environ, cancer, made)

    yield make
    for ctx in made:
        ctx.close()
