"""The backoff between attempts to load a version that failed: doubling, bounded."""

from __future__ import annotations

from pathtolive.serving.watcher import FailedLoad


def test_the_wait_doubles_from_the_first_delay_up_to_the_bound() -> None:
    failed = FailedLoad("risk", 2, "", attempts=0, retry_at=0.0)
    waits: list[float] = []
    for _ in range(10):
        failed = failed.next("object missing", now=100.0, first_s=1.0, max_s=60.0)
        waits.append(failed.retry_at - 100.0)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert (failed.attempts, failed.error) == (10, "object missing")
