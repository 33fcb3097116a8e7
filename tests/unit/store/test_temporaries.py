"""Telling a crashed writer's temporary file from a live writer's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pathtolive.store.artifacts.base import LIVE_OWNER_MAX_AGE, owner_tag, temporary_is_stale

HOUR = 3600.0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_gone_writers_file_is_stale_at_once_and_a_live_ones_is_not() -> None:
    now = time.time()
    ours = owner_tag()
    dead = ours.replace(f"p{os.getpid()}-", f"p{_dead_pid()}-", 1)

    assert temporary_is_stale(f"{dead}-abc.tmp", now, HOUR)
    assert temporary_is_stale(f"add-{dead}-xyz", now, HOUR)  # a work folder
    assert not temporary_is_stale(f"{ours}-abc.tmp", now - 2 * HOUR, HOUR)
    assert not temporary_is_stale(f"latency-{ours}-xyz", now - 2 * HOUR, HOUR)
    # A live id for a whole day: the id was reused by another process.
    assert temporary_is_stale(f"{ours}-abc.tmp", now - LIVE_OWNER_MAX_AGE - 1, HOUR)


def test_a_name_without_a_known_owner_falls_back_to_its_age() -> None:
    now = time.time()
    other_host = f"p{_dead_pid()}-h00000000-abc.tmp"  # another machine: its ids mean nothing

    for name in ("0123abcd.tmp", "add-k2j3h4", other_host):
        assert not temporary_is_stale(name, now - 60, HOUR)
        assert temporary_is_stale(name, now - 2 * HOUR, HOUR)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_zombie_writer_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while not _is_zombie(child.pid):  # exited, not yet reaped
            assert time.monotonic() < deadline
            time.sleep(0.02)
        name = owner_tag().replace(f"p{os.getpid()}-", f"p{child.pid}-", 1)
        assert temporary_is_stale(f"{name}-abc.tmp", time.time(), HOUR)
    finally:
        child.wait()


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rpartition(")")[2].split()[0] == "Z"
