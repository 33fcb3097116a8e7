"""Model folders written by hand in MLflow's exact on-disk format (``MLmodel`` YAML, the
environment files and the model file), so tests need no mlflow. MLflow 2 wrote
cloudpickle by default; MLflow 3 writes skops."""

from __future__ import annotations

import importlib
import json
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

RUN_ID = "8c1e4f0b2d3a4e5f9a7b6c5d4e3f2a1b"
MLFLOW_TYPE = {
    "float64": "double",
    "int64": "long",
    "str": "string",
    "object": "string",
    "bool": "boolean",
}

# MLmodel as MLflow 2.12 writes it for mlflow.sklearn.log_model(model, "model") with an
# inferred signature (yaml.safe_dump: keys sorted, the signature kept as JSON strings).
MLMODEL_V2 = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: {serialization}
    sklearn_version: 1.4.2
mlflow_version: 2.12.1
model_size_bytes: {size}
model_uuid: 0f5a3c1e9b7d4e2f8a6b4c2d0e9f7a5b
run_id: {run_id}
signature:
  inputs: '{inputs}'
  outputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float64", "shape": [-1]}}}}]'
  params: null
utc_time_created: '2024-05-02 09:14:03.517316'
"""

CONDA_V2 = """\
channels:
- conda-forge
dependencies:
- python=3.11.7
- pip<=24.0
- pip:
  - mlflow==2.12.1
  - cloudpickle==3.0.0
  - scikit-learn==1.4.2
name: mlflow-env
"""

PYTHON_ENV = """\
python: 3.11.7
build_dependencies:
- pip==24.0
- setuptools==65.5.0
- wheel==0.43.0
dependencies:
- -r requirements.txt
"""


def _colspec(frame: pd.DataFrame, optional: tuple[str, ...] = ()) -> str:
    return json.dumps(
        [
            {
                "type": MLFLOW_TYPE[str(frame[name].dtype)],
                "name": name,
                "required": name not in optional,
            }
            for name in frame.columns
        ]
    )


def _pickle_bytes(model: object) -> bytes:
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:  # MLflow's cloudpickle of a plain scikit-learn model is a pickle
        return pickle.dumps(model)
    return bytes(cloudpickle.dumps(model))


def write_mlflow2_folder(
    folder: Path,
    model: object,
    sample: pd.DataFrame,
    *,
    serialization: str = "cloudpickle",
    optional: tuple[str, ...] = (),
) -> Path:
    """A model folder as MLflow 2 writes it, with the model pickled."""
    folder.mkdir(parents=True)
    data = _pickle_bytes(model)
    (folder / "model.pkl").write_bytes(data)
    (folder / "MLmodel").write_text(
        MLMODEL_V2.format(
            serialization=serialization,
            size=len(data),
            run_id=RUN_ID,
            inputs=_colspec(sample, optional),
        )
    )
    (folder / "conda.yaml").write_text(CONDA_V2)
    (folder / "python_env.yaml").write_text(PYTHON_ENV)
    (folder / "requirements.txt").write_text(
        "mlflow==2.12.1\ncloudpickle==3.0.0\nscikit-learn==1.4.2\n"
    )
    return folder


def write_mlflow3_folder(
    folder: Path,
    model: object,
    sample: pd.DataFrame,
    *,
    skops_trusted_types: list[str] | None = None,
) -> Path:
    """A model folder as MLflow 3 writes it: skops by default, a LoggedModel id."""
    folder.mkdir(parents=True)
    data = bytes(importlib.import_module("skops.io").dumps(model))
    (folder / "model.skops").write_bytes(data)
    document: dict[str, Any] = {
        "artifact_path": "mlflow-artifacts:/1/models/m-84944822addc45aba0248da928440401/artifacts",
        "flavors": {
            "python_function": {
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.sklearn",
                "model_path": "model.skops",
                "predict_fn": "predict",
                "python_version": "3.12.8",
            },
            "sklearn": {
                "code": None,
                "pickled_model": "model.skops",
                "serialization_format": "skops",
                "sklearn_version": "1.9.1",
                "skops_trusted_types": skops_trusted_types,
            },
        },
        "mlflow_version": "3.16.1",
        "model_id": "m-84944822addc45aba0248da928440401",
        "model_size_bytes": len(data),
        "model_uuid": "m-84944822addc45aba0248da928440401",
        "run_id": RUN_ID,
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
            "type": "dataframe",
        },
        "signature": {
            "inputs": _colspec(sample),
            "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]',
            "params": None,
        },
        "utc_time_created": "2026-03-14 15:09:26.535897",
    }
    (folder / "MLmodel").write_text(yaml.safe_dump(document, default_flow_style=False))
    (folder / "python_env.yaml").write_text(PYTHON_ENV.replace("3.11.7", "3.12.8"))
    (folder / "requirements.txt").write_text(
        "mlflow==3.16.1\nnumpy==2.4.6\nscikit-learn==1.9.1\nskops==0.16.0\n"
    )
    head = sample.head(2)
    split = {"columns": list(head.columns), "data": head.to_numpy().tolist()}
    (folder / "input_example.json").write_text(json.dumps(split))
    return folder
