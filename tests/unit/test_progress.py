"""Progress events reach the listener of their context only; the command line shows them
as the terminal and the user ask."""

from __future__ import annotations

import pytest

from pathtolive import env, progress
from pathtolive.cli import progress as cli_progress
from pathtolive.cli.output import err_console
from pathtolive.progress import Unit


class _Heard:
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        self.events.append(("stage", description, total, unit))

    def advance(self, amount: int) -> None:
        self.events.append(("advance", amount))


def test_events_reach_the_listener_of_their_context_and_no_one_else() -> None:
    heard = _Heard()
    progress.stage("before")  # no listener: nothing happens
    with progress.reporting(heard):
        progress.stage("hashing", total=10, unit="bytes")
        with progress.scaled(2.5):  # rows counted, bytes reported
            progress.advance(3)
            progress.advance(1)
    progress.advance(5)
    assert heard.events == [("stage", "hashing", 10, "bytes"), ("advance", 7), ("advance", 3)]


def test_plain_lines_show_amount_elapsed_and_time_left(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [100.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: clock[0])
    with cli_progress.showing_progress("lines"):
        progress.stage("hashing", total=1000, unit="bytes")
        clock[0] += 2
        progress.advance(250)
        clock[0] += 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "progress: hashing (0 bytes of 1.0 kB)",
        "progress: hashing (250 bytes of 1.0 kB), 2.0 s elapsed, about 6.0 s left",
        "progress: hashing (250 bytes of 1.0 kB): done in 3.0 s",
    ]


def test_a_note_describes_the_stage_anew_and_keeps_its_amount(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = [100.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: clock[0])
    with cli_progress.showing_progress("lines"):
        progress.stage("scoring: 0 of 4 partitions", total=100)
        clock[0] += 2
        with progress.scaled(1.0):
            progress.note("scoring: 2 of 4 partitions")
        progress.advance(50)
        clock[0] += 1
    with progress.reporting(_Heard()):
        progress.note("a listener without notes hears nothing")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "progress: scoring: 0 of 4 partitions (0 of 100)",
        "progress: scoring: 2 of 4 partitions (50 of 100), 2.0 s elapsed, about 2.0 s left",
        "progress: scoring: 2 of 4 partitions (50 of 100): done in 3.0 s",
    ]


@pytest.mark.parametrize(
    ("terminal", "setting", "flag", "expected"),
    [
        (False, None, None, "off"),
        (False, "on", None, "lines"),
        (False, None, True, "lines"),
        (False, "on", False, "off"),
        (True, None, None, "rich"),
        (True, "off", None, "off"),
        (True, "off", True, "rich"),
    ],
)
def test_progress_is_shown_on_a_terminal_or_when_asked(
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    setting: str | None,
    flag: bool | None,
    expected: str,
) -> None:
    monkeypatch.setattr(err_console, "_force_terminal", terminal)
    if setting is None:
        monkeypatch.delenv(env.PROGRESS, raising=False)
    else:
        monkeypatch.setenv(env.PROGRESS, setting)
    assert cli_progress.mode(flag) == expected
