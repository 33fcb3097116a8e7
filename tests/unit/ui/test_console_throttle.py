"""The limit on failed sign-ins, on a clock the test moves: per address, overall, and
forgetting what left the window."""

from __future__ import annotations

import pytest

from pathtolive.ui.console.throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_address_waits_after_its_failures_until_the_oldest_leaves_the_window(
    clock: Clock,
) -> None:
    throttle = SignInThrottle(per_address=3, overall=100, window=60, clock=clock)
    assert throttle.failed("a") == (1, None)
    clock.now += 10
    assert throttle.failed("a") == (2, None)
    clock.now += 10
    assert throttle.failed("a") == (3, 40)  # the first failure leaves at +60
    assert throttle.wait("a") == 40
    assert throttle.wait("b") is None  # another address is not held back
    clock.now += 39.5
    assert throttle.wait("a") == 1
    clock.now += 0.5
    assert throttle.wait("a") is None
    # Back to one try before waiting again: two failures are still in the window.
    assert throttle.failed("a") == (3, 10)


def test_beyond_the_overall_limit_only_addresses_that_failed_wait(clock: Clock) -> None:
    throttle = SignInThrottle(per_address=5, overall=3, window=60, clock=clock)
    for address in ("a", "b"):
        assert throttle.failed(address)[1] is None
        clock.now += 5
    assert throttle.failed("c") == (1, 50)  # the third failure overall: "a"'s leaves first
    assert throttle.wait("a") == 50
    assert throttle.wait("b") == 50
    assert throttle.wait("d") is None  # has not failed: still gets its try
    clock.now += 50
    assert throttle.wait("a") is None  # "a"'s failure left: two remain, below the limit
    assert throttle.wait("b") is None


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        SignInThrottle(per_address=0)
