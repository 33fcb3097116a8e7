"""Figures as the one-line details of gate results print them."""

from __future__ import annotations

import math

__all__ = ["number", "signed"]


def number(value: float | None) -> str:
    """Three decimals for everyday figures, two significant digits for tiny ones, no
    trailing zeros: 0.712, 0.75, 0.0012, 1532.5."""
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
