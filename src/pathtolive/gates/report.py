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

__all__ = ["REPORT_COLUMNS", "GateReport", "unknown_training_line"]

REPORT_COLUMNS: tuple[str, ...] = ("gate", "verdict", "figure", "threshold", "detail")
"""The headers of :meth:`GateReport.rows`."""

_MARKS = {"pass": "PASS", "fail": "FAIL", "note": "NOTE"}


def unknown_training_line(ref: str, holdout: str) -> str:
    """The plain words a report and a model card open with when the training data of
    ``ref`` is unknown: the guard against judging it on rows it saw could not run."""
    return (
        f"Training data unknown: {ref} was registered without the data it was trained on, "
        f"so nothing shows it never saw the rows of its holdout {holdout}; read its "
        "figures with that in mind"
    )


@dataclass(frozen=True)
class GateReport(HtmlDisplay):
    """The gates' results for ``model`` version ``version``, judged on ``metric``.

    ``passed`` is True when no gate failed; it is stored with the model version, and the
    promotion policy reads it. ``skipped`` names the gates that did not run because
    ``[models.NAME.gates]`` sets no threshold for them, each with the key that would.
    ``costs`` holds the cost figures measured (see :mod:`pathtolive.gates.costs`) and
    ``worth_it`` the lines that answer "is it worth it?" against the baseline and the
    live version. ``holdout`` says what the gates judged on: the dataset version, who
    or what chose it, the training data known (None: unknown) and how the holdout was
    shown unseen, and how a built-in baseline was fitted (see :meth:`judged_lines`)."""

    model: str
    version: int
    metric: str
    results: tuple[GateResult, ...]
    created_at: datetime
    passed: bool
    skipped: Mapping[str, str] = field(default_factory=dict)
    costs: Mapping[str, Any] = field(default_factory=dict)
    worth_it: tuple[str, ...] = ()
    holdout: Mapping[str, Any] = field(default_factory=dict)

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

    def judged_lines(self) -> list[str]:
        """What the model was judged on, in plain words: first, when its training data is
        unknown, that nothing shows it never saw the holdout; then the holdout, who chose
        it, how it was shown unseen and how the baseline was fitted. None for a report
        stored before holdouts were recorded."""
        if not self.holdout.get("dataset"):
            return []
        dataset, rows = self.holdout["dataset"], self.holdout.get("rows")
        lines: list[str] = []
        if "training" in self.holdout and not self.holdout.get("training"):
            lines.append(unknown_training_line(f"{self.model}@{self.version}", str(dataset)))
        named = self.holdout.get("named")
        chosen = self.holdout.get("chosen_by") or "the run's own test split"
        size = "" if rows is None else f" ({number(rows)} rows)"
        if named is None:
            lines.append(f"judged on {dataset}{size}: the run's own test split")
        else:
            alias = "" if named == dataset else f" as {named}"
            lines.append(f"judged on {dataset}{size}, named{alias} by {chosen}")
        leakage = self.holdout.get("leakage")
        if named is not None and leakage:
            lines.append(f"unseen by the model: {leakage}")
        fit = self.holdout.get("baseline_fit")
        if fit:
            lines.append(f"baseline {fit}")
        return lines

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
        """The report as plain text lines: what it was judged on (first, when the training
        data is unknown, that it is), a summary, then one line per gate."""
        width = max((len(result.gate) for result in self.results), default=0)
        note = self.skipped_note()
        judged = self.judged_lines()
        unknown = judged[:1] if judged and judged[0].startswith("Training data unknown") else []
        return (
            unknown
            + [self.summary()]
            + judged[len(unknown) :]
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
            "holdout": plain(dict(self.holdout)),
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
            # Row ids are the store's, not the report's; old reports name no holdout.
            holdout={
                key: value for key, value in (data.get("holdout") or {}).items() if key != "row_ids"
            },
        )
