"""Micro-batching keeps each request's rows, and routing honours the canary share."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from pathtolive.errors import ConfigError
from pathtolive.registry.signature import infer_signature
from pathtolive.registry.validation import validate_records
from pathtolive.serving.batching import Gauge, MicroBatcher
from pathtolive.serving.codecs.base import Prediction
from pathtolive.serving.deployment import Deployment
from pathtolive.serving.settings import ServeSettings, is_loopback, serve_settings


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, LogisticRegression]:
    frame = load_iris(as_frame=True).frame
    features = frame.drop(columns="target")
    features.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in features.columns]
    return features, LogisticRegression(max_iter=1000).fit(features, frame["target"])


def _batcher(model: LogisticRegression, features: pd.DataFrame, calls: list[int]) -> MicroBatcher:
    signature = infer_signature(model, features)

    def predict(frame: pd.DataFrame) -> Prediction:
        calls.append(len(frame))
        return Prediction(
            labels=model.predict(frame),
            probabilities=model.predict_proba(frame),
            classes=tuple(int(c) for c in model.classes_),
        )

    return MicroBatcher(
        predict=predict,
        signature=signature,
        executor=ThreadPoolExecutor(1),
        gauge=Gauge(),
        wait_s=0.002,
        max_rows=64,
    )


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows(
    iris: tuple[pd.DataFrame, LogisticRegression],
) -> None:
    features, model = iris
    calls: list[int] = []
    batcher = _batcher(model, features, calls)
    rows: list[list[dict[str, Any]]] = [
        features.iloc[i : i + 1 + i % 3].to_dict(orient="records") for i in range(150 - 3)
    ]

    async def main() -> list[Any]:
        async def one(request: list[dict[str, Any]]) -> Any:
            batch = validate_records(request, batcher.signature, max_rows=100)
            return await batcher.submit(batch)

        return await asyncio.gather(*(one(r) for r in rows))

    answers = asyncio.run(main())
    for request, (prediction, taken) in zip(rows, answers, strict=True):
        expected = model.predict_proba(pd.DataFrame(request))
        assert np.allclose(prediction.probabilities, expected)
        assert taken.own().to_dict(orient="records") == request
    # All 147 requests arrived together: far fewer calls than requests, none over the cap.
    assert len(calls) < len(rows) / 4
    assert max(calls) <= 64
    assert sum(calls) == sum(len(r) for r in rows)
    assert batcher.stats.requests == len(rows)


def test_a_failing_call_fails_every_request_in_it_and_the_next_call_works(
    iris: tuple[pd.DataFrame, LogisticRegression],
) -> None:
    features, model = iris
    calls: list[int] = []
    batcher = _batcher(model, features, calls)
    real = batcher.predict
    state = {"fail": True}

    def flaky(frame: pd.DataFrame) -> Prediction:
        if state["fail"]:
            state["fail"] = False
            raise ValueError("boom")
        return real(frame)

    batcher.predict = flaky
    records = features.head(4).to_dict(orient="records")

    async def main() -> list[Any]:
        batches = [validate_records([r], batcher.signature, max_rows=10) for r in records]
        first = await asyncio.gather(*(batcher.submit(b) for b in batches), return_exceptions=True)
        second = await batcher.submit(batches[0])
        return [*first, second]

    *first, second = asyncio.run(main())
    assert all(isinstance(item, ValueError) for item in first)
    assert np.allclose(second[0].probabilities, model.predict_proba(features.head(1)))


def test_canary_share_and_sticky_keys() -> None:
    live, canary = object(), object()
    deployment = Deployment("m", live=live, canary=canary, canary_share=0.2)  # type: ignore[arg-type]
    roles = Counter(deployment.route(None)[1] for _ in range(20_000))  # type: ignore[index]
    assert abs(roles["canary"] / 20_000 - 0.2) < 0.02
    keyed = Counter(deployment.route(f"user-{i}")[1] for i in range(20_000))  # type: ignore[index]
    assert abs(keyed["canary"] / 20_000 - 0.2) < 0.02
    for i in range(50):
        key = f"user-{i}"
        assert len({deployment.route(key)[1] for _ in range(5)}) == 1  # type: ignore[index]
    assert Deployment("m", live=live).route("x") == (live, "live")  # type: ignore[arg-type]
    assert Deployment("m", live=None).route("x") is None


def test_settings_from_the_workspace_file_and_flags() -> None:
    settings = serve_settings({"serve": {"max_rows": 5, "pii_columns": ["email"]}}, port=9000)
    assert settings.max_rows == 5
    assert settings.pii_columns == ("email",)
    assert settings.port == 9000
    assert ServeSettings.from_json(settings.to_json()) == settings
    assert not ServeSettings(host="127.0.0.1").auth_required
    assert ServeSettings(host="0.0.0.0").auth_required
    assert ServeSettings(host="0.0.0.0", auth=False).auth_required is False
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("10.0.0.1")
    with pytest.raises(ConfigError, match=r"serve\.max_rows"):
        serve_settings({"serve": {"max_rows": 0}})
    with pytest.raises(ConfigError, match="not a setting"):
        serve_settings({"serve": {"colour": "red"}})
    with pytest.raises(ConfigError, match="log_sample"):
        serve_settings({"serve": {"log_sample": 2}})
