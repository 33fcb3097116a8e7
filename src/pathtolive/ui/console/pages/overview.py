"""Overview: what is live where, what is wrong, what waits for the visitor.

Every model with its live version, staging, canary share and shadow; open alerts;
pending promotions (those the visitor may decide first); the controller's last triggers
and what came of them; the last data versions added or refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.entities import Deployment, Model
from pathtolive.service import alerts as alert_service
from pathtolive.service import audit as audit_service
from pathtolive.service import models as model_service
from pathtolive.service import predictions as prediction_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import triggers as trigger_service
from pathtolive.ui.console.page import acting, render

__all__ = ["ModelRow", "overview", "routes"]

RECENT = 10
"""Rows of each "last …" list."""
DATA_ACTIONS = ("dataset.version_added", "dataset.version_refused")
"""The audit events of the "last data versions" list, by their exact action (which the
audit log's index finds however long ago the last one was)."""


@dataclass(frozen=True)
class ModelRow:
    model: Model
    deployment: Deployment

    @property
    def staging(self) -> int | None:
        return self.model.aliases.get("staging")


def overview(request: Request) -> Response:
    # A bounded number of queries whatever the number of models and requests: the
    # deployments, the pending requests and their authors are each read at once.
    ctx = acting(request)
    deployments = prediction_service.deployments(ctx)
    models = [
        ModelRow(model, deployments[model.name])
        for model in model_service.list_models(ctx)
        if model.name in deployments
    ]
    pending = promotion_service.list_promotions(ctx, status="pending")
    objections = promotion_service.approval_objections(ctx, pending)
    mine = [p for p in pending if objections[p.promotion_id] is None]
    others = [p for p in pending if objections[p.promotion_id] is not None]
    return render(
        request,
        "overview.html",
        title="Overview",
        active="overview",
        models=models,
        alerts=alert_service.list_alerts(ctx, status="open", limit=RECENT),
        waiting=mine[:RECENT],
        waiting_more=len(mine) - len(mine[:RECENT]),
        pending_others=others[:RECENT],
        others_more=len(others) - len(others[:RECENT]),
        triggers=trigger_service.list_triggers(ctx, limit=RECENT),
        data_events=audit_service.audit_page(ctx, actions=DATA_ACTIONS, limit=RECENT).events,
    )


routes: list[BaseRoute] = [Route("/", overview, methods=["GET"], name="overview")]
