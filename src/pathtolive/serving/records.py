"""What one answer writes to the prediction log.

The live path (:mod:`pathtolive.serving.runtime`) and the shadow scorer
(:mod:`pathtolive.serving.shadow`) log the same record, with the role that answered:
``live`` or ``canary`` for the answer the client got, ``shadow`` for the one it never saw.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from pathtolive.predlog import PredictionRecord
from pathtolive.serving.batching import RequestRows
from pathtolive.serving.codecs.base import Prediction
from pathtolive.serving.deployment import ServedModel

__all__ = ["prediction_record"]


def prediction_record(
    served: ServedModel,
    request_id: str,
    protocol: str,
    role: str,
    elapsed: float,
    rows: RequestRows,
    prediction: Prediction,
    columns: dict[str, Any] | None = None,
) -> PredictionRecord:
    """The log's record of ``prediction``, made by ``served`` as ``role`` for ``rows`` in
    ``elapsed`` seconds."""
    # The probabilities as they are (no list per row on the request path); float64, so
    # the journal writes the numbers a segment holds.
    outputs: list[Any] | np.ndarray = (
        np.asarray(prediction.probabilities, dtype=np.float64)
        if prediction.probabilities is not None
        else prediction.labels.tolist()
    )
    return PredictionRecord(
        request_id=request_id,
        at=datetime.now(UTC),
        model=served.name,
        version=served.version,
        trained_on=served.servable.trained_on,
        protocol=protocol,
        role=role,
        latency_ms=elapsed * 1000,
        inputs=rows.frame,
        outputs=outputs,
        columns=columns,
        span=rows.span,
    )
