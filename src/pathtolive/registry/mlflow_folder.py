"""Read an MLflow model folder without MLflow.

An MLflow model is a folder with an ``MLmodel`` YAML file naming its flavors. pathtolive
imports the ``sklearn`` flavor: a model written by skops (MLflow 3's default) loads under
the same untrusted-type check as any skops model; one written by pickle or cloudpickle
(MLflow 2's default) can run arbitrary code when loaded, so it loads only when the caller
says it trusts it (``trust_pickle=True``). The signature's column specs become a
:class:`~pathtolive.registry.signature.Signature`; the run id, creation time and MLflow
version are kept as metadata. ``skops_trusted_types`` written in ``MLmodel`` are reported,
never applied: the file cannot vouch for itself.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pathtolive.errors import InvalidInputError, UnsupportedFormatError, UntrustedModelError
from pathtolive.format import first_line
from pathtolive.registry.flavors import flavor_for, get_flavor
from pathtolive.registry.signature import FieldSpec, FieldType, Signature, output_spec

__all__ = ["MLFLOW_TYPES", "ImportedModel", "read_mlflow_model"]

MLFLOW_TYPES: Mapping[str, FieldType] = {
    "boolean": "boolean",
    "integer": "integer",
    "long": "integer",
    "float": "float",
    "double": "float",
    "string": "string",
    "datetime": "datetime",
}
"""MLflow column types and the signature types they become."""

_MLMODEL = "MLmodel"
_PICKLE_FORMATS = ("pickle", "cloudpickle")
# What MLflow's loader assumes when the flavor does not say (models from MLflow < 1.0).
_DEFAULT_FORMAT = "pickle"
# Metadata kept from the top level of MLmodel and from its sklearn flavor.
_TOP_KEYS = (
    "run_id",
    "utc_time_created",
    "mlflow_version",
    "model_uuid",
    "model_id",
    "artifact_path",
    "model_size_bytes",
)
_FLAVOR_KEYS = ("sklearn_version", "serialization_format", "skops_trusted_types")
_UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    AttributeError,
    ImportError,
    IndexError,
    TypeError,
    ValueError,
)


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """A model read from an MLflow folder: the fitted object, the pathtolive flavor that
    stores it, its signature, and what MLmodel said about it (``run_id``,
    ``utc_time_created``, ``mlflow_version``, ``flavors``, ``requirements``, the raw
    ``mlflow_signature``, …). The signature is None when MLflow recorded none, or one
    that names no typed columns (a tensor signature); ``metadata["signature_note"]``
    then says why."""

    model: object
    flavor: str
    signature: Signature | None
    metadata: dict[str, Any] = field(default_factory=dict)


def read_mlflow_model(
    folder: Path,
    *,
    trust_pickle: bool = False,
    trusted: Sequence[str] = (),
) -> ImportedModel:
    """The scikit-learn model in the MLflow model ``folder``.

    ``trust_pickle`` allows a pickle or cloudpickle file, which runs code when loaded;
    ``trusted`` names skops types to trust beyond the default allow-list. Errors say in
    one line what is wrong: no ``MLmodel``, malformed YAML, no ``sklearn`` flavor (the
    flavors found are listed), a missing model file, an untrusted model.
    """
    folder = Path(folder)
    document = _read_mlmodel(folder)
    flavors = document.get("flavors")
    if not isinstance(flavors, Mapping) or "sklearn" not in flavors:
        found = ", ".join(str(name) for name in flavors) if isinstance(flavors, Mapping) else ""
        raise InvalidInputError(
            f"{folder / _MLMODEL} has no sklearn flavor (flavors found: {found or 'none'}); "
            "pathtolive imports scikit-learn models from MLflow"
        )
    conf = flavors["sklearn"]
    if not isinstance(conf, Mapping):
        raise InvalidInputError(f"{folder / _MLMODEL}: the sklearn flavor is not a mapping")
    model_path = _model_path(folder, conf)
    data = model_path.read_bytes()
    serialization = str(conf.get("serialization_format") or _DEFAULT_FORMAT)
    if serialization == "skops":
        model = _load_skops(data, model_path, trusted, conf.get("skops_trusted_types"))
    elif serialization in _PICKLE_FORMATS:
        model = _load_pickle(data, model_path, serialization, trust_pickle=trust_pickle)
    else:
        raise UnsupportedFormatError(
            f"{model_path.name} is in the {serialization!r} format; pathtolive reads skops, "
            "pickle and cloudpickle"
        )
    flavor = flavor_for(model)
    metadata = _metadata(folder, document, conf, flavors)
    signature, note = _signature(document.get("signature"), model, folder)
    if note is not None:
        metadata["signature_note"] = note
    return ImportedModel(model=model, flavor=flavor.name, signature=signature, metadata=metadata)


def _read_mlmodel(folder: Path) -> dict[str, Any]:
    path = folder / _MLMODEL
    if not path.is_file():
        raise InvalidInputError(
            f"no MLmodel file in {folder}: point at the MLflow model folder (the one that "
            "holds MLmodel and the model file)"
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not valid YAML: {first_line(exc)}") from exc
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path} is not an MLmodel file (expected a YAML mapping)")
    return document


def _model_path(folder: Path, conf: Mapping[str, Any]) -> Path:
    name = conf.get("pickled_model")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{folder / _MLMODEL}: the sklearn flavor names no pickled_model")
    root = folder.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise InvalidInputError(
            f"{folder / _MLMODEL}: pickled_model {name!r} points outside the model folder"
        )
    if not path.is_file():
        raise InvalidInputError(
            f"the sklearn flavor's model file {name!r} is missing from {folder}; copy the "
            "whole MLflow model folder"
        )
    return path


def _load_skops(data: bytes, path: Path, trusted: Sequence[str], declared: object) -> object:
    flavor = get_flavor("sklearn")
    try:
        return flavor.load(data, trusted=trusted).model
    except UntrustedModelError as exc:
        if isinstance(declared, list) and declared:
            note = f" (its MLmodel declares skops_trusted_types: {', '.join(map(str, declared))})"
            raise UntrustedModelError(
                f"{path.name}: {exc.message}{note}", details=exc.details
            ) from exc
        raise UntrustedModelError(f"{path.name}: {exc.message}", details=exc.details) from exc


def _load_pickle(data: bytes, path: Path, serialization: str, *, trust_pickle: bool) -> object:
    if not trust_pickle:
        raise UntrustedModelError(
            f"{path.name} is a {serialization} file, and loading one can run arbitrary code; "
            "if you trust where this model came from, pass --trust-pickle (CLI) or "
            "trust_pickle=True (Python), or re-log it with serialization_format='skops'",
            details={"serialization_format": serialization},
        )
    try:
        # The caller vouched for this file: trust_pickle=True is an explicit opt-in.
        return pickle.loads(data)
    except _UNPICKLE_ERRORS as exc:
        problem = first_line(exc)
        hint = (
            " (a cloudpickle file may need cloudpickle installed)"
            if isinstance(exc, ImportError)
            else ""
        )
        raise InvalidInputError(f"cannot unpickle {path.name}: {problem}{hint}") from exc


def _metadata(
    folder: Path,
    document: Mapping[str, Any],
    conf: Mapping[str, Any],
    flavors: Mapping[str, Any],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"source": "mlflow"}
    for key in _TOP_KEYS:
        if document.get(key) is not None:
            metadata[key] = _plain(document[key])
    for key in _FLAVOR_KEYS:
        if conf.get(key) is not None:
            metadata[key] = _plain(conf[key])
    metadata["flavors"] = [str(name) for name in flavors]
    if document.get("signature") is not None:
        metadata["mlflow_signature"] = _plain(document["signature"])
    requirements = folder / "requirements.txt"
    if requirements.is_file():
        lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
        metadata["requirements"] = [
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        ]
    return metadata


def _signature(raw: object, model: object, folder: Path) -> tuple[Signature | None, str | None]:
    """The signature, or None and why when MLflow's cannot be read as named columns."""
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("inputs"), str):
        raise InvalidInputError(f"{folder / _MLMODEL}: malformed signature (no inputs)")
    try:
        columns = json.loads(raw["inputs"])
    except ValueError as exc:
        raise InvalidInputError(
            f"{folder / _MLMODEL}: the signature's inputs are not JSON: {exc}"
        ) from exc
    if not isinstance(columns, list):
        raise InvalidInputError(f"{folder / _MLMODEL}: the signature's inputs are not a list")
    fields: list[FieldSpec] = []
    for column in columns:
        if not isinstance(column, Mapping):
            raise InvalidInputError(f"{folder / _MLMODEL}: malformed signature input {column!r}")
        kind = column.get("type")
        name = column.get("name")
        if kind == "tensor":
            return None, "MLflow recorded a tensor signature, which names no columns"
        if not isinstance(name, str):
            return None, "MLflow's signature has unnamed columns"
        field_type = MLFLOW_TYPES.get(kind) if isinstance(kind, str) else None
        if field_type is None:
            return None, f"signature input {name!r} has the MLflow type {kind!r}, not a column type"
        nullable = not bool(column.get("required", True))
        fields.append(FieldSpec(name=name, type=field_type, nullable=nullable))
    return Signature(inputs=tuple(fields), output=output_spec(model)), None


def _plain(value: Any) -> Any:
    # YAML may give dates and other objects; metadata stays JSON.
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
