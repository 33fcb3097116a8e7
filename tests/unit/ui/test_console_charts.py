"""The console's interval chart of a stored gate report: each figure where its value
lies on one scale, intervals around their value, long slice labels shortened (the full
one in the tooltip), and nothing drawn for a report without figures."""

from __future__ import annotations

from pathtolive.ui.console_charts import gate_intervals
from tests.support.console_pages import EVIL, gate_report


def test_figures_lie_on_one_scale_with_their_intervals() -> None:
    values, differences = gate_intervals(gate_report(2))
    assert values is not None
    assert differences is not None
    overall, sliced = values.rows
    marks = {mark.kind: mark for mark in overall.marks}
    candidate, live = marks["candidate"], marks["live"]
    assert candidate.low_x is not None
    assert candidate.high_x is not None
    assert candidate.low_x < live.x < candidate.x < candidate.high_x  # 0.90 < 0.91 < 0.93 < 0.95
    assert live.low_x is None  # live's figure has no interval of its own
    assert sliced.label.endswith("…")
    assert len(sliced.label) == 40
    assert EVIL in sliced.marks[0].tip  # the full label, as text for the template
    (lead,) = differences.rows
    assert differences.zero_x is not None
    assert differences.zero_x < lead.marks[0].x  # a lead of +0.02 is right of zero


def test_a_baseline_comparison_adds_its_figure_and_lead() -> None:
    report = gate_report(2)
    beat_live = report["results"][1]
    report["results"].append(
        {**beat_live, "gate": "beat_baseline", "data": {**beat_live["data"], "b": 0.7}}
    )
    values, differences = gate_intervals(report)
    assert values is not None
    assert differences is not None
    assert {mark.kind for mark in values.rows[0].marks} == {"candidate", "live", "baseline"}
    assert [row.label for row in differences.rows] == ["vs live", "vs baseline"]


def test_a_report_without_figures_draws_nothing() -> None:
    report = gate_report(2)
    report["results"] = [report["results"][-1]]  # latency only
    assert gate_intervals(report) == (None, None)
