"""What the live server asks of the registry: what to serve, the versions themselves
(hash-checked), who a token speaks for, the open alerts it shows on ``/metrics``, and the
audit trail of the server's own life."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pathtolive.auth import Actor, Permission, Role, hash_token
from pathtolive.data.schema import Schema
from pathtolive.entities import ModelVersion
from pathtolive.errors import AuthenticationError, InvalidInputError, NotFoundError
from pathtolive.registry import LoadedModel
from pathtolive.registry.explainers import Explanation
from pathtolive.registry.signature import Signature
from pathtolive.service import audit as audit_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.explain import BACKGROUND_ROWS, explainer_background
from pathtolive.service.models import load_model
from pathtolive.service.named_holdout import reference_data

__all__ = [
    "DeploymentTargets",
    "ServableVersion",
    "authenticate",
    "background_sample",
    "deployment_targets",
    "explain_rows",
    "load_servable",
    "open_alert_counts",
    "record_server_event",
]

ROLES = ("live", "canary", "shadow")


@dataclass(frozen=True)
class DeploymentTargets:
    """The versions the registry says a model serves now."""

    name: str
    live: int | None
    canary: int | None
    canary_share: float
    shadow: int | None

    def versions(self) -> set[int]:
        return {v for v in (self.live, self.canary, self.shadow) if v is not None}


@dataclass(frozen=True)
class ServableVersion:
    """A model version loaded for serving, with what the server needs to know about it."""

    version: ModelVersion
    model: LoadedModel
    signature: Signature
    trained_on: tuple[str, ...]
    """The dataset versions (``name@N``) of the run that made it."""
    pii_columns: frozenset[str]
    reference: tuple[str, ...] = ()
    """The dataset versions its explanations draw background rows from: its training
    data, or the named holdout it was judged on when that is unknown."""


def deployment_targets(
    ctx: ServiceContext, models: Collection[str] = ()
) -> list[DeploymentTargets]:
    """Every model with a live, canary or shadow version (only ``models`` when given)."""
    ctx.require(Permission.READ, "read models")
    targets: list[DeploymentTargets] = []
    with ctx.metadata.read() as session:
        for model in session.list_models():
            if models and model.name not in models:
                continue
            aliases = model.aliases
            if not any(role in aliases for role in ROLES):
                continue
            canary = aliases.get("canary")
            targets.append(
                DeploymentTargets(
                    name=model.name,
                    live=aliases.get("live"),
                    canary=canary,
                    canary_share=session.get_canary_share(model.name) if canary else 0.0,
                    shadow=aliases.get("shadow"),
                )
            )
    return targets


def load_servable(
    ctx: ServiceContext, name: str, version: int, *, extra_pii: Collection[str] = ()
) -> ServableVersion:
    """Load ``name@version`` for serving: its bytes are checked against the registry's
    digest before they are deserialised; a version without a signature cannot be
    validated against, so it is refused with what to do."""
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        found = session.get_model_version(name, version)
        if found is None:
            raise NotFoundError(f"model {name!r} has no version {version}")
        run = session.get_run(found.run_id)
        trained_on = tuple(sorted(run.inputs.values())) if run is not None else ()
        reference = reference_data(session, found, run)
        pii = set(extra_pii)
        for ref in reference:
            dataset, _, number = ref.partition("@")
            dataset_version = session.get_version(dataset, int(number)) if number else None
            if dataset_version is None:
                continue
            schema = session.get_schema(dataset, dataset_version.schema_version)
            if schema is not None:
                pii.update(Schema.from_dict(schema.schema).tagged("pii"))
            pii.update(
                column
                for column, tags in ctx.settings.dataset(dataset).tags.items()
                if "pii" in tags
            )
    if found.signature is None:
        raise InvalidInputError(
            f"{found.ref} has no signature, so requests cannot be checked against it; "
            "register it again with a sample of its input"
        )
    signature = Signature.from_dict(found.signature)
    loaded = load_model(ctx, found)
    return ServableVersion(
        version=found,
        model=loaded,
        signature=signature,
        trained_on=trained_on,
        pii_columns=frozenset(pii & set(signature.input_names)),
        reference=reference,
    )


def background_sample(
    ctx: ServiceContext, servable: ServableVersion, rows: int = BACKGROUND_ROWS
) -> pd.DataFrame | None:
    """Up to ``rows`` rows of the model's input columns from its training data (None
    when none is kept): the background its explainer compares a row against."""
    return explainer_background(
        ctx, servable.signature.input_names, servable.reference or servable.trained_on, rows
    )


def explain_rows(ctx: ServiceContext, ref: str, rows: pd.DataFrame) -> Explanation:
    """Attributions of ``rows`` for model version ``ref``, as the live server's
    ``:explain`` computes them: the same explainer (SHAP where it applies and adds up,
    occlusion otherwise), built on the same background rows of the training data."""
    from pathtolive.registry.explainers import build_explainer
    from pathtolive.service.models import model_version

    ctx.require(Permission.READ, "explain predictions")
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise InvalidInputError("give the rows to explain as a non-empty DataFrame")
    version = model_version(ctx, ref)
    servable = load_servable(ctx, version.model, version.version)
    background = background_sample(ctx, servable)
    return build_explainer(servable.model, rows if background is None else background).explain(rows)


def authenticate(ctx: ServiceContext, secret: str) -> Actor:
    """The principal and role of a bearer token; ``AuthenticationError`` when unknown or
    revoked."""
    with ctx.metadata.read() as session:
        token = session.find_token_by_hash(hash_token(secret))
    if token is None:
        raise AuthenticationError("the bearer token is not known here; ask an admin for one")
    if not token.active:
        raise AuthenticationError(f"token {token.token_id} was revoked; ask an admin for a new one")
    return Actor(token.principal, Role(token.role), token.token_id)


def record_server_event(
    ctx: ServiceContext, action: str, subject: str, details: dict[str, Any] | None = None
) -> None:
    """Append a server event (``serve.started``, ``serve.model_swapped`` …) to the audit
    trail. The actor is whoever started the server (its token's principal or the local
    user)."""
    audit_service.record_event(ctx, action, subject, details)


def open_alert_counts(
    ctx: ServiceContext, models: Collection[str] = ()
) -> dict[tuple[str, str], int]:
    """Open alerts per ``(model, kind)``, of ``models`` (every model when empty): the
    monitor raises them, the server shows them."""
    with ctx.metadata.read() as session:
        alerts = session.list_alerts(status="open")
    return dict(Counter((a.model, a.kind) for a in alerts if not models or a.model in models))
