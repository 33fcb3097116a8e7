"""KServe V1, the native protocol: ``/v1/models/NAME:predict`` and ``:explain`` bodies,
feedback bodies, and the native error body.

A predict or explain body is an object with ``instances`` or ``inputs`` (exactly one)
holding rows in any of the shapes :mod:`pathtolive.serving.codecs.base` reads. A feedback
body gives the true label of one row of an earlier prediction, or a label per row; every
refusal of its shape shows the shapes accepted. An error is
``{"error": message, "code": code}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from pathtolive.errors import InvalidInputError, PathToLiveError
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import Signature
from pathtolive.registry.validation import UnseenCategories
from pathtolive.serving.codecs.base import Prediction, decode_rows, encode_predictions, json_object

if TYPE_CHECKING:
    from pathtolive.registry.explainers import Explanation

__all__ = [
    "MAX_FEEDBACK_LABELS",
    "decode_feedback",
    "decode_v1",
    "encode_explanation",
    "encode_v1",
    "v1_error",
]

MAX_FEEDBACK_LABELS = 10_000
"""Most labels one feedback request may give (``labels``, one per row)."""
_FEEDBACK_SHAPES = (
    'send {"request_id": "<the x-request-id of the prediction>", "label": <value>, '
    '"row": <its row in the request, 0 if left out>} or {"request_id": "<...>", '
    "\"labels\": [<row 0's label>, <row 1's>, ...]}"
)


def decode_v1(
    body: bytes,
    signature: Signature,
    *,
    unseen_categories: UnseenCategories = "reject",
    max_rows: int,
) -> InputBatch:
    """The rows of a KServe V1 body: an object with ``instances`` or ``inputs`` (exactly
    one), holding records, positional rows or columns."""
    data = json_object(body)
    unknown = [key for key in data if key not in ("instances", "inputs")]
    if unknown:
        raise InvalidInputError(
            f"unknown key {unknown[0]!r} in the body; send "
            '{"instances": [...]} or {"inputs": [...]}'
        )
    if len(data) != 1:
        raise InvalidInputError(
            'the body must hold exactly one of "instances" or "inputs", '
            f"not {'both' if data else 'neither'}"
        )
    key, value = next(iter(data.items()))
    return decode_rows(value, key, signature, unseen_categories, max_rows)


def encode_v1(prediction: Prediction, signature: Signature) -> bytes:
    """``{"predictions": [...]}``: per row the class probabilities (in ``classes`` order)
    for a model with probabilities, else the label or value."""
    return encode_predictions(prediction)


def encode_explanation(explanation: Explanation, *, model_name: str, model_version: str) -> bytes:
    """The ``:explain`` answer: per row the attribution of each input column, the base
    value and the explained output."""
    rows = [
        {
            "attributions": dict(zip(explanation.features, map(float, values), strict=True)),
            "base_value": float(base),
            "prediction": float(output),
        }
        for values, base, output in zip(
            explanation.values, explanation.base_values, explanation.predictions, strict=True
        )
    ]
    return orjson.dumps(
        {
            "model_name": model_name,
            "model_version": model_version,
            "method": explanation.method,
            "output": explanation.output,
            "explanations": rows,
        }
    )


def v1_error(exc: PathToLiveError) -> bytes:
    """The native error body: ``{"error": message, "code": code}``."""
    return orjson.dumps({"error": exc.message, "code": exc.code})


def decode_feedback(body: bytes) -> list[tuple[Any, Any, int]]:
    """The ``(request_id, label, row)`` items of a feedback body: one label for one row
    (``label``, ``row`` 0 unless given) or a label per row in order (``labels``). The
    request id and labels are checked when they are stored; the shape is checked here,
    so every refusal of a shape shows the shapes accepted."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
    return _feedback_items(data)


def _feedback_items(data: object) -> list[tuple[Any, Any, int]]:
    from pathtolive.service.predictions import check_feedback_row, json_kind

    if not isinstance(data, dict):
        raise _feedback_refused(f"the body is {json_kind(data)}, not a JSON object")
    unknown = sorted(set(data) - {"request_id", "label", "labels", "row"})
    if unknown:
        raise _feedback_refused(f"unknown field {', '.join(map(repr, unknown))[:200]}")
    if "request_id" not in data:
        raise _feedback_refused("the request_id is missing")
    if ("label" in data) == ("labels" in data):
        both = "label" in data
        raise _feedback_refused("give label or labels, not both" if both else "no label given")
    request_id = data["request_id"]
    if "label" in data:
        try:
            row = check_feedback_row(data.get("row", 0))
        except InvalidInputError as exc:
            raise _feedback_refused(exc.message) from None
        return [(request_id, data["label"], row)]
    if "row" in data:
        raise _feedback_refused("row goes with one label; labels are for rows 0, 1, ... in order")
    labels = data["labels"]
    if not isinstance(labels, list) or not 1 <= len(labels) <= MAX_FEEDBACK_LABELS:
        given = f"{len(labels)}" if isinstance(labels, list) else json_kind(labels)
        raise _feedback_refused(
            f"labels must be a list of 1 to {MAX_FEEDBACK_LABELS} labels, not {given}"
        )
    return [(request_id, label, row) for row, label in enumerate(labels)]


def _feedback_refused(problem: str) -> InvalidInputError:
    return InvalidInputError(f"{problem}; {_FEEDBACK_SHAPES}")
