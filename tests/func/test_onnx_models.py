"""ONNX models on the whole path: a pipeline that returns a graph registers it and passes
the gates; a .onnx file registers from Python and the command line; the live server
validates, predicts and explains them as it does any model.

One workspace for the module (scikit-learn's breast cancer and diabetes sets), one server
in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from pathtolive import Workspace
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError
from tests.support.cli import Result, run_in_process
from tests.support.live_path import (
    CANCER_GATES,
    cancer_frame,
    check_registered_and_gated,
    check_served_and_monitored,
)
from tests.support.pipelines import write_pipelines
from tests.support.serving import ThreadServer, cli_environ, serving_in_thread

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pathtolive[onnx])")
skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx is not installed (dev)")
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402 (after the skip)

CANCER_ONNX = """
import numpy as np
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive import Dataset, pipeline, step
from pathtolive.registry import predict_proba


@step
def split(data: Dataset):
    return train_test_split(data.df, test_size=0.25, random_state=0, stratify=data.df["target"])


@step
def train(train_df):
    x, y = train_df.drop(columns=["target"]), train_df["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    return to_onnx(model, x.to_numpy(np.float32)[:1], options={"zipmap": False})


@step
def evaluate(model, test_df) -> dict:
    x, y = test_df.drop(columns=["target"]), test_df["target"]
    return {"roc_auc": roc_auc_score(y, predict_proba(model, x)[:, 1])}


@pipeline
def cancer_onnx(data: Dataset):
    train_df, test_df = split(data)
    model = train(train_df)
    return model, evaluate(model, test_df)
"""


def diabetes_graph(path: Path) -> tuple[Ridge, pd.DataFrame]:
    """A ridge regression on three named columns, one graph input each, saved at ``path``."""
    features = load_diabetes(as_frame=True).frame[["age", "bmi", "bp"]]
    model = Ridge().fit(features, load_diabetes().target)
    graph = skl2onnx.to_onnx(
        model, initial_types=[("bmi_age_bp", FloatTensorType([None, 3]))], target_opset=17
    )
    # One input per column: split the tensor input into three named [N, 1] inputs.
    graph = _one_input_per_column(graph, ["age", "bmi", "bp"])
    path.write_bytes(graph.SerializeToString())
    return model, features


def _one_input_per_column(graph: Any, names: list[str]) -> Any:
    from onnx import TensorProto, helper

    (tensor,) = graph.graph.input
    concat = helper.make_node("Concat", names, [tensor.name], axis=1)
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in names]
    body = helper.make_graph(
        [concat, *graph.graph.node],
        graph.graph.name,
        inputs,
        list(graph.graph.output),
        list(graph.graph.initializer),
    )
    return helper.make_model(body, opset_imports=list(graph.opset_import), ir_version=8)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("onnx") / "ws"
    with Workspace.init(root, environ=cli_environ()) as created:
        created.add_dataset(cancer_frame(), "cancer", tags={"target": ["target"]})
    config = root / "pathtolive.toml"
    config.write_text(config.read_text() + CANCER_GATES)
    write_pipelines(root, cancer_onnx=CANCER_ONNX)
    with Workspace.open(root, environ=cli_environ()) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def from_pipeline(ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> ModelVersion:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ws.root)
        result = ws.run("cancer_onnx", data="cancer@1", register="cancer")
    assert result.model_version is not None
    return result.model_version


def test_a_pipeline_that_returns_a_graph_registers_it_and_passes_the_gates(
    ws: Workspace, from_pipeline: ModelVersion
) -> None:
    # The graph reads one tensor by position: the names are the schema's, less the target.
    features = [str(c) for c in cancer_frame().columns if c != "target"]
    check_registered_and_gated(ws, from_pipeline, flavor="onnx", features=features)


def test_an_onnx_file_registers_from_python_and_the_command_line(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "diabetes.onnx"
    ridge, features = diabetes_graph(path)

    version = ws.register_model(path, name="diabetes")

    assert version.flavor == "onnx"
    assert version.signature == {  # from the graph's inputs: no data was named
        "inputs": [
            {"name": name, "type": "float", "nullable": False, "categories": None}
            for name in ("age", "bmi", "bp")
        ],
        "output": {"kind": "regression", "classes": None},
    }
    loaded = ws.load_model(version.ref)
    np.testing.assert_allclose(loaded.predict(features), ridge.predict(features), rtol=1e-5)

    environ = {**cli_environ(), "HOME": str(tmp_path)}
    imported = run_in_process(
        ["models", "import-onnx", path, "--name", "diabetes", "--json"],
        cwd=ws.root,
        environ=environ,
    )
    assert imported.code == 0, imported.stderr
    again = imported.json()
    assert again["version"] == 2
    assert again["artifact_digest"] == version.artifact_digest  # the file's bytes, as they are
    missing = run_in_process(
        ["models", "import-onnx", tmp_path / "nope.onnx", "--name", "diabetes"],
        cwd=ws.root,
        environ=environ,
    )
    assert missing.code != 0
    assert "no ONNX file at" in missing.stderr
    # A graph whose inputs the dataset's schema does not have is refused, nothing stored.
    with pytest.raises(InvalidInputError, match="lacks columns the model was fitted on"):
        ws.register_model(path, name="diabetes", data="cancer@1")
    assert [v.version for v in _versions(ws, "diabetes")] == [1, 2]


def test_an_imported_onnx_file_is_gated_on_a_named_holdout(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "diabetes.onnx"
    diabetes_graph(path)
    later = load_diabetes(as_frame=True).frame[["age", "bmi", "bp", "target"]].iloc[300:]
    ws.add_dataset(later.reset_index(drop=True), "diabetes-later")  # no column tagged target
    environ = {**cli_environ(), "HOME": str(tmp_path)}

    def cli(*args: str | Path) -> Result:
        return run_in_process(args, cwd=ws.root, environ=environ)

    imported = cli("models", "import-onnx", path, "--name", "diabetes-onnx", "--json")
    assert imported.code == 0, imported.stderr
    ref = f"diabetes-onnx@{imported.json()['version']}"
    untargeted = cli("gates", "check", ref, "--holdout", "diabetes-later@latest")
    checked = cli("gates", "check", ref, "--holdout", "diabetes-later@latest", "--target", "target")

    assert untargeted.code == InvalidInputError.exit_code
    assert "name it with --target COLUMN" in untargeted.stderr
    assert checked.code == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].startswith(f"Training data unknown: {ref} was registered without the data")
    assert lines[1] == f"{ref} passed all 3 gates"
    assert lines[2].startswith(
        "judged on diabetes-later@1 (142 rows), named as diabetes-later@latest by "
    )


def _versions(ws: Workspace, name: str) -> list[ModelVersion]:
    from pathtolive.service.models import model_versions

    return model_versions(ws.context, name)


@pytest.fixture(scope="module")
def server(ws: Workspace, from_pipeline: ModelVersion) -> Iterator[ThreadServer]:
    # Promoted as any model is: its gates, then the policy (auto here) moves live.
    outcome = ws.promote(from_pipeline.ref, reason="first release")
    assert outcome.applied, outcome
    with serving_in_thread(ws.root, environ=cli_environ()) as running:
        yield running


def test_the_server_validates_predicts_and_explains_an_onnx_model(
    ws: Workspace, from_pipeline: ModelVersion, server: ThreadServer
) -> None:
    check_served_and_monitored(
        ws,
        server.url,
        from_pipeline.ref,
        cancer_frame().drop(columns=["target"]).head(3),
        explainer="occlusion",
        atol=1e-6,
        reference="cancer@1",
    )
