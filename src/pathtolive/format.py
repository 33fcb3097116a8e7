"""Figures and times as pathtolive shows them to people.

One module for every text a number or a time becomes, so that a figure reads the same in
a gate's one-line detail, the CLI, a model card and the HTML reports. Each function is one
named style rather than one function with many switches: a reader of a call site sees
which style it is (:func:`number` for everyday figures, :func:`significant` for a fixed
count of significant digits, :func:`exact` for bounds a contract states, and so on).

:func:`utc` lives here too: it is what makes a stored or logged time comparable and
printable, and every layer (the store included) may import this module, which imports
nothing of pathtolive.

Two helpers serve one-line messages: :func:`listing` shortens a list of names, and
:func:`first_line` is the one way a foreign exception is quoted (its first line, or its
class name when it says nothing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

__all__ = [
    "count",
    "duration",
    "exact",
    "first_line",
    "listing",
    "magnitude",
    "number",
    "percent",
    "short_when",
    "signed",
    "significant",
    "utc",
    "when",
]


def number(value: float | None) -> str:
    """Three decimals for everyday figures, two significant digits for tiny ones, no
    trailing zeros: 0.712, 0.75, 0.0012, 1532.5; ``n/a`` for None and what is not finite."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:.2g}"
    text = f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".")


def signed(value: float | None) -> str:
    """:func:`number` with its sign always shown: +0.025, -0.06, 0."""
    text = number(value)
    if value is not None and math.isfinite(value) and value > 0:
        return f"+{text}"
    return text


def significant(value: float | None, digits: int) -> str:
    """``value`` to ``digits`` significant digits (``g`` style: 0.1235, 1.235e+06); an
    empty text for None."""
    return "" if value is None else f"{value:.{digits}g}"


def exact(value: float | None) -> str:
    """A bound as it was stated: whole numbers without a decimal point (5), others with
    every digit Python keeps (0.1, 2.675); ``none`` for None."""
    if value is None:
        return "none"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def magnitude(value: float | None, unit: str = "") -> str:
    """A measurement with as many decimals as its size deserves (1,532 ms, 15.3 ms,
    1.53 ms, 0.153 ms), followed by ``unit``; ``-`` for None."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 100:
        text = f"{value:,.0f}"
    elif size >= 10:
        text = f"{value:.1f}"
    elif size >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def percent(share: float, digits: int = 1) -> str:
    """``share`` (0.125) as a percentage with at most ``digits`` decimals and no trailing
    zeros: 12.5%, 20%."""
    text = f"{share * 100:.{digits}f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def count(value: int | None) -> str:
    """A count with thousands separators (4,812); ``n/a`` for None."""
    return "n/a" if value is None else f"{value:,}"


def utc(value: datetime) -> datetime:
    """``value`` in UTC: a naive time is taken to be UTC already (as the store and the
    prediction log keep them), an aware one is converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: datetime | None) -> str:
    """A time to the minute in UTC: ``2026-11-26 13:05 UTC``; ``-`` for None."""
    return "-" if value is None else utc(value).strftime("%Y-%m-%d %H:%M UTC")


def short_when(value: datetime) -> str:
    """A time as an axis label: ``11-26 13:05`` (UTC)."""
    return utc(value).strftime("%m-%d %H:%M")


def listing(items: Sequence[str], limit: int) -> str:
    """The first ``limit`` of ``items`` and a count of the rest: ``a, b, c and 4 more``."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message; its class name when the message is empty."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def duration(delta: timedelta) -> str:
    """A span in its largest whole unit: ``7d``, ``24h``, ``30m``, else ``90s``."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
