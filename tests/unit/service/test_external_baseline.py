"""Calling an external baseline: the pace, the retries and their back-off, on a clock of
the test's own (the endpoint is httpx's mock transport; the real servers are in
tests/func/test_external_baseline.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from pathtolive.gates.external import ExternalBaseline
from pathtolive.service import external_baseline as module
from pathtolive.service.external_baseline import ExternalBaselineFailed, _Caller


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(module.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(module.time, "sleep", fake.sleep)
    return fake


def _client(answer: Callable[[int], httpx.Response]) -> httpx.Client:
    calls = iter(range(1000))
    return httpx.Client(transport=httpx.MockTransport(lambda _: answer(next(calls))))


BASELINE = ExternalBaseline(
    name="vendor",
    url="http://vendor.test/score",
    retries=2,
    backoff_seconds=0.5,
    rate_limit_per_second=4,
)


def test_requests_start_no_faster_than_the_rate_limit(clock: Clock) -> None:
    caller = _Caller(BASELINE, None)
    with _client(lambda _: httpx.Response(200, json={"predictions": [1]})) as client:
        for _ in range(3):
            assert caller.post(client, {"instances": [{}]}, "rows 0 to 0") == {"predictions": [1]}
    assert clock.slept == [0.25, 0.25]
    assert caller.requests == 3


def test_a_busy_endpoint_is_retried_after_a_doubling_back_off(clock: Clock) -> None:
    def busy_twice(call: int) -> httpx.Response:
        return httpx.Response(503) if call < 2 else httpx.Response(200, json=[0.5])

    caller = _Caller(BASELINE, None)
    with _client(busy_twice) as client:
        assert caller.post(client, {}, "rows 0 to 0") == [0.5]
    assert caller.requests == 3
    assert clock.slept == [0.5, 1.0]  # the pace (0.25 s) is kept within the back-off


def test_the_last_problem_is_reported_once_the_retries_are_spent(clock: Clock) -> None:
    caller = _Caller(BASELINE, None)
    with (
        _client(lambda _: httpx.Response(502)) as client,
        pytest.raises(ExternalBaselineFailed) as raised,
    ):
        caller.post(client, {}, "rows 0 to 99")
    assert raised.value.message == (
        "the external baseline 'vendor' (http://vendor.test/score) answered rows 0 to 99 "
        "with HTTP 502, after 3 tries"
    )


def test_a_refusal_is_not_retried_and_never_shows_the_token(clock: Clock) -> None:
    token = "tok-1234567890"
    echo = httpx.Response(401, text=json.dumps({"error": f"bad token {token}"}))
    caller = _Caller(BASELINE, token)
    with _client(lambda _: echo) as client, pytest.raises(ExternalBaselineFailed) as raised:
        caller.post(client, {}, "rows 0 to 0")
    assert caller.requests == 1
    assert "refused rows 0 to 0 with HTTP 401" in raised.value.message
    assert token not in raised.value.message


def test_a_timeout_after_the_retries_names_the_rows_and_the_limit(clock: Clock) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    caller = _Caller(BASELINE, None)
    client = httpx.Client(transport=httpx.MockTransport(slow))
    with client, pytest.raises(ExternalBaselineFailed) as raised:
        caller.post(client, {}, "rows 100 to 142")
    assert caller.requests == 3
    assert raised.value.message.endswith(
        "did not answer rows 100 to 142 within 10 s, after 3 tries"
    )
