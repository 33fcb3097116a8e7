"""A workspace with a model to retrain, for the tests of the controller's triggers, its
releases and its loop (made by the ``make_setup`` fixture of tests/unit/service)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pathtolive import env
from pathtolive.entities import AuditEvent
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.runs import run_pipeline
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import open_workspace

__all__ = ["Setup"]


@dataclass
class Setup:
    """A workspace whose model ``risk-model`` retrains on the dataset ``cancer``."""

    ctx: ServiceContext
    root: Path
    environ: dict[str, str]
    frame: pd.DataFrame
    opened: list[ServiceContext]

    def reopen(self, environ: dict[str, str] | None = None) -> ServiceContext:
        """Another context on the workspace (another process, as far as the store
        knows); closed at the end of the test."""
        ctx = open_workspace(self.root, environ=environ or self.environ)
        self.opened.append(ctx)
        return ctx

    def as_role(self, role: str) -> ServiceContext:
        created = create_token(self.ctx, principal=f"{role}-user", role=role)
        return self.reopen({**self.environ, env.TOKEN: created.secret})

    def add_data(self, seed: int | None = None) -> str:
        frame = self.frame
        if seed is not None:
            frame = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
        added = dataset_service.add_dataset(self.ctx, frame, "cancer", tags={"target": ["target"]})
        return added.version.ref

    def train_live(self) -> None:
        """risk-model@1 trained on cancer@1 and live (an admin's override: no gates needed)."""
        run_pipeline(
            self.ctx,
            "risk",
            data={"data": "cancer@1"},
            params={"n_estimators": "20"},
            register="risk-model",
        )
        model_service.set_alias(
            self.ctx, "risk-model@1", "live", override="test setup: the first release"
        )

    def versions(self) -> list[int]:
        return [v.version for v in model_service.model_versions(self.ctx, "risk-model")]

    def live(self) -> int | None:
        with self.ctx.metadata.read() as session:
            return session.alias_version("risk-model", "live")

    def events(self, action: str) -> list[AuditEvent]:
        with self.ctx.metadata.read() as session:
            return list(session.iter_audit_events(action=action))
