"""The gate report: every gate's figure and verdict for one candidate model version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pathtolive.display import HtmlDisplay
from pathtolive.errors import InvalidInputError
from pathtolive.format import number
from pathtolive.gates.base import GateResult, plain
from pathtolive.gates.costs import cost_summary

__all__ = ["REPORT_COLUMNS", "GateReport"]

REPORT_COLUMNS: tuple[str, ...] = ("gate", "verdict", "figure", "threshold", "detail")
"""The headers of :meth:`GateReport.rows`."""

_MARKS = {"pass": "PASS", "fail": "FAIL", "note": "NOTE"}


@dataclass(frozen=True)
class GateReport(HtmlDisplay):
    """The gates' results for ``model`` version ``version``, judged on ``metric``.

    ``passed`` is True when no gate failed; it is stored with the model version, and the
    promotion policy reads it. ``skipped`` names the gates that did not run because
    ``[models.NAME.gates]`` sets no threshold for them, each with the key that would.
    ``costs`` holds the cost figures measured (see :mod:`pathtolive.gates.costs`) and
    ``worth_it`` the lines that answer "is it worth it?" against the baseline and the
    live version."""

    model: str
    version: int
    metric: str
    results: tuple[GateResult, ...]
    created_at: datetime
    passed: bool
    skipped: Mapping[str, str] = field(default_factory=dict)
    costs: Mapping[str, Any] = field(default_factory=dict)
    worth_it: tuple[str, ...] = ()

    @classmethod
    def from_results(
        cls,
        model: str,
        version: int,
        metric: str,
        results: Sequence[GateResult],
        created_at: datetime,
        *,
        skipped: Mapping[str, str] | None = None,
    ) -> GateReport:
        """A report whose ``passed`` follows from ``results``."""
        return cls(
            model,
            version,
            metric,
            tuple(results),
            created_at,
            all(result.passed for result in results),
            dict(skipped or {}),
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

    def skipped_note(self) -> str | None:
        """One line naming the skipped gates and the settings that would run them; None
        when every gate ran."""
        if not self.skipped:
            return None
        listed = ", ".join(f"{gate} (set {key})" for gate, key in self.skipped.items())
        return f"skipped, as [models.{self.model}.gates] sets no threshold for them: {listed}"

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
        note = self.skipped_note()
        return (
            [self.summary()]
            + [
                f"{_MARKS[result.verdict]}  {result.gate:<{width}}  {result.detail}"
                for result in self.results
            ]
            + ([note] if note else [])
            + self.cost_lines()
        )

    def cost_lines(self) -> list[str]:
        """The cost figures and the "is it worth it?" lines, as text; none for a report
        without costs."""
        summary = cost_summary(self.costs) if self.costs else ""
        return ([summary] if summary else []) + [f"worth it? {line}" for line in self.worth_it]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; the time in ISO 8601."""
        return {
            "model": self.model,
            "version": self.version,
            "metric": self.metric,
            "created_at": self.created_at.isoformat(),
            "passed": self.passed,
            "results": [result.to_dict() for result in self.results],
            "skipped": [{"gate": gate, "setting": key} for gate, key in self.skipped.items()],
            "costs": plain(dict(self.costs)),
            "worth_it": list(self.worth_it),
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
            # Reports stored before skipped gates were recorded have none.
            skipped={item["gate"]: item["setting"] for item in data.get("skipped", [])},
            # Reports stored before costs were measured have none.
            costs=dict(data.get("costs") or {}),
            worth_it=tuple(data.get("worth_it") or ()),
        )
