"""What the codec tests share: the server's way to predict, the reference frames, and
the strategies of any JSON body for the property tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature, infer_signature
from pathtolive.serving.codecs.base import Prediction
from tests.unit.serving.test_validation import cancer_frame, loan_frame, loan_model

MAX_ROWS = 10_000
Served = tuple[pd.DataFrame, Pipeline, Signature]


def predict(model: Pipeline, frame: pd.DataFrame, signature: Signature) -> Prediction:
    """The server's way: labels, and probabilities for a probability model."""
    if signature.output.kind == "probability":
        classes = signature.output.classes
        assert classes is not None
        return Prediction(
            labels=np.asarray(model.predict(frame)),
            probabilities=np.asarray(model.predict_proba(frame)),
            classes=classes,
        )
    return Prediction(labels=np.asarray(model.predict(frame)), probabilities=None, classes=None)


def frame_of(batch: InputBatch, signature: Signature) -> pd.DataFrame:
    return to_frame([batch], signature)


def reference(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


# --- any JSON: a decoded batch or an InvalidInputError, never anything else -------------

KEYS = [
    "instances",
    "inputs",
    "outputs",
    "params",
    "dataframe_split",
    "dataframe_records",
    "columns",
    "data",
    "index",
    "name",
    "shape",
    "datatype",
    "parameters",
    "id",
    "binary_data_size",
    "binary_data",
    "binary_data_output",
    "age",
    "income",
    "region",
    "homeowner",
    "employer",
]
DATATYPES = ["BOOL", "INT8", "INT64", "UINT64", "FP16", "FP32", "FP64", "BYTES", "x"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["NE", "acme", "2024-03-01", "1.5", "", *DATATYPES])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=30,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["age", "income", "region", "homeowner", "employer", "x"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=3), max_size=3),
        "datatype": st.sampled_from(DATATYPES),
        "data": json_values,
    },
    optional={"parameters": json_values},
)
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4) | st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=5)}, optional={"outputs": json_values, "id": json_values}
)


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode()  # the stdlib writes NaN and huge integers, too


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _signatures() -> tuple[Signature, Signature]:
    frame, target = loan_frame(60)
    loans = infer_signature(loan_model(frame, target), frame)
    features, labels = cancer_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    cancer = infer_signature(model.fit(features.head(60), labels.head(60)), features)
    return loans, cancer


LOAN_SIGNATURE, CANCER_SIGNATURE = _signatures()
