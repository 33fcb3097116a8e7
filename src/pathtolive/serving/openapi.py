"""The request bodies of the prediction endpoints, for the OpenAPI document.

Handlers parse bodies themselves (for speed, and to answer in each protocol's own error
shape), so FastAPI cannot infer these schemas; they are declared here instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DESCRIPTION", "FEEDBACK", "INVOCATIONS", "TAGS", "V1_PREDICT", "V2_INFER"]

DESCRIPTION = (
    "Serves the registry's live model versions (and canary and shadow versions) over "
    "three standard protocols. Requests are checked against the model's signature; bad "
    "input is a 4xx naming the field and the problem. When the server listens beyond "
    "loopback, or was started with --auth, every endpoint but health needs "
    "`Authorization: Bearer <token>`. Every prediction answer carries its request id in "
    "the `x-request-id` header; send it back with the true label to `/feedback` (or a label "
    "per row, for a batch)."
)

TAGS = [
    {"name": "v1", "description": "Native / KServe V1 protocol"},
    {"name": "mlflow", "description": "MLflow scoring server protocol"},
    {"name": "v2", "description": "Open Inference Protocol V2 (KServe V2, Triton HTTP)"},
    {"name": "health", "description": "Liveness, readiness and metrics"},
]

_SCALAR: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
}
_RECORDS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": _SCALAR},
}
_ROWS: dict[str, Any] = {"type": "array", "items": {"type": "array", "items": _SCALAR}}
_COLUMNS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": _SCALAR},
}
_ROWS_OR_COLUMNS: dict[str, Any] = {"anyOf": [_RECORDS, _ROWS, _COLUMNS]}
_ERRORS: dict[str, Any] = {
    "400": {"description": "the input does not match the model's signature"},
    "401": {"description": "no valid token"},
    "403": {"description": "the token's role may not do this"},
    "404": {"description": "the model or version is not served here"},
    "413": {"description": "the body or the batch is over the server's limit"},
    "415": {"description": "unsupported content type"},
    "422": {"description": "the model could not score input that matches its signature"},
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


V1_PREDICT: dict[str, Any] = {
    "requestBody": _json_body(
        {
            "type": "object",
            "properties": {"instances": _ROWS_OR_COLUMNS, "inputs": _ROWS_OR_COLUMNS},
            "additionalProperties": False,
        }
    ),
    "responses": _ERRORS,
}

_LABEL: dict[str, Any] = {
    "anyOf": [{"type": "string", "maxLength": 1000}, {"type": "number"}, {"type": "boolean"}]
}
_REQUEST_ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 100}

# The bounds are the server's: MAX_REQUEST_ID_CHARS, MAX_LABEL_CHARS and MAX_FEEDBACK_ROWS
# (service.predictions), MAX_FEEDBACK_LABELS (serving.codecs.v1); a test compares them.
FEEDBACK: dict[str, Any] = {
    "requestBody": _json_body(
        {
            "oneOf": [
                {
                    "title": "one label",
                    "description": "the true label of one row of the request (row 0 unless "
                    "given: a single-row request's)",
                    "type": "object",
                    "required": ["request_id", "label"],
                    "properties": {
                        "request_id": _REQUEST_ID,
                        "label": _LABEL,
                        "row": {"type": "integer", "minimum": 0, "maximum": 999_999},
                    },
                    "additionalProperties": False,
                },
                {
                    "title": "a label per row",
                    "description": "the true labels of a batch request, label i for row i",
                    "type": "object",
                    "required": ["request_id", "labels"],
                    "properties": {
                        "request_id": _REQUEST_ID,
                        "labels": {
                            "type": "array",
                            "items": _LABEL,
                            "minItems": 1,
                            "maxItems": 10_000,
                        },
                    },
                    "additionalProperties": False,
                },
            ]
        }
    ),
    "responses": {
        "201": {"description": "stored: the request id and the number of rows labelled"},
        **_ERRORS,
    },
}

INVOCATIONS: dict[str, Any] = {
    "parameters": [
        {
            "name": "model",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "the model to score with, when several are served",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "dataframe_split": {
                            "type": "object",
                            "properties": {
                                "columns": {"type": "array", "items": {"type": "string"}},
                                "data": _ROWS,
                                "index": {"type": "array"},
                            },
                        },
                        "dataframe_records": _RECORDS,
                        "instances": _ROWS_OR_COLUMNS,
                        "inputs": _ROWS_OR_COLUMNS,
                        "params": {"type": "object"},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "responses": _ERRORS,
}

_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}

V2_INFER: dict[str, Any] = {
    "requestBody": _json_body(
        {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "items": _TENSOR},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        }
    ),
    "responses": _ERRORS,
}
