"""The HTML monitoring report: self-contained, well-formed, escaped, complete; and, where
a headless browser is installed, rendered by it with the network cut off."""

from __future__ import annotations

import html
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from pathtolive import env
from pathtolive.entities import Alert
from pathtolive.format import number
from pathtolive.monitoring.decay import CBPE_CAVEAT, DecayResult, decay
from pathtolive.monitoring.drift import DriftResult, FeatureDrift, Histogram, with_importance
from pathtolive.monitoring.report import (
    DriftAlerting,
    MonitorReport,
    MonitorWindow,
    PredictionDrift,
)
from pathtolive.monitoring.series import MonitorSeries, Persistence, SeriesWindow
from pathtolive.ui.charts import MAX_AXIS_LABELS, MAX_BARS
from pathtolive.ui.monitoring import monitoring_report_html

EVIL = "<script>alert(1)</script>"
NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "source", "wbr"}


def _histograms(
    rng: np.random.Generator, labels: list[str], shift: float, edges: list[float] | None = None
) -> tuple[Histogram, Histogram]:
    reference = rng.dirichlet(np.full(len(labels), 5.0))
    current = np.clip(reference + rng.normal(0, shift, len(labels)), 0, None)
    current = current / current.sum()
    bounds = None if edges is None else tuple(edges)
    return (
        Histogram(tuple(labels), bounds, tuple(reference.round(4).tolist())),
        Histogram(tuple(labels), bounds, tuple(current.round(4).tolist())),
    )


def _numeric(rng: np.random.Generator, shift: float) -> tuple[Histogram, Histogram]:
    edges = np.linspace(0, 100, 11).tolist()
    labels = [f"{a:g} to {b:g}" for a, b in pairwise(edges)]
    return _histograms(rng, labels, shift, edges)


def _feature(
    rng: np.random.Generator,
    name: str,
    rank: int,
    *,
    drifted: bool,
    kind: Literal["numeric", "categorical"] = "numeric",
) -> FeatureDrift:
    psi = float(rng.uniform(0.25, 0.6) if drifted else rng.uniform(0.0, 0.08))
    if kind == "numeric":
        reference, current = _numeric(rng, 0.05 if drifted else 0.005)
        figures = {"psi": psi, "ks_pvalue": 1e-6 if drifted else 0.4, "wasserstein": psi * 3}
    else:
        reference, current = _histograms(
            rng, ["NW", "NE", "SW", "SE", "Midlands"], 0.08 if drifted else 0.01
        )
        figures = {"psi": psi, "chi2_pvalue": 1e-9 if drifted else 0.6, "js": psi / 4}
    return FeatureDrift(
        feature=name,
        kind=kind,
        figures=figures,
        drifted=drifted,
        reasons=(f"psi {psi:.2f} over 0.2",) if drifted else (),
        score=psi,
        rank=rank,
        reference=reference,
        current=current,
        current_rows=4812,
    )


def _decay_result() -> DecayResult:
    """A real decay result: a classifier whose labels drift away over 12 hourly windows,
    with labels missing from the newest window."""
    rng = np.random.default_rng(5)
    n = 1200
    at = [NOW - timedelta(hours=12) + timedelta(minutes=0.6 * i) for i in range(n)]
    p = rng.beta(2, 2, n)
    truth = (rng.random(n) < p).astype(int)
    flip = rng.random(n) < np.linspace(0, 0.4, n)
    labels = np.where(flip, 1 - truth, truth)
    log = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "row": 0,
            "at": pd.to_datetime(at, utc=True),
            "role": "live",
            "prediction": p,
        }
    )
    keep = [i for i in range(n) if i < 1100]
    feedback = pd.DataFrame(
        {"request_id": [f"r{i}" for i in keep], "label": [int(labels[i]) for i in keep]}
    )
    return decay(
        log, feedback, metric="accuracy", output_kind="probability", classes=(0, 1),
        reference=0.74, drop=0.05, window=timedelta(hours=1), min_labelled=50,
    )  # fmt: skip


def _alert(
    alert_id: int, kind: str, status: str, message: str, opened: datetime, cleared: datetime | None
) -> Alert:
    return Alert(
        alert_id=alert_id,
        model="risk-model",
        kind=kind,
        key=f"risk-model:{kind}",
        status=status,
        message=message,
        details={},
        opened_at=opened,
        last_seen_at=cleared or opened,
        cleared_at=cleared,
        delivered_at=None,
        delivery_attempts=0,
    )


def _report() -> MonitorReport:
    """A realistic report: 25 features (3 drifted, one with a hostile name), prediction
    drift, decay over 12 windows and alerts."""
    rng = np.random.default_rng(0)
    names = [f"feature_{i:02d}" for i in range(22)] + ["mileage", "age", "region"]
    names[7] = EVIL
    drifted = {"mileage": 1, "age": 2, "region": 3}
    features = []
    rank = 4
    for name in names:
        kind: Literal["numeric", "categorical"] = (
            "categorical" if name == "region" or name.endswith("3") else "numeric"
        )
        if name in drifted:
            features.append(_feature(rng, name, drifted[name], drifted=True, kind=kind))
        else:
            features.append(_feature(rng, name, rank, drifted=False, kind=kind))
            rank += 1
    rng.shuffle(features)  # the renderer sorts by rank
    prediction = _feature(rng, "prediction", 1, drifted=False)
    return MonitorReport(
        model="risk-model",
        version=3,
        generated_at=NOW,
        window=MonitorWindow(
            start=NOW - timedelta(hours=24), end=NOW, rows=4812, description="last 24h"
        ),
        trained_on=("loans@3",),
        reference="loans@3",
        drift=DriftResult(tuple(features), reference_rows=20000, current_rows=4812),
        prediction_drift=PredictionDrift(prediction, "the first 500 outputs of risk-model@3"),
        decay=_decay_result(),
        alerts=(
            _alert(
                7,
                "drift",
                "open",
                "3 of 25 features drifted: mileage, age, region",
                NOW - timedelta(hours=2),
                None,
            ),
            _alert(
                5,
                "decay",
                "cleared",
                f"accuracy fell & rose again {EVIL}",
                NOW - timedelta(days=3),
                NOW - timedelta(days=2),
            ),
        ),
    )


@pytest.fixture
def report() -> MonitorReport:
    return _report()


class _Checker(HTMLParser):
    """Fails on a closing tag that does not close the innermost open one; collects
    attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def _svgs(page: str, kind: str) -> list[ET.Element]:
    return [
        ET.fromstring(fragment)
        for fragment in re.findall(rf'<svg class="chart {kind}".*?</svg>', page, flags=re.S)
    ]


def test_the_page_is_well_formed_and_self_contained(report: MonitorReport) -> None:
    page = monitoring_report_html(report)
    checker = _check(page)

    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for forbidden in ("http://", "https://", "src=", "@import", "url(", "<script", "<link"):
        assert forbidden not in lowered
    assert {"script", "iframe", "img", "object", "embed", "link"}.isdisjoint(checker.tags)
    # No attribute points anywhere but inside the page.
    for name, value in checker.attributes:
        assert not name.startswith("on")
        if name in ("href", "xlink:href", "action"):
            assert value is not None
            assert value.startswith("#")


def test_one_histogram_per_feature_and_the_metric_chart(report: MonitorReport) -> None:
    page = monitoring_report_html(report)
    histograms = _svgs(page, "hist")
    (metric_chart,) = _svgs(page, "metric")

    assert len(histograms) == 25 + 1  # every feature, and the predictions
    for svg in histograms:
        ref = [r for r in svg.iter("rect") if r.get("class") == "ref"]
        live = [r for r in svg.iter("rect") if r.get("class") == "live"]
        assert len(ref) == len(live) > 0
        assert all(float(r.get("height", "-1")) >= 0 for r in ref + live)
        assert all(title.text for title in svg.iter("title"))
    circles = [c for c in metric_chart.iter("circle") if "measured-dot" in (c.get("class") or "")]
    estimates = [c for c in metric_chart.iter("circle") if c.get("class") == "estimated-dot"]
    assert report.decay is not None
    windows = report.decay.windows
    assert len(circles) == sum(w.value is not None for w in windows)
    assert len(estimates) == len(windows) == 12
    classes = {line.get("class") for line in metric_chart.iter("line")}
    assert {"reference", "threshold"} <= classes


def test_the_summary_names_the_drifted_features_in_rank_order(report: MonitorReport) -> None:
    page = monitoring_report_html(report)
    text = " ".join(_check(page).text)

    assert "3 of 25 features drifted: mileage, age, region." in text
    assert "risk-model" in text
    assert "version 3" in text
    assert "last 24h" in text
    assert "2026-11-25 13:00 UTC → 2026-11-26 13:00 UTC" in text
    assert "4,812 rows" in text
    assert "loans@3" in text
    assert report.decay is not None
    assert report.decay.reason in text
    assert report.decay.decayed is True
    body = page.split("<tbody>", 2)[2]  # the drift table (the windows' table comes first)
    order = re.findall(r'<a href="#feature-\d+">(.*?)</a>', body.split("</tbody>")[0])
    assert order[:3] == ["mileage", "age", "region"]
    assert len(order) == 25
    assert page.count('<tr class="drifted">') == 3  # three features
    assert page.count('<tr class="open">') == 1  # one open alert


def test_every_text_is_escaped(report: MonitorReport) -> None:
    page = monitoring_report_html(report)

    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "fell &amp; rose again" in page
    text = "".join(_check(page).text)
    assert EVIL in text  # shown to the reader as text
    hostile = monitoring_report_html(replace(report, model='m" onload="x'))
    assert 'onload="x' not in hostile
    _check(hostile)


def test_missing_sections_are_said_to_be_missing(report: MonitorReport) -> None:
    page = monitoring_report_html(
        replace(report, drift=None, prediction_drift=None, decay=None, alerts=())
    )
    text = " ".join(_check(page).text)

    assert "Drift was not computed." in text
    assert "Decay was not computed." in text
    assert "No alerts." in text
    assert "<svg" not in page

    window = MonitorWindow(start=None, end=NOW, rows=0, description="")
    minimal = monitoring_report_html(
        MonitorReport("m", 1, NOW, window, trained_on=(), reference="")
    )
    _check(minimal)
    assert '<h1>m <span class="version">version 1</span></h1>' in minimal


def test_decay_without_labels_shows_only_the_estimate(report: MonitorReport) -> None:
    assert report.decay is not None
    unlabelled = replace(
        report.decay,
        windows=tuple(replace(window, value=None, labelled=0) for window in report.decay.windows),
        latest=None,
        judged=None,
        decayed=False,
        reason="no feedback labels yet; estimated",
    )
    page = monitoring_report_html(replace(report, decay=unlabelled))
    (chart,) = _svgs(page, "metric")

    assert not [c for c in chart.iter("circle") if "measured-dot" in (c.get("class") or "")]
    assert [p for p in chart.iter("polyline") if p.get("class") == "estimated"]
    assert "no verdict" in page


def test_an_empty_stream_draws_no_chart(report: MonitorReport) -> None:
    assert report.decay is not None
    page = monitoring_report_html(replace(report, decay=replace(report.decay, windows=())))
    assert "No predictions in this window." in page
    assert not _svgs(page, "metric")


def test_many_categories_are_capped(report: MonitorReport) -> None:
    labels = [f"garage {i}" for i in range(120)]
    shares = tuple(np.full(120, 1 / 120).tolist())
    assert report.drift is not None
    feature = replace(
        report.drift.features[0],
        feature="garage",
        kind="categorical",
        rank=99,
        reference=Histogram(tuple(labels), None, shares),
        current=Histogram((*labels[:60], "new garage"), None, shares[:61]),
    )
    report = replace(report, drift=replace(report.drift, features=(feature,)))
    (svg,) = [
        s
        for s in _svgs(monitoring_report_html(report), "hist")
        if "garage" in s.get("aria-label", "")
    ]
    bars = [r for r in svg.iter("rect") if r.get("class") == "ref"]
    assert len(bars) == MAX_BARS
    titles = [t.text or "" for t in svg.iter("title")]
    assert titles[-1].startswith("92 others:")


def test_edges_alone_label_the_bins(report: MonitorReport) -> None:
    assert report.drift is not None
    first, *others = report.drift.features
    unlabelled = replace(
        first,
        reference=replace(first.reference, labels=()),
        current=replace(first.current, labels=()),
    )
    report = replace(report, drift=replace(report.drift, features=(unlabelled, *others)))
    (svg, *_) = _svgs(monitoring_report_html(report), "hist")
    assert (svg.find("g/title").text or "").startswith("0 to 10: reference")  # type: ignore[union-attr]


def test_values_that_are_not_finite_do_not_break_the_page(report: MonitorReport) -> None:
    assert report.drift is not None
    first, *others = report.drift.features
    odd = replace(
        first,
        figures={"psi": math.nan, "ks": math.inf},
        reference=replace(first.reference, shares=(math.nan, math.inf, 0.5)),
    )
    page = monitoring_report_html(
        replace(
            report,
            window=replace(report.window, start=None),
            drift=replace(report.drift, features=(odd, *others)),
        )
    )
    _check(page)
    assert "psi <b>n/a</b>" in page
    assert "ks <b>n/a</b>" in page
    assert "- → 2026-11-26 13:00 UTC" in page  # no start: a dash


def test_the_drift_table_shows_the_rule_and_each_features_importance(
    report: MonitorReport,
) -> None:
    assert report.drift is not None
    names = [feature.feature for feature in report.drift.features]
    weighted = with_importance(report.drift, {name: float(i + 1) for i, name in enumerate(names)})
    alerting = DriftAlerting(
        False, 0.9, weighted.weighted_drift, "below 0.9: reported, not alerted"
    )
    plain = monitoring_report_html(report)
    page = monitoring_report_html(replace(report, drift=weighted, drift_alerting=alerting))
    _check(page)
    rule = (
        "Rule effect+significance: a feature drifts when an effect size reaches its "
        "threshold (PSI ≥ 0.1, Jensen-Shannon distance ≥ 0.1, normed Wasserstein ≥ 0.1) and "
        "the shift is beyond chance"
    )
    assert rule in page
    assert rule in plain
    assert '<th scope="col">rule</th>' in plain
    assert '<th scope="col" class="num">importance</th>' not in plain  # not known: no column
    assert '<th scope="col" class="num">importance</th>' in page
    assert "attribution (importance-weighted drift; importance: the mean absolute" in page
    assert "Alerts: below 0.9: reported, not alerted." in page


def test_steady_predictions_say_why(report: MonitorReport) -> None:
    assert report.prediction_drift is not None
    steady = replace(
        report.prediction_drift.drift,
        drifted=False,
        reasons=(),
        explanation="too small to matter (psi 0.01 < 0.1) and within chance (ks p=0.6)",
    )
    page = monitoring_report_html(
        replace(report, prediction_drift=replace(report.prediction_drift, drift=steady))
    )
    assert (
        "The predictions hold steady: too small to matter (psi 0.01 &lt; 0.1) and within "
        "chance (ks p=0.6)." in page
    )


def test_the_same_data_renders_the_same_page(report: MonitorReport) -> None:
    assert monitoring_report_html(report) == monitoring_report_html(_report())


# -- a real browser -----------------------------------------------------------------------

_BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "headless_shell",
    "firefox",
)


def _browser() -> str | None:
    explicit = os.environ.get(env.TEST_BROWSER)
    if explicit:
        return explicit
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _offline(command: list[str]) -> list[str]:
    """``command`` in a network namespace of its own (no network at all) when this
    machine lets us make one; the browser flags below cut it off besides."""
    unshare = shutil.which("unshare")
    if unshare is not None:
        probe = subprocess.run(
            [unshare, "--net", "--map-root-user", "true"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return [unshare, "--net", "--map-root-user", *command]
    return command


def test_a_headless_browser_renders_the_page_offline(report: MonitorReport, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip(
            "no headless browser on this machine (looked for "
            f"{', '.join(_BROWSERS)} on PATH and {env.TEST_BROWSER})"
        )
    page = tmp_path / "report.html"
    page.write_text(monitoring_report_html(report), encoding="utf-8")
    shot = tmp_path / "report.png"
    if "firefox" in Path(browser).name:
        command = [
            browser, "--headless", "--no-remote", "--profile", str(tmp_path / "profile"),
            "--window-size=1280,3000", "--screenshot", str(shot), page.as_uri(),
        ]  # fmt: skip
        (tmp_path / "profile").mkdir()
        done = subprocess.run(_offline(command), capture_output=True, timeout=120, check=False)
        assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
        assert shot.stat().st_size > 20_000
        return
    common = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dumped = subprocess.run(
        _offline([*common, "--dump-dom", page.as_uri()]),
        capture_output=True,
        timeout=120,
        check=False,
    )
    dom = dumped.stdout.decode("utf-8", errors="replace")
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")[-2000:]
    # The browser parsed the whole page: every chart is in its DOM.
    assert dom.count('<svg class="chart hist"') == 26
    assert dom.count('<svg class="chart metric"') == 1
    assert "3 of 25 features drifted" in dom
    assert "<script>alert(1)</script>" not in dom
    rendered = subprocess.run(
        _offline([*common, "--window-size=1280,3000", f"--screenshot={shot}", page.as_uri()]),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), rendered.stderr.decode(errors="replace")[-2000:]
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    blank_shot = tmp_path / "blank.png"
    subprocess.run(
        _offline(
            [*common, "--window-size=1280,3000", f"--screenshot={blank_shot}", blank.as_uri()]
        ),
        capture_output=True,
        timeout=120,
        check=False,
    )
    # Charts, tables and text make a far bigger image than an empty page.
    assert shot.stat().st_size > 5 * max(blank_shot.stat().st_size, 1)


def test_a_report_of_decay_alone() -> None:
    result = _decay_result()
    window = MonitorWindow(start=None, end=NOW, rows=1200, description="")
    page = monitoring_report_html(MonitorReport("m", 1, NOW, window, (), "", decay=result))
    _check(page)
    assert result.reason.split(" is ")[0] in page


def test_the_intervals_are_drawn_and_tabled_and_the_estimate_carries_its_caveat(
    report: MonitorReport,
) -> None:
    page = monitoring_report_html(report)
    (chart,) = _svgs(page, "metric")
    assert report.decay is not None
    windows = report.decay.windows

    measured = [line for line in chart.iter("line") if line.get("class") == "measured-range"]
    estimated = [line for line in chart.iter("line") if line.get("class") == "estimated-range"]
    assert len(measured) == sum(w.interval is not None for w in windows) > 0
    assert len(estimated) == sum(w.estimated_interval is not None for w in windows) == 12
    for line in measured + estimated:
        assert line.get("x1") == line.get("x2")
        assert float(line.get("y1", "0")) <= float(line.get("y2", "0"))  # top above bottom
    judged = windows[report.decay.judged or 0]
    assert judged.interval is not None
    assert f"{number(judged.interval[0])} to {number(judged.interval[1])}" in page
    assert "bootstrap interval" in page  # in the legend
    assert html.escape(CBPE_CAVEAT, quote=False) in page.replace("&#39;", "'")

    without_estimate = replace(
        report.decay,
        windows=tuple(replace(w, estimated=None, estimated_interval=None) for w in windows),
        latest_estimated=None,
    )
    assert "cannot see concept drift" not in monitoring_report_html(
        replace(report, decay=without_estimate)
    )


def _trend_series(report: MonitorReport) -> MonitorSeries:
    """Five daily windows of the report's drift, the age feature's effect size (its
    Jensen-Shannon distance) climbing."""
    assert report.drift is not None
    windows = []
    for day in range(5):
        features = tuple(
            replace(f, figures={**f.figures, "js": 0.02 * day * day}, drifted=day >= 3)
            if f.feature == "age"
            else replace(f, figures={**f.figures, "js": f.score / 4})
            for f in report.drift.features
        )
        drift = replace(report.drift, features=features)
        end = NOW - timedelta(days=4 - day)
        windows.append(SeriesWindow(end - timedelta(days=1), end, 4812, drift, None))
    return MonitorSeries(timedelta(days=1), timedelta(days=1), tuple(windows), Persistence(2, 3))


def test_the_series_draws_each_features_effect_size_over_time(report: MonitorReport) -> None:
    series = _trend_series(report)
    page = monitoring_report_html(replace(report, series=series))
    _check(page)
    trends = _svgs(page, "trend")

    assert "Drift over time" in page
    assert len(trends) == len(series.features) == 25
    # Those that meet the alert rule come first, by name: age's climb is drawn, a dot
    # per window, red where it drifted.
    first = trends[0]
    assert first.get("aria-label") == "age: js over time"
    levels = [line for line in first.iter("line") if line.get("class") == "threshold"]
    assert len(levels) == 1
    assert "threshold 0.1" in page
    dots = list(first.iter("circle"))
    assert [c.get("class") for c in dots] == ["trend-dot"] * 3 + ["trend-dot drifted"] * 2
    heights = [float(c.get("cy", "0")) for c in dots]
    assert heights == sorted(heights, reverse=True)  # higher score, higher on the page
    (line,) = [p for p in first.iter("polyline") if p.get("class") == "trend"]
    assert len(line.get("points", "").split()) == 5
    expected = "A drift alert needs drift in at least 2 of the last 3 windows; met by age, mileage"
    assert expected + ", region." in page
    assert "5 windows of 1d, every 1d" in page
    assert "Drift over time" not in monitoring_report_html(report)


# -- what a reader stumbles on ------------------------------------------------------------


def _drift_table(page: str) -> tuple[list[str], list[list[str]]]:
    """The drift table's headers (text) and rows (cells as text)."""
    body = page[page.index("<h2>Drift</h2>") :]
    table = ET.fromstring(
        re.search(r'<table class="drift-table">.*?</table>', body, flags=re.S).group()
    )  # type: ignore[union-attr]
    headers = [" ".join(" ".join(th.itertext()).split()) for th in table.iter("th")]
    rows = [
        ["".join(td.itertext()) for td in tr.iter("td")]
        for tr in table.find("tbody")  # type: ignore[union-attr]
    ]
    return headers, rows


def test_the_drift_table_has_a_column_per_figure_with_its_threshold(
    report: MonitorReport,
) -> None:
    # Before, each feature's figures ran on in one cell, thresholds nowhere near them.
    page = monitoring_report_html(report)
    headers, rows = _drift_table(page)

    # 25 features: 22 numeric with a KS test, 3 categorical with a chi-square one; the
    # tests' thresholds are divided among them (Bonferroni), as the verdict took them.
    assert headers == [
        "rank", "feature", "kind", "PSI ≥ 0.1", "JS ≥ 0.1", "norm. Wasserstein ≥ 0.1",
        "KS p < 0.01/22", "chi² p < 0.01/3", "rule", "verdict", "why",
    ]  # fmt: skip
    assert len(rows) == 25
    assert all(len(row) == len(headers) for row in rows)
    mileage = next(row for row in rows if row[1] == "mileage")
    assert report.drift is not None
    figures = next(f for f in report.drift.features if f.feature == "mileage").figures
    assert mileage[3] == number(figures["psi"])
    assert mileage[4] == "-"  # the fixture gives numbers no Jensen-Shannon distance
    assert mileage[5] == number(figures["wasserstein"])
    assert mileage[6] == "1e-06"
    assert mileage[7] == "-"  # a numeric column has no chi-square test
    assert mileage[9] == "drifted"
    # The figures past their thresholds are marked: mileage's PSI and KS p.
    row = re.search(r"<tr class=\"drifted\">.*?mileage.*?</tr>", page).group()  # type: ignore[union-attr]
    assert row.count('class="num hit"') == 3  # PSI, normed Wasserstein (3 x PSI) and KS p

    weighted = with_importance(report.drift, {f.feature: 1.0 for f in report.drift.features})
    with_weights, _ = _drift_table(monitoring_report_html(replace(report, drift=weighted)))
    assert with_weights[8] == "importance"


def test_the_title_says_what_the_report_is(report: MonitorReport) -> None:
    page = monitoring_report_html(report)
    assert "<title>Drift report: risk-model v3</title>" in page
    assert '<p class="muted small">drift report</p>' in page
    decay_only = monitoring_report_html(replace(report, drift=None, prediction_drift=None))
    assert "<title>Monitoring report: risk-model v3</title>" in decay_only


def test_the_page_prints(report: MonitorReport) -> None:
    page = monitoring_report_html(report)
    style = page[page.index("<style>") : page.index("</style>")]
    assert "@media print" in style
    printed = style[style.index("@media print") :]
    assert "break-inside:avoid" in printed
    assert "&gt;" not in style  # the stylesheet is inlined as it is, not escaped


def _numeric_feature(report: MonitorReport, edges: list[float], ref: list[float],
                     cur: list[float]) -> MonitorReport:  # fmt: skip
    assert report.drift is not None
    labels = tuple(f"[{a:.4g}, {b:.4g})" for a, b in pairwise(edges))
    feature = replace(
        report.drift.features[0],
        feature="amount",
        kind="numeric",
        reference=Histogram(labels, tuple(edges), tuple(ref)),
        current=Histogram(labels, tuple(edges), tuple(cur)),
    )
    return replace(report, drift=replace(report.drift, features=(feature,)), prediction_drift=None)


def _amount_chart(report: MonitorReport) -> ET.Element:
    (svg,) = _svgs(monitoring_report_html(report), "hist")
    return svg


def _axis_labels(svg: ET.Element) -> list[str]:
    # The gridlines' labels are anchored at the end; the axis's are not.
    return [
        t.text or ""
        for t in svg.iter("text")
        if t.get("text-anchor") != "end" or t.get("transform")
    ]


@pytest.mark.parametrize("bins", [5, 100])
def test_axis_labels_stay_few_at_any_bin_count(report: MonitorReport, bins: int) -> None:
    # Before, a hundred bins put fifteen slanted labels under an axis that had room for few.
    edges = np.linspace(0.0, 1000.0, bins + 1).tolist()
    shares = np.full(bins, 1 / bins).tolist()
    svg = _amount_chart(_numeric_feature(report, edges, shares, shares))
    labels = _axis_labels(svg)
    assert 2 <= len(labels) <= MAX_AXIS_LABELS
    assert labels[0] == "0"
    assert labels[-1] == "1e+03"
    assert all(len(label) <= 6 for label in labels)
    if bins == 5:
        assert labels == ["0", "200", "400", "600", "800", "1e+03"]  # every edge fits

    categories = [f"garage number {i}" for i in range(bins)]
    assert report.drift is not None
    many = replace(
        report.drift.features[0],
        feature="garage",
        kind="categorical",
        reference=Histogram(tuple(categories), None, tuple(shares)),
        current=Histogram(tuple(categories), None, tuple(shares)),
    )
    (chart,) = _svgs(
        monitoring_report_html(
            replace(report, drift=replace(report.drift, features=(many,)), prediction_drift=None)
        ),
        "hist",
    )
    names = _axis_labels(chart)
    assert 1 <= len(names) <= MAX_AXIS_LABELS
    assert all(len(name) <= 11 for name in names)


def test_bars_show_where_the_data_lies(report: MonitorReport) -> None:
    # Equal-mass bins of a skewed (exponential) reference: every stored share is 1/10.
    # Before, every reference bar was drawn the same height; drawn on equal-width bins,
    # the bars fall from the crowded low end to the sparse tail.
    cuts = [*(-np.log(1 - np.linspace(0, 0.99, 10))).tolist(), 8.0]
    edges = [-math.inf, *cuts, math.inf]
    ref = [0.0, *([0.1] * 10), 0.0]
    live = [0.05, *([0.09] * 10), 0.05]
    svg = _amount_chart(_numeric_feature(report, edges, ref, live))
    bars = [float(r.get("height", "0")) for r in svg.iter("rect") if r.get("class") == "ref"]

    assert len(set(bars)) > 3
    assert bars[1] > 3 * bars[-2]  # dense at the low end, sparse in the tail
    titles = [t.text or "" for t in svg.iter("title")]
    # Live values beyond the reference's range get a bar of their own at each end.
    assert titles[0].startswith("below 0: reference 0%, live 5%")
    assert titles[-1].startswith("above 8: reference 0%, live 5%")
    total = sum(float(t.split("reference ")[1].split("%")[0]) for t in titles)
    assert total == pytest.approx(100, abs=0.5)  # the display bins keep all the mass
