"""The BentoML peer of the serving benchmark: a BentoML 1.2+ service around a pickled
scikit-learn model, with BentoML's adaptive batching as its documentation recommends it
(``@bentoml.api(batchable=True)``, its default batch size and latency bounds).

Run by the benchmark in BentoML's own virtual environment, from this folder::

    BENTOML_PEER_MODEL=model.pkl bentoml serve bentoml_service:Classifier --port N

``POST /predict`` takes ``{"data": [[...], ...]}`` (rows of the feature matrix) and
answers the class probabilities, a list of rows. BentoML batches the rows of concurrent
requests along the first axis and splits a request larger than a batch. Its other
settings are BentoML's defaults, but for the access log (below).
"""

from __future__ import annotations

import os
import pickle
import warnings

import bentoml
import numpy as np

MODEL_ENV = "BENTOML_PEER_MODEL"  # the pickled model's path
WORKERS_ENV = "BENTOML_PEER_WORKERS"  # worker processes, as many as pathtolive's


@bentoml.service(
    workers=int(os.environ.get(WORKERS_ENV, "1")),
    # No access line per request, as pathtolive writes none: one would cost more than
    # a small model's predict, and this measures serving, not logging.
    logging={"access": {"enabled": False}},
)
class Classifier:
    def __init__(self) -> None:
        # A model fitted on a DataFrame warns on every call with a bare matrix.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        with open(os.environ[MODEL_ENV], "rb") as file:
            self.model = pickle.load(file)

    @bentoml.api(batchable=True)
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(data)
