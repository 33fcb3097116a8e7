"""The gate report: every gate's figure and verdict for one candidate model version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pathtolive.display import HtmlDisplay
from pathtolive.errors import InvalidInputError
from pathtolive.format import number
from pathtolive.gates.base import GateResult

__all__ = ["REPORT_COLUMNS", "GateReport"]

REPORT_COLUMNS: tuple[str, ...] = ("gate", "verdict", "figure", "threshold", "detail")
"""The headers of :meth:`GateReport.rows`."""

_MARKS = {"pass": "PASS", "fail": "FAIL", "note": "NOTE"}


@dataclass(frozen=True)
class GateReport(HtmlDisplay):
    """The gates' results for ``model`` version ``version``, judged on ``metric``.

    ``passed`` is True when no gate failed; it is stored with the model version, and the
    promotion policy reads it."""

    model: str
    version: int
    metric: str
    results: tuple[GateResult, ...]
    created_at: datetime
    passed: bool

    @classmethod
    def from_results(
        cls,
        model: str,
        version: int,
        metric: str,
        results: Sequence[GateResult],
        created_at: datetime,
    ) -> GateReport:
        """A report whose ``passed`` follows from ``results``."""
        return cls(
            model,
            version,
            metric,
            tuple(results),
            created_at,
            all(result.passed for result in results),
        )

    @property
    def failures(self) -> tuple[GateResult, ...]:
        """The gates that failed, in evaluation order."""
        return tuple(result for result in self.results if not result.passed)

    def result(self, gate: str) -> GateResult:
        """The result of the gate called ``gate``."""
        for result in self.results:
            if result.gate == gate:
                return result
        names = ", ".join(result.gate for result in self.results)
        raise InvalidInputError(f"no gate {gate!r} in this report; it has {names}")

    def summary(self) -> str:
        """One line: the verdict and, on failure, which gates failed."""
        ref = f"{self.model}@{self.version}"
        if self.passed:
            return f"{ref} passed all {len(self.results)} gates"
        failed = ", ".join(result.gate for result in self.failures)
        return f"{ref} failed {len(self.failures)} of {len(self.results)} gates: {failed}"

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """One row of text per gate, under :data:`REPORT_COLUMNS`, for a table."""
        return [
            (
                result.gate,
                result.verdict,
                "" if result.figure is None else number(result.figure),
                "" if result.threshold is None else number(result.threshold),
                result.detail,
            )
            for result in self.results
        ]

    def lines(self) -> list[str]:
        """The report as plain text lines: a summary, then one line per gate."""
        width = max((len(result.gate) for result in self.results), default=0)
        return [self.summary()] + [
            f"{_MARKS[result.verdict]}  {result.gate:<{width}}  {result.detail}"
            for result in self.results
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the time in ISO 8601."""
        return {
            "model": self.model,
            "version": self.version,
            "metric": self.metric,
            "created_at": self.created_at.isoformat(),
            "passed": self.passed,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            model=data["model"],
            version=data["version"],
            metric=data["metric"],
            results=tuple(GateResult.from_dict(result) for result in data["results"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            passed=data["passed"],
        )
