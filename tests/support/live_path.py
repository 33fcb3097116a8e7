"""The live end of a model's path, checked alike for every flavor: served through the
real server (predict, explain, a refused input), logged, and monitored."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import numpy as np
import pandas as pd

from pathtolive import Workspace
from pathtolive.entities import ModelVersion

CANCER_GATES = """
[models.cancer.gates]
min_metric = 0.9
baseline = "majority"
beat_baseline_by = 0.1
p95_latency_ms = 2000
max_size_mb = 1
[models.cancer]
metric = "roc_auc"
[models.cancer.promotion]
live = "auto"
"""
"""The gates and policy of a ``cancer`` model (scikit-learn's breast cancer set) that is
released as any model is: its gates, then ``auto`` moves live."""


def cancer_frame() -> pd.DataFrame:
    """scikit-learn's breast cancer set, its column names without spaces."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(column).replace(" ", "_") for column in frame.columns]
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as the JSON objects a client sends."""
    loaded: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return loaded


def check_served_and_monitored(
    ws: Workspace,
    url: str,
    ref: str,
    rows: pd.DataFrame,
    *,
    explainer: str,
    atol: float,
    reference: str,
) -> None:
    """``ref`` (live, served at ``url``) answers ``rows`` as it does loaded here, explains
    them with ``explainer``, logs the predicted rows (not the explained ones), is monitored
    against ``reference``'s profile, and refuses a row without its first column with a 400
    naming it."""
    model = ref.split("@")[0]
    expected = ws.load_model(ref).predict_proba(rows)
    predicted = httpx.post(
        f"{url}/v1/models/{model}:predict", json={"instances": records(rows)}, timeout=30
    )
    assert predicted.status_code == 200, predicted.text
    assert predicted.headers["x-model-name"] == ref
    np.testing.assert_allclose(predicted.json()["predictions"], expected, atol=atol)

    explained = httpx.post(
        f"{url}/v1/models/{model}:explain", json={"instances": records(rows)}, timeout=60
    )
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["method"] == explainer
    assert len(body["explanations"]) == len(rows)
    assert set(body["explanations"][0]["attributions"]) == set(rows.columns)

    def logged() -> pd.DataFrame:
        from pathtolive.service.predictions import read_prediction_log

        return read_prediction_log(ws.context, model)

    for _ in range(200):  # the log is written behind the answers
        if len(logged()) >= len(rows):
            break
        threading.Event().wait(0.05)
    assert len(logged()) == len(rows)  # an explanation is not a prediction

    looked = ws.monitor(model, last=100, alerts=False)
    assert (looked.version, looked.window.rows) == (int(ref.split("@")[1]), len(rows))
    assert looked.reference == reference
    assert looked.drift is not None
    assert {feature.feature for feature in looked.drift.features} == set(rows.columns)

    first = str(rows.columns[0])
    wrong = records(rows.head(1).drop(columns=[first]))
    refused = httpx.post(f"{url}/v1/models/{model}:predict", json={"instances": wrong})
    assert refused.status_code == 400, refused.text
    assert first in refused.json()["error"]


def check_registered_and_gated(
    ws: Workspace, version: ModelVersion, *, flavor: str, features: list[str]
) -> None:
    """``version``, a binary classifier of ``features`` registered from a pipeline run,
    trusts no types, has its signature and metric, and passes its gates: it loads and
    answers in the probe's clean process, within its latency budget, and beats its
    baseline."""
    assert version.flavor == flavor
    assert version.trusted_types == ()
    signature = version.signature
    assert signature is not None
    assert [field["name"] for field in signature["inputs"]] == features
    assert signature["output"] == {"kind": "probability", "classes": [0, 1]}
    assert version.metrics["roc_auc"] > 0.95

    report = ws.check_gates(version.ref)

    verdicts = {result.gate: result.verdict for result in report.results}
    assert report.passed, [(r.gate, r.detail) for r in report.results if not r.passed]
    assert verdicts["loads_and_answers"] == "pass"
    assert verdicts["latency"] == "pass"
    assert verdicts["beat_baseline"] == "pass"
    assert verdicts["explainability"] in ("pass", "note")
