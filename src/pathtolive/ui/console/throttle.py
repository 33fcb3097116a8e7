"""A limit on failed sign-ins, per client address and over all addresses together.

An API token is long and random, so guessing one is hopeless; the limit keeps a guesser
from filling the audit trail and the store with failures, and makes a flood visible.
Within a sliding window (five minutes by default):

- an address that failed ``per_address`` times waits until its oldest failure leaves
  the window; every other address signs in as before;
- once ``overall`` failures came from all addresses together, an address that failed
  at all in the window waits until the count falls below that again, while an address
  that has not failed still gets its attempt (a guesser spread over many addresses gets
  one try from each; a visitor who has not mistyped is not locked out).

A success clears nothing (else one valid token of a guesser's own would reset the
count). The counts live in this process's memory only.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["SignInThrottle"]

_MAX_ADDRESSES = 10_000
"""Addresses tracked at most; beyond, the one whose last failure is oldest is dropped
(memory stays bounded under a flood from many addresses)."""


class SignInThrottle:
    """Failed sign-ins by client address within a sliding window."""

    def __init__(
        self,
        *,
        per_address: int = 5,
        overall: int = 100,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_address < 1 or overall < 1 or window <= 0:
            raise ValueError("the sign-in limits and their window must be positive")
        self.per_address = per_address
        self.overall = overall
        self.window = window
        self._clock = clock
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque(maxlen=_MAX_ADDRESSES * per_address)
        self._lock = threading.Lock()

    def wait(self, address: str) -> int | None:
        """Whole seconds ``address`` must wait before it may try to sign in again; None
        when it may try now."""
        with self._lock:
            now = self._clock()
            self._forget(now)
            failures = self._by_address.get(address)
            horizon = now - self.window
            while failures and failures[0] <= horizon:
                failures.popleft()
            if not failures:
                return None
            until = None
            if len(failures) >= self.per_address:
                until = failures[-self.per_address] + self.window
            if len(self._all) >= self.overall:
                # The failure whose leaving brings the count below the limit.
                overall_until = self._all[len(self._all) - self.overall] + self.window
                until = overall_until if until is None else max(until, overall_until)
            return None if until is None else max(1, math.ceil(until - now))

    def failed(self, address: str) -> tuple[int, int | None]:
        """Count a failed sign-in from ``address``: its failures in the window, and the
        seconds it must now wait (None when it may still try)."""
        with self._lock:
            now = self._clock()
            failures = self._by_address.setdefault(address, deque(maxlen=self.per_address))
            self._by_address.move_to_end(address)
            failures.append(now)
            self._all.append(now)
            while len(self._by_address) > _MAX_ADDRESSES:
                self._by_address.popitem(last=False)
            count = len(failures)
        return count, self.wait(address)

    def _forget(self, now: float) -> None:
        """Drop failures older than the window."""
        horizon = now - self.window
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        # Addresses are kept in the order of their last failure: stale ones come first.
        while self._by_address:
            address, failures = next(iter(self._by_address.items()))
            while failures and failures[0] <= horizon:
                failures.popleft()
            if failures:
                break
            del self._by_address[address]
