"""The model registry's storage-independent part: flavors, signatures (and the batches of
inputs checked against them), MLflow import, and the per-row explainers of a stored model.

Everything here takes and returns bytes, frames or local folders; the registry service
puts the bytes in the artifact store and the rest in the metadata store.
"""

from __future__ import annotations

from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.explainers import Explainer, Explanation, build_explainer
from pathtolive.registry.flavors import (
    DEFAULT_TRUSTED,
    FLAVORS,
    TREE_TYPES,
    ClassLabel,
    Flavor,
    LightGBMFlavor,
    LoadedModel,
    OnnxFlavor,
    PythonFlavor,
    SklearnFlavor,
    UntrustedModelError,
    XGBoostFlavor,
    flavor_for,
    get_flavor,
    predict,
    predict_proba,
    untrusted_message,
    wrap,
)
from pathtolive.registry.mlflow_folder import MLFLOW_TYPES, ImportedModel, read_mlflow_model
from pathtolive.registry.signature import (
    FIELD_TYPES,
    OUTPUT_KINDS,
    FieldSpec,
    FieldType,
    OutputKind,
    OutputSpec,
    Signature,
    declared_signature,
    infer_signature,
    output_spec,
)

__all__ = [
    "DEFAULT_TRUSTED",
    "FIELD_TYPES",
    "FLAVORS",
    "MLFLOW_TYPES",
    "OUTPUT_KINDS",
    "TREE_TYPES",
    "ClassLabel",
    "Explainer",
    "Explanation",
    "FieldSpec",
    "FieldType",
    "Flavor",
    "ImportedModel",
    "InputBatch",
    "LightGBMFlavor",
    "LoadedModel",
    "OnnxFlavor",
    "OutputKind",
    "OutputSpec",
    "PythonFlavor",
    "Signature",
    "SklearnFlavor",
    "UntrustedModelError",
    "XGBoostFlavor",
    "build_explainer",
    "declared_signature",
    "flavor_for",
    "get_flavor",
    "infer_signature",
    "output_spec",
    "predict",
    "predict_proba",
    "read_mlflow_model",
    "to_frame",
    "untrusted_message",
    "wrap",
]
