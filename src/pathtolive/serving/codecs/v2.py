"""Open Inference Protocol V2 (KServe V2, Triton HTTP), with Triton's binary tensor
extension.

A request holds one tensor per signature column, named after it, or, for a model whose
inputs are all numbers, a single ``[rows, columns]`` tensor; the tensors come as JSON
``data`` or, after a JSON header of ``Inference-Header-Content-Length`` bytes, as raw
little-endian bytes. The answer holds ``predict`` and, for a model with probabilities,
``predict_proba``, in JSON or binary as the request asks. An error is
``{"error": message}``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import orjson

from pathtolive.errors import InvalidInputError
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import FieldSpec, FieldType, Signature
from pathtolive.registry.validation import (
    UnseenCategories,
    describe_value,
    name_list,
    validate_columns,
)
from pathtolive.serving.codecs.base import JSON_OPTIONS, Prediction, json_object

__all__ = ["V2Request", "decode_v2", "encode_v2", "v2_error", "v2_model_metadata"]

_V2_NUMBERS: dict[str, np.dtype[Any]] = {
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_V2_DATATYPES = ("BOOL", *_V2_NUMBERS, "BYTES")
_V2_RANGES: dict[str, tuple[float, float]] = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    if dtype.kind in "iu"
    else (-float(np.finfo(dtype).max), float(np.finfo(dtype).max))
    for name, dtype in _V2_NUMBERS.items()
}
"""The values each numeric datatype holds, for JSON data (binary data holds them by
construction)."""
_V2_JSON_TYPES: dict[str, tuple[frozenset[type], str]] = {
    "BOOL": (frozenset({bool}), "booleans"),
    "BYTES": (frozenset({str}), "strings"),
    **{
        name: (frozenset({int, float}), "numbers")
        if name.startswith("FP")
        else (frozenset({int}), "integers")
        for name in _V2_NUMBERS
    },
}
_FIELD_DATATYPES: dict[FieldType, str] = {
    "integer": "INT64",
    "float": "FP64",
    "boolean": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
    "datetime": "BYTES",
}
_V2_KEYS = ("id", "parameters", "inputs", "outputs")
_NONE = type(None)


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: list[int]
    datatype: str
    values: list[Any] | np.ndarray


@dataclass(frozen=True)
class V2Request:
    """A decoded V2 inference request: the rows, the client's ``id``, the outputs to send
    back as ``(name, binary)`` pairs (every output the model has when the request names
    none), and the request-level ``parameters``."""

    batch: InputBatch
    request_id: str | None
    requested_outputs: list[tuple[str, bool]]
    parameters: dict[str, Any] = field(default_factory=dict)


def decode_v2(
    body: bytes,
    header_length: int | None,
    signature: Signature,
    *,
    unseen_categories: UnseenCategories = "reject",
    max_rows: int,
) -> V2Request:
    """A V2 inference request. With ``header_length`` (the request's
    ``Inference-Header-Content-Length``) the body is that many bytes of JSON followed by
    the binary tensors, in input order.

    The inputs are one tensor per signature column, named after it, of shape ``[n]`` or
    ``[n, 1]``; or, for a model whose inputs are all numbers, a single tensor of shape
    ``[n, columns]`` holding them in signature order. JSON data may hold ``null`` for a
    nullable column; in a binary float tensor, which cannot, NaN stands for it there.
    """
    view = memoryview(body)
    if header_length is None:
        header, binary = view, view[len(view) :]
    elif 0 <= header_length <= len(view):
        header, binary = view[:header_length], view[header_length:]
    else:
        raise InvalidInputError(
            f"Inference-Header-Content-Length is {header_length} but the body has {len(view)} bytes"
        )
    data = json_object(header)
    unknown = [key for key in data if key not in _V2_KEYS]
    if unknown:
        raise InvalidInputError(
            f"unknown key {unknown[0]!r} in the request; it holds {', '.join(_V2_KEYS)}"
        )
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInputError(f'"id" must be a string, not {describe_value(request_id)}')
    parameters = data.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInputError(f'"parameters" must be an object, not {describe_value(parameters)}')
    binary_default = parameters.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise InvalidInputError('the "binary_data_output" parameter must be true or false')
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError(
            '"inputs" must be a non-empty list of tensors ({"name", "shape", "datatype", "data"})'
        )
    tensors: list[_Tensor] = []
    offset = 0
    for position, item in enumerate(inputs):
        tensor, offset = _read_tensor(item, position, binary, offset, header_length)
        tensors.append(tensor)
    if offset != len(binary):
        raise InvalidInputError(
            f"{len(binary)} bytes follow the JSON header but the inputs' binary_data_size "
            f"add up to {offset}"
        )
    columns, n_rows = _v2_columns(tensors, signature)
    batch = validate_columns(
        columns, n_rows, signature, unseen_categories=unseen_categories, max_rows=max_rows
    )
    requested = _requested_outputs(data.get("outputs"), signature, binary_default)
    return V2Request(
        batch=batch, request_id=request_id, requested_outputs=requested, parameters=parameters
    )


def encode_v2(
    prediction: Prediction,
    signature: Signature,
    *,
    model_name: str,
    model_version: str,
    request_id: str | None = None,
    requested_outputs: Sequence[tuple[str, bool]] | None = None,
) -> tuple[bytes, int | None]:
    """The V2 response body, and the length of its JSON header when outputs follow it as
    binary tensors (for ``Inference-Header-Content-Length``), else None.

    The outputs are ``predict`` (labels or values, shape ``[n]``) and, for a model with
    probabilities, ``predict_proba`` (FP64, ``[n, classes]``); without
    ``requested_outputs``, all of them, in JSON.
    """
    if requested_outputs is None:
        requested_outputs = [(name, False) for name in _output_names(signature)]
    outputs: list[dict[str, Any]] = []
    raw: list[bytes] = []
    n_rows = len(prediction.labels)
    for name, binary in requested_outputs:
        if name == "predict":
            datatype, values = _label_tensor(prediction.labels, signature)
            shape = [n_rows]
        elif name == "predict_proba":
            if prediction.probabilities is None:
                continue
            values = np.ascontiguousarray(prediction.probabilities, dtype=np.float64)
            datatype, shape = "FP64", list(values.shape)
            values = values.reshape(-1)
        else:
            raise InvalidInputError(
                f"unknown output {name!r}; this model answers: "
                f"{', '.join(_output_names(signature))}"
            )
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            data = _tensor_bytes(datatype, values)
            output["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            output["data"] = values
        outputs.append(output)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = outputs
    header = orjson.dumps(response, option=JSON_OPTIONS)
    if not raw:
        return header, None
    return b"".join([header, *raw]), len(header)


def v2_error(message: str) -> bytes:
    """A V2 error body: ``{"error": message}``."""
    return orjson.dumps({"error": message})


def v2_model_metadata(
    name: str, versions: list[str], signature: Signature, platform: str = "pathtolive"
) -> dict[str, Any]:
    """The V2 model metadata: one BYTES, BOOL, INT64 or FP64 input per signature column,
    and the ``predict`` (and ``predict_proba``) outputs."""
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": _label_datatype(signature), "shape": [-1]}
    ]
    if signature.output.kind == "probability":
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [-1, len(signature.output.classes or ())],
            }
        )
    return {
        "name": name,
        "versions": versions,
        "platform": platform,
        "inputs": [
            {"name": spec.name, "datatype": _FIELD_DATATYPES[spec.type], "shape": [-1]}
            for spec in signature.inputs
        ],
        "outputs": outputs,
    }


def _read_tensor(
    item: Any, position: int, binary: memoryview, offset: int, header_length: int | None
) -> tuple[_Tensor, int]:
    if not isinstance(item, dict):
        raise InvalidInputError(
            f"input {position} must be an object with name, shape, datatype and data, not "
            f"{describe_value(item)}"
        )
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"input {position} has no name")
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
        raise InvalidInputError(
            f"input tensor {name!r}: shape must be a list of non-negative integers, not {shape!r}"
        )
    datatype = item.get("datatype")
    if datatype not in _V2_DATATYPES:
        raise InvalidInputError(
            f"input tensor {name!r}: unknown datatype {datatype!r}; use BOOL, INT8 to "
            "INT64, UINT8 to UINT64, FP16, FP32, FP64 or BYTES"
        )
    parameters = item.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"input tensor {name!r}: parameters must be an object")
    if "shared_memory_region" in parameters:
        raise InvalidInputError(
            f"input tensor {name!r}: shared memory is not supported; send the data in the request"
        )
    size = math.prod(shape)
    binary_size = parameters.get("binary_data_size")
    values: list[Any] | np.ndarray
    if binary_size is not None:
        if header_length is None:
            raise InvalidInputError(
                f"input tensor {name!r} has binary_data_size but the request has no "
                "Inference-Header-Content-Length header"
            )
        if type(binary_size) is not int or binary_size < 0:
            raise InvalidInputError(
                f"input tensor {name!r}: binary_data_size must be a non-negative integer"
            )
        if offset + binary_size > len(binary):
            raise InvalidInputError(
                f"input tensor {name!r}: binary_data_size is {binary_size} but only "
                f"{len(binary) - offset} bytes are left after the JSON header"
            )
        raw = binary[offset : offset + binary_size]
        values = _binary_values(name, datatype, raw, size)
        offset += binary_size
    else:
        data = item.get("data")
        if not isinstance(data, list):
            raise InvalidInputError(
                f"input tensor {name!r} has no data: send data as a list or, with the binary "
                "extension, parameters.binary_data_size"
            )
        values = _flatten(name, data, len(shape))
        if len(values) != size:
            raise InvalidInputError(
                f"input tensor {name!r}: shape {shape} holds {size} values but data has "
                f"{len(values)}"
            )
        _check_json_types(name, datatype, values)
    return _Tensor(name=name, shape=shape, datatype=datatype, values=values), offset


def _flatten(name: str, data: list[Any], ndim: int) -> list[Any]:
    values = data
    for _ in range(ndim - 1):
        if not values or not isinstance(values[0], list):
            break
        if set(map(type, values)) != {list}:
            raise InvalidInputError(
                f"input tensor {name!r}: data mixes lists and values; send it flat, or "
                "nested to the tensor's shape"
            )
        values = list(chain.from_iterable(values))
    return values


def _check_json_types(name: str, datatype: str, values: list[Any]) -> None:
    accepted, what = _V2_JSON_TYPES[datatype]
    if set(map(type, values)) <= accepted | {_NONE}:
        _check_range(name, datatype, values)
        return
    index, value = next(
        (index, value)
        for index, value in enumerate(values)
        if type(value) not in accepted and value is not None
    )
    raise InvalidInputError(
        f"input tensor {name!r} ({datatype}): element {index} is {describe_value(value)}; "
        f"a {datatype} tensor holds {what}"
    )


def _check_range(name: str, datatype: str, values: list[Any]) -> None:
    """Refuse a JSON number its datatype cannot hold (INT8 100000, UINT64 -5, FP32 1e300):
    it would otherwise reach the model as the number sent, not as the type declared."""
    limits = _V2_RANGES.get(datatype)
    if limits is None or not values:
        return
    low, high = limits
    numbers = [value for value in values if value is not None] if None in values else values
    if not numbers or (low <= min(numbers) and max(numbers) <= high):
        return
    index, value = next(
        (index, value)
        for index, value in enumerate(values)
        if value is not None and not low <= value <= high
    )
    raise InvalidInputError(
        f"input tensor {name!r} ({datatype}): element {index} is {value!r}, out of range for "
        f"{datatype} ({_number(low)} to {_number(high)})"
    )


def _number(limit: float) -> str:
    return str(int(limit)) if isinstance(limit, int) else f"{limit:.6g}"


def _binary_values(name: str, datatype: str, raw: memoryview, size: int) -> list[Any] | np.ndarray:
    if datatype == "BYTES":
        return _read_bytes_tensor(name, raw, size)
    dtype = _V2_NUMBERS.get(datatype, np.dtype(np.uint8))
    if len(raw) != size * dtype.itemsize:
        raise InvalidInputError(
            f"input tensor {name!r}: {size} {datatype} values take {size * dtype.itemsize} "
            f"bytes but binary_data_size is {len(raw)}"
        )
    array = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if array.size and array.max() > 1:
            raise InvalidInputError(
                f"input tensor {name!r}: a BOOL tensor holds bytes 0 and 1 only"
            )
        return array.astype(np.bool_)
    return array


def _read_bytes_tensor(name: str, raw: memoryview, size: int) -> list[str]:
    out: list[str] = []
    position, end = 0, len(raw)
    while position < end:
        if position + 4 > end:
            raise InvalidInputError(
                f"input tensor {name!r}: the BYTES data ends inside an element's length"
            )
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        if position + length > end:
            raise InvalidInputError(
                f"input tensor {name!r}: element {len(out)} says {length} bytes but only "
                f"{end - position} are left"
            )
        try:
            out.append(str(raw[position : position + length], "utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"input tensor {name!r}: element {len(out)} is not UTF-8 text"
            ) from None
        position += length
    if len(out) != size:
        raise InvalidInputError(
            f"input tensor {name!r}: its shape holds {size} values but the BYTES data has "
            f"{len(out)}"
        )
    return out


def _v2_columns(
    tensors: list[_Tensor], signature: Signature
) -> tuple[dict[str, list[Any] | np.ndarray], int]:
    fields = {spec.name: spec for spec in signature.inputs}
    names = signature.input_names
    if all(tensor.name in fields for tensor in tensors):
        return _named_columns(tensors, fields, names)
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        return _matrix_columns(tensors[0], signature)
    stranger = next(tensor.name for tensor in tensors if tensor.name not in fields)
    raise InvalidInputError(
        f"unknown input tensor {stranger!r}; send one tensor per column, named after it "
        f"({name_list(names)}), or a single [rows, {len(names)}] tensor of numbers"
    )


def _named_columns(
    tensors: list[_Tensor], fields: Mapping[str, FieldSpec], names: Sequence[str]
) -> tuple[dict[str, list[Any] | np.ndarray], int]:
    columns: dict[str, list[Any] | np.ndarray] = {}
    n_rows: int | None = None
    for tensor in tensors:
        spec = fields[tensor.name]
        if tensor.name in columns:
            raise InvalidInputError(f"input tensor {tensor.name!r} is sent twice")
        _check_datatype(tensor, spec)
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise InvalidInputError(
                f"input tensor {tensor.name!r} must have shape [rows] or [rows, 1], not {shape}"
            )
        if n_rows is not None and shape[0] != n_rows:
            first = next(iter(columns))
            raise InvalidInputError(
                f"input tensor {tensor.name!r} has {shape[0]} rows but {first!r} has "
                f"{n_rows}; every tensor needs one value per row"
            )
        n_rows = shape[0]
        columns[tensor.name] = _nan_as_null(tensor.values, spec)
    missing = [name for name in names if name not in columns]
    if missing:
        listed = ", ".join(repr(name) for name in missing[:20])
        raise InvalidInputError(
            f"missing input tensor{'s' if len(missing) > 1 else ''} {listed} "
            f"(the model reads: {name_list(names)})"
        )
    return columns, n_rows or 0


def _matrix_columns(
    tensor: _Tensor, signature: Signature
) -> tuple[dict[str, list[Any] | np.ndarray], int]:
    width = len(signature.inputs)
    rows, columns = tensor.shape
    if columns != width:
        raise InvalidInputError(
            f"input tensor {tensor.name!r} has shape {tensor.shape}: a single [rows, columns] "
            f"tensor needs {width} columns, the model's inputs in order "
            f"({name_list(signature.input_names)})"
        )
    odd = next((spec for spec in signature.inputs if spec.type not in ("integer", "float")), None)
    if odd is not None:
        raise InvalidInputError(
            f"a single [rows, columns] tensor serves only models whose inputs are all "
            f"numbers, and column {odd.name!r} is {odd.type}: send one tensor per column, "
            "named after it"
        )
    if tensor.datatype not in _V2_NUMBERS:
        raise InvalidInputError(
            f"input tensor {tensor.name!r} has datatype {tensor.datatype} but the model reads "
            "numbers; send FP64 (or another numeric type)"
        )
    values = tensor.values
    if isinstance(values, np.ndarray):
        matrix = values.reshape(rows, columns)
        return {
            spec.name: _nan_as_null(matrix[:, j], spec) for j, spec in enumerate(signature.inputs)
        }, rows
    return {spec.name: values[j::width] for j, spec in enumerate(signature.inputs)}, rows


def _nan_as_null(values: list[Any] | np.ndarray, spec: FieldSpec) -> list[Any] | np.ndarray:
    """A binary float tensor cannot hold null, so NaN stands for it in a nullable column
    (anywhere else NaN stays, for validation to refuse)."""
    if not (spec.nullable and isinstance(values, np.ndarray) and values.dtype.kind == "f"):
        return values
    missing = np.isnan(values)
    if not missing.any():
        return values
    items: list[Any] = values.tolist()
    for row in np.flatnonzero(missing).tolist():
        items[row] = None
    return items


def _check_datatype(tensor: _Tensor, spec: FieldSpec) -> None:
    datatype = tensor.datatype
    if datatype == "BYTES":
        fits = spec.type in ("string", "category", "datetime")
    elif datatype == "BOOL":
        fits = spec.type == "boolean"
    else:
        fits = spec.type in ("integer", "float")
    if not fits:
        raise InvalidInputError(
            f"input tensor {tensor.name!r} has datatype {datatype} but column {spec.name!r} "
            f"is {spec.type}; send {_FIELD_DATATYPES[spec.type]}"
        )


def _output_names(signature: Signature) -> tuple[str, ...]:
    if signature.output.kind == "probability":
        return ("predict", "predict_proba")
    return ("predict",)


def _requested_outputs(
    outputs: Any, signature: Signature, binary_default: bool
) -> list[tuple[str, bool]]:
    available = _output_names(signature)
    if outputs is None or outputs == []:
        return [(name, binary_default) for name in available]
    if not isinstance(outputs, list):
        raise InvalidInputError('"outputs" must be a list of {"name": ...} objects')
    requested: list[tuple[str, bool]] = []
    for item in outputs:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise InvalidInputError(
                f'every requested output must be an object with a "name", not '
                f"{describe_value(item)}"
            )
        if name not in available:
            raise InvalidInputError(
                f"unknown output {name!r}; this model answers: {', '.join(available)}"
            )
        if any(name == seen for seen, _ in requested):
            raise InvalidInputError(f"output {name!r} is requested twice")
        parameters = item.get("parameters", {})
        if not isinstance(parameters, dict):
            raise InvalidInputError(f"output {name!r}: parameters must be an object")
        if "classification" in parameters:
            raise InvalidInputError(
                "the classification extension is not supported; ask for predict_proba"
            )
        if "shared_memory_region" in parameters:
            raise InvalidInputError(
                f"output {name!r}: shared memory is not supported; leave it out"
            )
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise InvalidInputError(f"output {name!r}: binary_data must be true or false")
        requested.append((name, binary))
    return requested


def _label_datatype(signature: Signature) -> str:
    classes = signature.output.classes
    if signature.output.kind == "regression" or not classes:
        return "FP64"
    if all(isinstance(label, bool) for label in classes):
        return "BOOL"
    if all(isinstance(label, str) for label in classes):
        return "BYTES"
    if all(isinstance(label, int) for label in classes):
        return "INT64"
    return "FP64"


def _label_tensor(labels: np.ndarray, signature: Signature) -> tuple[str, Any]:
    """The V2 datatype of the labels, and the labels flat in that type (an array for
    numbers, a list of strings for BYTES)."""
    if signature.output.kind == "regression" and labels.dtype.kind in "biuf":
        return "FP64", np.ascontiguousarray(labels, dtype=np.float64)
    kind = labels.dtype.kind
    if kind == "O":
        items = labels.tolist()
        types = set(map(type, items))
        if types <= {str}:
            return "BYTES", items
        labels = np.asarray(items) if types <= {bool, int, float} else labels.astype(str)
        kind = labels.dtype.kind
    if kind == "b":
        return "BOOL", np.ascontiguousarray(labels)
    if kind in "iu":
        return "INT64", np.ascontiguousarray(labels, dtype=np.int64)
    if kind == "f":
        return "FP64", np.ascontiguousarray(labels, dtype=np.float64)
    return "BYTES", [str(label) for label in labels.tolist()]


def _tensor_bytes(datatype: str, values: Any) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in values]
        return b"".join(struct.pack("<I", len(item)) + item for item in encoded)
    if datatype == "BOOL":
        return np.asarray(values, dtype=np.bool_).tobytes()
    return np.asarray(values, dtype=_V2_NUMBERS[datatype]).tobytes()
