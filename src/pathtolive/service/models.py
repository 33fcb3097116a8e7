"""The model registry: register (from a run, a notebook or an MLflow folder), list, show,
load (hash-checked), and move aliases."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathtolive.auth import Actor, Permission
from pathtolive.entities import AliasMove, Model, ModelVersion, Run
from pathtolive.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UntrustedModelError,
)
from pathtolive.faces import spelled
from pathtolive.refs import check_name, is_number
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.metadata import MetadataSession

if TYPE_CHECKING:
    # Loading and registering need pandas, the flavors and the pipeline tools; listing and
    # showing, which most commands do, need none of them.
    import pandas as pd

    from pathtolive.gates.config import PromotionConfig
    from pathtolive.registry import LoadedModel

__all__ = [
    "ALIAS_PATTERN",
    "DEPLOYED_ALIASES",
    "ModelRef",
    "OnRegister",
    "alias_history",
    "check_alias",
    "import_mlflow",
    "import_onnx",
    "list_models",
    "load_model",
    "model_version",
    "model_versions",
    "models_page",
    "parse_model_ref",
    "promotion_config",
    "register_model",
    "resolve_model_version",
    "set_alias",
]

OnRegister = Callable[[MetadataSession, ModelVersion], None]
"""Called inside the transaction that registers a model version, with the new version."""

ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class ModelRef:
    """``risk``, ``risk@3`` or ``risk@live``: a name and a version number or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return self.name if self.alias is None else f"{self.name}@{self.alias}"


def parse_model_ref(text: str) -> ModelRef:
    name, sep, rest = text.partition("@")
    check_name(name, kind="model")
    if not sep or rest == "latest":
        return ModelRef(name)
    if is_number(rest) and int(rest) >= 1:
        return ModelRef(name, version=int(rest))
    if ALIAS_PATTERN.match(rest):
        return ModelRef(name, alias=rest)
    raise InvalidInputError(
        f"{text!r}: after '@' give a version number, an alias such as 'live', or 'latest'"
    )


def check_alias(alias: str) -> str:
    if not ALIAS_PATTERN.match(alias) or alias == "latest":
        raise InvalidInputError(
            f"alias {alias!r} is not valid; use lower-case letters, digits, '-' and '_', "
            "starting with a letter (and not 'latest')"
        )
    return alias


def resolve_model_version(session: MetadataSession, ref: ModelRef) -> ModelVersion:
    if session.model_id(ref.name) is None:
        known = [m.name for m in session.list_models()]
        hint = f"known models: {', '.join(known[:10])}" if known else "there are no models yet"
        raise NotFoundError(f"no model {ref.name!r}; {hint}")
    number: int | None
    if ref.alias is not None:
        number = session.alias_version(ref.name, ref.alias)
        if number is None:
            raise NotFoundError(
                f"model {ref.name!r} has no alias {ref.alias!r}; 'pathtolive alias list "
                f"{ref.name}' shows its aliases"
            )
    elif ref.version is not None:
        number = ref.version
    else:
        model_id = session.model_id(ref.name)
        assert model_id is not None
        number = session.latest_model_version_number(model_id)
    found = None if number is None else session.get_model_version(ref.name, number)
    if found is None:
        raise NotFoundError(f"model {ref.name!r} has no version {number}")
    return found


def model_version(ctx: ServiceContext, ref: str) -> ModelVersion:
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        return resolve_model_version(session, parse_model_ref(ref))


def model_versions(ctx: ServiceContext, name: str) -> list[ModelVersion]:
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        resolve_model_version(session, ModelRef(check_name(name, kind="model")))
        return session.list_model_versions(name)


def list_models(ctx: ServiceContext) -> list[Model]:
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        return session.list_models()


def models_page(ctx: ServiceContext, *, offset: int, limit: int) -> tuple[list[Model], int]:
    """``limit`` models by name from ``offset`` (as :func:`list_models` gives them), and
    how many models there are."""
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        return session.models_page(offset=offset, limit=limit), session.count_models()


def alias_history(ctx: ServiceContext, name: str, alias: str | None = None) -> list[AliasMove]:
    ctx.require(Permission.READ, "read models")
    with ctx.metadata.read() as session:
        resolve_model_version(session, ModelRef(check_name(name, kind="model")))
        return session.alias_history(name, alias)


def load_model(
    ctx: ServiceContext, ref: str | ModelVersion, *, trusted: Sequence[str] = ()
) -> LoadedModel:
    """Load a model version: its bytes are checked against the registry's digest first,
    then deserialised without running code (types outside the flavor's safe set must be
    ones pathtolive recorded when it saved the model, or named in ``trusted``)."""
    from pathtolive.registry import get_flavor
    from pathtolive.registry.flavors.python import workspace_code

    version = model_version(ctx, ref) if isinstance(ref, str) else ref
    data = ctx.artifacts.get_bytes(version.artifact_digest)
    flavor = get_flavor(version.flavor)
    # A custom Python model imports its class from this workspace's pipelines/ code.
    with workspace_code(ctx.settings.root):
        return flavor.load(data, trusted=[*version.trusted_types, *trusted])


def register_model(
    ctx: ServiceContext,
    model: object,
    name: str,
    *,
    run_id: str | None = None,
    data: Mapping[str, str] | str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    signature_sample: pd.DataFrame | None = None,
    source: str = "notebook",
    run_params: Mapping[str, Any] | None = None,
    signature: Mapping[str, Any] | None = None,
    trusted: Sequence[str] = (),
    within: OnRegister | None = None,
) -> ModelVersion:
    """Store a fitted model as the next version of ``name``.

    Without ``run_id`` (a model trained by hand) a run of kind ``notebook`` is recorded with
    what is known: the dataset versions in ``data``, the code version and environment of
    this process. The signature comes from the dataset's schema when ``data`` names one.

    Every later load trusts the types the version records, so registration records only
    the flavor's safe ones (:attr:`Flavor.trusted_on_registration`) and those named in
    ``trusted``; a model that needs any other is refused (``UntrustedModelError``, naming
    them and how to trust them). The audit event lists what was trusted.

    A custom Python model (the ``python`` flavor) registers only from this workspace's
    ``pipelines/`` code, and only when the code it was saved with is the code the run
    recorded (``UntrustedModelError``, ``InvalidInputError`` otherwise).

    ``within`` is called with the new version inside the transaction that registers it:
    the controller checks its lease there and records the version on its trigger, so
    both happen or neither does (an exception it raises registers nothing).
    """
    from pathtolive.registry import flavor_for, untrusted_message

    check_name(name, kind="model")
    actor = ctx.require(Permission.WRITE, "register models")
    inputs = _resolve_inputs(ctx, data)
    clean_metrics = _check_metrics(metrics or {})
    explicit = _type_names(trusted)
    flavor = flavor_for(model)
    artifact = flavor.save(model)
    # Every load of this version trusts what it records: a function a custom step holds
    # (os.system, say) would run in the server and the gates, so it needs the caller's word.
    needed = flavor.untrusted_types(artifact)
    refused = [
        name
        for name in needed
        if name not in flavor.trusted_on_registration and name not in explicit
    ]
    if refused:
        raise UntrustedModelError(untrusted_message(refused), details={"untrusted_types": refused})
    if flavor.name == "python":
        _check_workspace_code(ctx, model, artifact, run_id)
    signature_dict = (
        dict(signature)
        if signature is not None
        else _signature(ctx, model, inputs, signature_sample)
    )
    stored = ctx.artifacts.put_bytes(artifact)
    try:
        with ctx.metadata.write() as session:
            if run_id is None:
                run_id = _record_side_run(
                    ctx,
                    session,
                    actor,
                    kind="imported" if source == "imported" else "notebook",
                    inputs=inputs,
                    params=dict(run_params or {}),
                )
            elif session.get_run(run_id) is None:
                raise NotFoundError(f"no run {run_id!r}")
            now = datetime.now(UTC)
            new = ModelVersion(
                model=name,
                version=_next_version_number(session, actor, name, now),
                artifact_digest=stored.digest,
                artifact_bytes=len(artifact),
                flavor=flavor.name,
                trusted_types=tuple(needed),
                signature=signature_dict,
                metrics=clean_metrics,
                run_id=run_id,
                source=source,
                description=description,
                tags=dict(tags or {}),
                created_at=now,
                created_by=actor.name,
            )
            version = _insert_version(
                session, actor, new, [name for name in needed if name in explicit]
            )
            if within is not None:
                within(session, version)
    except BaseException:
        if stored.created:
            _delete_unreferenced(ctx, stored.digest)
        raise
    return version


def _check_workspace_code(
    ctx: ServiceContext, model: object, artifact: bytes, run_id: str | None
) -> None:
    """A custom Python model registers only from this workspace's ``pipelines/`` code, as
    the run recorded it: that is the code every later load checks it against."""
    from pathtolive.pipelines.code_version import pipelines_hash
    from pathtolive.registry import LoadedModel
    from pathtolive.registry.flavors.python import PythonFlavor, code_root

    # A model loaded back (a replayed run's) came from this workspace's code already.
    if not isinstance(model, LoadedModel):
        root = code_root(model)
        if root.resolve() != ctx.settings.root.resolve():
            raise UntrustedModelError(
                f"{type(model).__module__}.{type(model).__qualname__} is defined in the "
                f"pipelines/ folder of {root}, not of this workspace ({ctx.settings.root}); "
                "pathtolive runs a custom model's code only from the workspace's own "
                "reviewed pipelines/ code: register it from the workspace it belongs to"
            )
    built_with = PythonFlavor.code_hash(artifact)
    recorded: str | None
    if run_id is None:
        recorded = pipelines_hash(ctx.settings.root)
        when = "now"
    else:
        with ctx.metadata.read() as session:
            run = session.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        recorded = run.pipelines_hash
        when = f"when run {run_id[:12]} started"
    if recorded != built_with:
        raise InvalidInputError(
            f"the custom model was saved with pipelines/ code {built_with[:12]}, but the "
            f"workspace's pipelines/ code was {(recorded or 'unrecorded')[:12]} {when}: the "
            "code changed while it ran; run the pipeline again on unchanged code"
        )


def _next_version_number(session: MetadataSession, actor: Actor, name: str, now: datetime) -> int:
    """The number of the next version of model ``name``, created (and audited) when this
    is its first version."""
    model_id = session.model_id(name)
    if model_id is None:
        model_id = session.create_model(name, now, actor.name)
        record(session, actor, "model.created", f"model:{name}")
    return (session.latest_model_version_number(model_id) or 0) + 1


def _type_names(trusted: Sequence[str]) -> frozenset[str]:
    if isinstance(trusted, str) or not all(isinstance(name, str) and name for name in trusted):
        raise InvalidInputError(
            f"trusted must be a list of type names, like ['mymodule.my_function'], "
            f"not {trusted!r:.80}"
        )
    return frozenset(trusted)


def _insert_version(
    session: MetadataSession, actor: Actor, new: ModelVersion, trusted_explicitly: list[str]
) -> ModelVersion:
    session.insert_model_version(new)
    record(
        session,
        actor,
        "model.registered",
        f"model:{new.ref}",
        {
            "artifact": new.artifact_digest,
            "flavor": new.flavor,
            "run_id": new.run_id,
            "source": new.source,
            "metrics": dict(new.metrics),
            "trusted_types": list(new.trusted_types),
            "trusted_explicitly": trusted_explicitly,
        },
    )
    # Read back as every reader sees it (times as the database keeps them).
    version = session.get_model_version(new.model, new.version)
    assert version is not None
    return version


def _record_side_run(
    ctx: ServiceContext,
    session: MetadataSession,
    actor: Actor,
    *,
    kind: str,
    inputs: Mapping[str, str],
    params: Mapping[str, Any],
) -> str:
    """A finished run standing for work done outside a pipeline (a notebook, an import)."""
    from pathtolive.pipelines import capture_code_version, capture_environment

    now = datetime.now(UTC)
    code = capture_code_version(ctx.settings.root) if kind == "notebook" else None
    environment = capture_environment() if kind == "notebook" else None
    if environment is not None:
        session.ensure_environment(
            environment.digest,
            python=environment.python,
            platform=environment.platform,
            packages=environment.packages,
        )
    run = Run(
        run_id=uuid.uuid4().hex,
        kind=kind,
        pipeline=None,
        status="succeeded",
        actor=actor.name,
        started_at=now,
        finished_at=now,
        code_commit=None if code is None else code.commit,
        code_dirty=False if code is None else code.dirty,
        code_diff_hash=None if code is None else code.diff_hash,
        pipelines_hash=None if code is None else code.pipelines_hash,
        environment_digest=None if environment is None else environment.digest,
        params=dict(params),
        inputs=dict(inputs),
    )
    session.insert_run(run)
    record(session, actor, f"run.{kind}", f"run:{run.run_id}", {"inputs": dict(inputs)})
    return run.run_id


def _resolve_inputs(ctx: ServiceContext, data: Mapping[str, str] | str | None) -> dict[str, str]:
    """Dataset refs made exact: {"data": "loans@latest"} → {"data": "loans@2"}."""
    from pathtolive.service.datasets import check_readable, get_version

    if data is None:
        return {}
    named = {"data": data} if isinstance(data, str) else dict(data)
    # A model is not recorded as trained on erased data now: those rows are gone.
    return {
        parameter: check_readable(get_version(ctx, ref)).ref for parameter, ref in named.items()
    }


def _signature(
    ctx: ServiceContext,
    model: object,
    inputs: Mapping[str, str],
    sample: pd.DataFrame | None,
) -> dict[str, Any] | None:
    from pathtolive.registry import declared_signature, infer_signature
    from pathtolive.service.datasets import dataset_schema, get_version, load_frame

    if not inputs and sample is None:
        # Without data, only a model that declares its inputs (an ONNX graph) has one.
        declared = declared_signature(model)
        return declared.to_dict() if declared is not None else None
    schema_columns = None
    if inputs:
        first = get_version(ctx, next(iter(inputs.values())))
        schema = dataset_schema(ctx, first.dataset, first.schema_version)
        schema_columns = schema.schema["columns"]
        if sample is None:
            sample = load_frame(ctx, first.ref, purpose="model signature sample").head(100)
    assert sample is not None
    return infer_signature(model, sample, schema_columns=schema_columns).to_dict()


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(f"metric {key!r} is {value!r}; metrics must be numbers")
        clean[str(key)] = float(value)
    return clean


def _delete_unreferenced(ctx: ServiceContext, digest: str) -> None:
    with ctx.metadata.read() as session:
        used = session.artifact_in_use(digest)
    if not used:
        ctx.artifacts.delete(digest)


DEPLOYED_ALIASES = ("canary", "shadow")
"""Aliases the server serves beside ``live``: they move with ``deploy``, which checks the
version's gates (and the canary's share of traffic)."""


def promotion_config(ctx: ServiceContext, model: str) -> PromotionConfig:
    """``[models.MODEL.promotion]`` of the workspace file (the defaults when absent)."""
    from pathtolive.gates.config import PromotionConfig

    models = ctx.settings.document.get("models", {})
    section = models.get(model, {}) if isinstance(models, Mapping) else {}
    table = section.get("promotion", {}) if isinstance(section, Mapping) else {}
    return PromotionConfig.from_toml(model, table)


def set_alias(
    ctx: ServiceContext,
    ref: str,
    alias: str,
    *,
    reason: str = "",
    override: str | None = None,
) -> AliasMove:
    """Point ``alias`` at the version ``ref`` names, recording the move.

    An alias with a promotion policy (``live``, and any alias ``[models.NAME.promotion]``
    names) moves only through ``promote``/``approve``/``rollback``: here only by an
    admin's ``override`` (a reason, audited as ``alias.overridden``). ``canary`` and
    ``shadow`` move with ``deploy``."""
    actor = ctx.require(Permission.WRITE, "move aliases")
    check_alias(alias)
    parsed = parse_model_ref(ref)
    if alias in DEPLOYED_ALIASES:
        raise PermissionDeniedError(
            f"the {alias} alias is served, so it moves with 'pathtolive deploy "
            f"{parsed.name} --{alias} VERSION', which checks the version's gates"
        )
    promotion = promotion_config(ctx, parsed.name)
    governed = promotion.governs(alias)
    if override is not None:
        if not governed:
            raise InvalidInputError(
                f"{alias} has no promotion policy, so there is nothing to override; drop "
                + spelled("--override", "override=...")
            )
        if not override.strip():
            raise InvalidInputError(
                "an override needs a reason: " + spelled('--override "why"', 'override="why"')
            )
        actor = ctx.require(Permission.ADMIN, f"override the promotion policy of {alias}")
    elif governed:
        policy = promotion.policy_for(alias)
        raise PermissionDeniedError(
            f"{alias} of {parsed.name!r} has the promotion policy {policy!r}, so it moves "
            "only through promotion: "
            + spelled(
                f"run 'pathtolive promote {parsed} --to {alias}' (or 'pathtolive rollback'); "
                'an admin may force it with --override "reason"',
                f"ws.promote({str(parsed)!r}, to={alias!r}) (or ws.rollback(...)); an admin "
                'may force it with override="reason"',
            )
        )
    with ctx.metadata.write() as session:
        target = resolve_model_version(session, parsed)
        why = reason if override is None else f"override: {override}"
        before = session.move_alias(
            target.model,
            alias,
            target.version,
            at=datetime.now(UTC),
            actor=actor.name,
            reason=why,
        )
        details: dict[str, Any] = {"from": before, "to": target.version, "reason": reason}
        if override is not None:
            details["override"] = override
            record(
                session,
                actor,
                "alias.overridden",
                f"model:{target.model}#{alias}",
                {
                    "policy": promotion.policy_for(alias),
                    "from": before,
                    "to": target.version,
                    "reason": override,
                },
            )
        record(session, actor, "alias.moved", f"model:{target.model}#{alias}", details)
        return session.alias_history(target.model, alias)[-1]


def import_mlflow(
    ctx: ServiceContext,
    folder: Path,
    name: str,
    *,
    trust_pickle: bool = False,
    trusted: Sequence[str] = (),
    description: str = "",
    data: Mapping[str, str] | str | None = None,
) -> ModelVersion:
    """Register a model from an MLflow model folder (no mlflow needed); its lineage says
    it was imported, with what the folder tells of its origin. ``data`` names the dataset
    version it was trained on when that is in the workspace (the gates' leakage guard
    reads it); the folder's own signature is kept."""
    from pathtolive.registry.mlflow_folder import read_mlflow_model

    ctx.require(Permission.WRITE, "import models")
    imported = read_mlflow_model(Path(folder), trust_pickle=trust_pickle, trusted=trusted)
    origin = {
        key: imported.metadata.get(key)
        for key in ("run_id", "mlflow_version", "utc_time_created", "model_uuid")
        if imported.metadata.get(key) is not None
    }
    return register_model(
        ctx,
        imported.model,
        name,
        description=description or f"imported from the MLflow model at {Path(folder).resolve()}",
        data=data,
        source="imported",
        run_params={"mlflow": origin, "folder": str(Path(folder).resolve())},
        tags={"imported_from": "mlflow"},
        signature=None if imported.signature is None else imported.signature.to_dict(),
        trusted=trusted,
    )


def import_onnx(
    ctx: ServiceContext,
    path: Path,
    name: str,
    *,
    data: Mapping[str, str] | str | None = None,
    description: str = "",
) -> ModelVersion:
    """Register the ONNX graph in the file at ``path`` (exported from PyTorch, TensorFlow,
    scikit-learn…); its signature comes from the graph's inputs, or from the dataset's
    schema when ``data`` names the dataset version it was trained on (the graph's input
    types checked against it)."""
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"no ONNX file at {source}; give the path of a .onnx file")
    if source.suffix.lower() != ".onnx":
        raise InvalidInputError(f"{source} is not a .onnx file; export the model to ONNX first")
    return register_model(
        ctx,
        source,
        name,
        data=data,
        description=description or f"imported from the ONNX file {source.resolve()}",
        source="imported",
        run_params={"file": str(source.resolve())},
        tags={"imported_from": "onnx"},
    )
