"""ONNX models, run by onnxruntime; the artifact is the ``.onnx`` file's bytes.

ONNX is a graph of operators with their weights, and nothing else: loading one builds the
graph in onnxruntime and runs no code of the file's, so there are no types to trust. It
brings models exported from PyTorch, TensorFlow or scikit-learn (``skl2onnx``).

A graph reads a frame in one of two layouts, told apart by its inputs:

* one input per column (``[N]`` or ``[N, 1]``, named after the column, as ``skl2onnx``
  writes a pipeline converted with one initial type per column): the feature names and
  their types are the graph's own;
* one ``[N, F]`` numeric tensor (``X``, ``float_input``, ``input``): the columns are read by
  position, as a scikit-learn model fitted on a bare array; their names come from the
  dataset's schema or the sample the model is registered with.

What it answers is read from its outputs. A label tensor (integers or strings) beside a
float ``[N, k]`` tensor or a ZipMap (``seq(map(...))``, skl2onnx's default) is a
classifier: the labels are the class labels the graph's classifier operator names
(``classlabels_*``), or those the model's metadata property ``classes`` lists (a JSON
list, for graphs whose exporter writes none), else ``0..k-1``; the probabilities follow
them. A label tensor
alone is a classifier without probabilities. A lone float output of ``k > 1`` columns is
read as the probabilities of classes ``0..k-1`` (it must be probabilities: put the
softmax in the graph); one of one column is a regressor.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from pathtolive.errors import InvalidInputError
from pathtolive.format import first_line
from pathtolive.registry.flavors.base import (
    ClassLabel,
    Flavor,
    LoadedModel,
    plain_label,
    predicting,
    type_name,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CLASSES_PROPERTY", "OnnxFlavor", "OnnxGraph", "OnnxInput"]

CLASSES_PROPERTY = "classes"
"""The metadata property (``onnx.helper.set_model_props``) that names a classifier's
labels, as a JSON list in the order of its probability columns: for a graph whose
exporter did not write them (PyTorch, TensorFlow)."""

# onnxruntime's element types, as NumPy dtypes and as the signature's field types.
_TENSOR_TYPES: Mapping[str, tuple[str, str]] = {
    "tensor(float)": ("float32", "float"),
    "tensor(double)": ("float64", "float"),
    "tensor(int64)": ("int64", "integer"),
    "tensor(int32)": ("int32", "integer"),
    "tensor(bool)": ("bool", "boolean"),
    "tensor(string)": ("object", "string"),
}
_LABEL_TYPES = frozenset({"tensor(int64)", "tensor(int32)", "tensor(string)"})
_FLOAT_TYPES = frozenset({"tensor(float)", "tensor(double)"})
_CLASS_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")
# Which dataset types each graph input type takes: a float input takes integers (and
# booleans, as 0 and 1), a string input takes categories.
_ACCEPTS: Mapping[str, frozenset[str]] = {
    "float": frozenset({"float", "integer", "boolean"}),
    "integer": frozenset({"integer", "boolean"}),
    "boolean": frozenset({"boolean"}),
    "string": frozenset({"string", "category"}),
}


@dataclass(frozen=True)
class OnnxInput:
    """One graph input: its name, NumPy dtype, signature type and rank (1 or 2)."""

    name: str
    dtype: str
    field_type: str
    rank: int
    width: int | None
    """The second dimension of a rank-2 input, when the graph fixes it."""


@dataclass(frozen=True, eq=False)
class OnnxGraph:
    """A loaded graph: the onnxruntime session, the bytes it was built from, and how the
    flavor feeds it and reads it."""

    session: Any
    data: bytes
    inputs: tuple[OnnxInput, ...]
    by_column: bool
    """True: one input per column; False: one ``[N, F]`` tensor, columns by position."""
    label_output: str | None
    proba_output: str | None
    zipmap: bool
    """True when ``proba_output`` is a ZipMap: one ``{class: probability}`` per row."""
    value_output: str | None


class OnnxFlavor(Flavor):
    """ONNX graphs (an ``onnx.ModelProto`` or a path to a ``.onnx`` file), run by
    onnxruntime."""

    name = "onnx"
    extra = "onnx"

    def can_save(self, model: object) -> bool:
        if isinstance(model, LoadedModel):
            return model.flavor == self.name
        if isinstance(model, str | os.PathLike):
            return str(os.fspath(model)).lower().endswith(".onnx")
        found = sys.modules.get("onnx")  # None: not imported, so not an ONNX model
        return found is not None and isinstance(model, found.ModelProto)

    def save(self, model: object) -> bytes:
        data = self._bytes(model)
        if not isinstance(model, LoadedModel):
            self._graph(data)  # refuse, now, a graph onnxruntime cannot run
        return data

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        # A graph holds operators and numbers: nothing in it is a type to trust.
        return self._loaded(self._graph(data))

    def wrap(self, model: object) -> LoadedModel:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            return model
        return self._loaded(self._graph(self._bytes(model)))

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        graph = _graph_of(model)
        if model.classes is None:
            assert graph.value_output is not None
            (values,) = self._run(model, frame, [graph.value_output])
            flat = np.asarray(values, dtype=np.float64).reshape(-1)  # [N] or [N, 1]: one each
            if flat.size != len(frame):
                # A width the graph left open: k class scores read as a regressor's value.
                raise InvalidInputError(
                    f"the ONNX graph answered {flat.size} values for {len(frame)} rows; a "
                    "regressor's graph must give one value per row (a classifier's, a label "
                    "output or a fixed number of probability columns)"
                )
            return flat
        if graph.label_output is not None:
            (found,) = self._run(model, frame, [graph.label_output])
            return np.asarray(found).reshape(-1)
        proba = self.predict_proba(model, frame)
        assert proba is not None
        labels: np.ndarray = np.asarray(model.classes)[np.argmax(proba, axis=1)]
        return labels

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        graph = _graph_of(model)
        if model.classes is None or graph.proba_output is None:
            return None
        (found,) = self._run(model, frame, [graph.proba_output])
        if graph.zipmap:
            return np.array([[row[label] for label in model.classes] for row in found], dtype=float)
        return np.asarray(found, dtype=np.float64).reshape(len(frame), len(model.classes))

    def gives_probabilities(self, model: LoadedModel) -> bool:
        return model.classes is not None and _graph_of(model).proba_output is not None

    def n_features(self, model: LoadedModel) -> int | None:
        graph = _graph_of(model)
        return len(graph.inputs) if graph.by_column else graph.inputs[0].width

    def input_types(self, model: LoadedModel) -> Mapping[str, str] | str | None:
        """The signature type each input column must have (by name), or the one type of
        every column of a tensor read by position."""
        graph = _graph_of(model)
        if graph.by_column:
            return {item.name: item.field_type for item in graph.inputs}
        return graph.inputs[0].field_type

    def check_fields(self, model: LoadedModel, fields: Sequence[tuple[str, str]]) -> None:
        """``InvalidInputError`` naming the first column, of ``(name, type)`` ``fields``,
        whose type the graph's input cannot take."""
        wanted = self.input_types(model)
        for name, kind in fields:
            needs = wanted if isinstance(wanted, str) else (wanted or {}).get(name)
            if needs is not None and kind not in _ACCEPTS[needs]:
                raise InvalidInputError(
                    f"column {name!r} is {kind} but the ONNX graph reads it as {needs}: "
                    "export the graph with an input of the column's type, or change the "
                    "column's type in the dataset's schema"
                )

    def declared_fields(self, model: LoadedModel) -> list[tuple[str, str]] | None:
        """The ``(name, type)`` of each input column as the graph declares them; None when
        it reads one tensor by position (the names are not in the graph)."""
        graph = _graph_of(model)
        if not graph.by_column:
            return None
        return [(item.name, item.field_type) for item in graph.inputs]

    # Inside -------------------------------------------------------------------------

    def imported(self, name: str) -> ModuleType:
        """``onnx`` or ``onnxruntime``, or the error naming the extra that installs it."""
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise self.missing_extra(exc) from exc

    def _bytes(self, model: object) -> bytes:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            return _graph_of(model).data
        if isinstance(model, str | os.PathLike):
            path = Path(os.fspath(model))
            try:
                return path.read_bytes()
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot read the ONNX file {path}: {exc.strerror or exc}"
                ) from exc
        if not self.can_save(model):
            raise InvalidInputError(
                f"the onnx flavor stores onnx.ModelProto objects and .onnx files, "
                f"not {type_name(model)}"
            )
        data: bytes = model.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
        return data

    def _graph(self, data: bytes) -> OnnxGraph:
        onnx = self.imported("onnx")
        runtime = self.imported("onnxruntime")
        try:
            proto = onnx.load_model_from_string(data)
        except Exception as exc:  # protobuf's DecodeError and kin: not a graph
            raise InvalidInputError(f"not an ONNX model: {first_line(exc)}") from exc
        if any(
            tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in proto.graph.initializer
        ):
            raise InvalidInputError(
                "this ONNX model keeps its weights in external files; save it as one file "
                "(onnx.save_model(model, path, save_as_external_data=False))"
            )
        options = runtime.SessionOptions()
        options.log_severity_level = 3  # errors only: warnings would reach every log
        # A server's predict thread waits for requests: idle pool threads must not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = runtime.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            raise InvalidInputError(
                f"onnxruntime cannot run this ONNX model: {first_line(exc)}"
            ) from exc
        inputs, by_column = _inputs(session.get_inputs())
        label, proba, zipmap, value = _outputs(session.get_outputs())
        return OnnxGraph(
            session=session,
            data=data,
            inputs=inputs,
            by_column=by_column,
            label_output=label,
            proba_output=proba,
            zipmap=zipmap,
            value_output=value,
        )

    def _loaded(self, graph: OnnxGraph) -> LoadedModel:
        onnx = self.imported("onnx")
        proto = onnx.load_model_from_string(graph.data)
        classes = _classes(proto, graph)
        return LoadedModel(
            flavor=self.name,
            model=graph,
            classes=classes,
            feature_names=tuple(item.name for item in graph.inputs) if graph.by_column else None,
            metadata={
                "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
                "opsets": {item.domain or "ai.onnx": item.version for item in proto.opset_import},
                "layout": "columns" if graph.by_column else "tensor",
            },
        )

    def _run(self, model: LoadedModel, frame: pd.DataFrame, outputs: list[str]) -> list[Any]:
        graph = _graph_of(model)
        runtime = self.imported("onnxruntime")
        errors = runtime.capi.onnxruntime_pybind11_state
        features = self.features(model, frame)
        with predicting(errors.InvalidArgument, errors.Fail, errors.RuntimeException):
            feeds = _feeds(graph, features)
            found: list[Any] = graph.session.run(outputs, feeds)
        return found


def _graph_of(model: LoadedModel) -> OnnxGraph:
    graph = model.model
    assert isinstance(graph, OnnxGraph)
    return graph


def _inputs(args: Sequence[Any]) -> tuple[tuple[OnnxInput, ...], bool]:
    inputs: list[OnnxInput] = []
    for arg in args:
        if arg.type not in _TENSOR_TYPES:
            raise InvalidInputError(
                f"the ONNX graph's input {arg.name!r} is a {arg.type}; pathtolive feeds "
                f"tensors of {', '.join(sorted(_TENSOR_TYPES))}"
            )
        shape = list(arg.shape)
        if len(shape) not in (1, 2):
            raise _layout_error(arg.name, shape)
        width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        dtype, field_type = _TENSOR_TYPES[arg.type]
        inputs.append(OnnxInput(arg.name, dtype, field_type, len(shape), width))
    if not inputs:
        raise InvalidInputError("the ONNX graph has no inputs")
    if len(inputs) == 1 and inputs[0].rank == 2 and inputs[0].width != 1:
        if inputs[0].field_type == "string":
            raise InvalidInputError(
                f"the ONNX graph reads all columns as one string tensor {inputs[0].name!r}; "
                "export it with one input per column"
            )
        return tuple(inputs), False
    for item, arg in zip(inputs, args, strict=True):
        if item.rank == 2 and item.width != 1:
            raise _layout_error(arg.name, list(arg.shape))
    return tuple(inputs), True


def _layout_error(name: str, shape: Sequence[object]) -> InvalidInputError:
    return InvalidInputError(
        f"the ONNX graph's input {name!r} has shape {list(shape)}; pathtolive feeds one "
        "input per column ([N] or [N, 1]) or one [N, F] tensor of every column"
    )


def _outputs(args: Sequence[Any]) -> tuple[str | None, str | None, bool, str | None]:
    """(label output, probability output, whether it is a ZipMap, value output)."""
    label = next((arg.name for arg in args if arg.type in _LABEL_TYPES), None)
    floats = [arg for arg in args if arg.type in _FLOAT_TYPES]
    zipmap = next((arg.name for arg in args if arg.type.startswith("seq(map(")), None)
    if label is not None:
        if zipmap is not None:
            return label, zipmap, True, None
        return label, floats[0].name if floats else None, False, None
    if not floats:
        kinds = ", ".join(f"{arg.name}: {arg.type}" for arg in args)
        raise InvalidInputError(
            f"the ONNX graph has no label or float output pathtolive can read ({kinds})"
        )
    first = floats[0]
    shape = list(first.shape)
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 1:
        return None, first.name, False, None  # probabilities of classes 0..k-1
    return None, None, False, first.name


def _classes(proto: Any, graph: OnnxGraph) -> tuple[ClassLabel, ...] | None:
    if graph.label_output is None and graph.proba_output is None:
        return None
    named = {prop.key: prop.value for prop in proto.metadata_props}.get(CLASSES_PROPERTY)
    if named is not None:
        return _named_classes(named, _proba_width(graph))
    # The classifier's own labels: the ZipMap's when there is one (it names what the
    # probabilities are keyed by), else the classifier operator's.
    nodes = sorted(proto.graph.node, key=lambda node: node.op_type != "ZipMap")
    for node in nodes:
        for attribute in node.attribute:
            if attribute.name in _CLASS_ATTRIBUTES and (attribute.ints or attribute.strings):
                if attribute.strings:
                    return tuple(value.decode() for value in attribute.strings)
                return tuple(plain_label(int(value)) for value in attribute.ints)
    width = _proba_width(graph)
    if width is None:
        raise InvalidInputError(
            "the ONNX graph is a classifier but names no class labels and its "
            "probabilities have no fixed width: pathtolive cannot tell its classes"
        )
    return tuple(range(width))


def _named_classes(text: str, width: int | None) -> tuple[ClassLabel, ...]:
    try:
        labels = json.loads(text)
    except ValueError:
        labels = None
    if not isinstance(labels, list) or not labels:
        raise InvalidInputError(
            f"the ONNX model's metadata property {CLASSES_PROPERTY!r} must be a JSON list of "
            f"class labels, not {text[:80]!r}"
        )
    if width is not None and len(labels) != width:
        raise InvalidInputError(
            f"the ONNX model's metadata property {CLASSES_PROPERTY!r} names {len(labels)} "
            f"classes but its probabilities have {width} columns"
        )
    return tuple(plain_label(label) for label in labels)


def _proba_width(graph: OnnxGraph) -> int | None:
    if graph.proba_output is None or graph.zipmap:
        return None
    for arg in graph.session.get_outputs():
        if arg.name == graph.proba_output:
            shape = list(arg.shape)
            if len(shape) == 2 and isinstance(shape[1], int):
                return shape[1]
    return None


def _feeds(graph: OnnxGraph, features: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
    if not graph.by_column:
        (item,) = graph.inputs
        values = features.to_numpy() if not isinstance(features, np.ndarray) else features
        return {item.name: np.ascontiguousarray(values, dtype=item.dtype)}
    feeds: dict[str, np.ndarray] = {}
    for position, item in enumerate(graph.inputs):
        if isinstance(features, np.ndarray):
            column = features[:, position]
        else:
            column = features[item.name].to_numpy()
        if item.field_type == "string":
            column = np.asarray([str(value) for value in column], dtype=object)
        else:
            column = column.astype(item.dtype)
        feeds[item.name] = column.reshape(-1, 1) if item.rank == 2 else column
    return feeds
