"""The shipped Prometheus rules: promtool accepts them, its unit tests of the alerts
(``prometheus_rules.test.yml``) pass, they read only metrics and labels the server
exports, and the command and the repository's copy give them as shipped. That a real
Prometheus fires them is tests/func/test_prometheus.py's business."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pathtolive.monitoring.prometheus import prometheus_rules
from pathtolive.serving.metrics import LogCounts, ServerMetrics
from tests.support.cli import run_in_process
from tests.support.prometheus import configure, executable
from tests.support.serving import cli_environ

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent

# A selector in an expression: a metric name, then its matchers if any.
_SELECTOR = re.compile(r"\b(pathtolive_[a-z_]+)\b(?:\{([^}]*)\})?")
_MATCHER_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\bby \(([^)]*)\)")


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(prometheus_rules())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _promtool(*args: str | Path, cwd: Path | None = None) -> str:
    """What ``promtool ARGS`` printed, once it succeeded."""
    completed = subprocess.run(
        [executable("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.mark.prometheus
def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "pathtolive-rules.yml"
    rules.write_text(prometheus_rules())
    checked = _promtool("check", "rules", rules)
    assert f"SUCCESS: {len(_rules())} rules found" in checked


@pytest.mark.prometheus
def test_promtool_accepts_the_example_configuration_as_a_user_adapts_it(tmp_path: Path) -> None:
    config = configure(tmp_path, ["replica-1:8080", "replica-2:8080"], "ptl_token")
    checked = _promtool("check", "config", config)
    assert f"SUCCESS: {len(_rules())} rules found" in checked


@pytest.mark.prometheus
def test_the_alerts_fire_and_clear_as_promtools_unit_tests_expect(tmp_path: Path) -> None:
    # The annotations are left out: promtool would compare their every word.
    document = yaml.safe_load(prometheus_rules())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    cases = tmp_path / "prometheus_rules.test.yml"
    cases.write_text((HERE / "prometheus_rules.test.yml").read_text())
    assert "SUCCESS" in _promtool("test", "rules", cases, cwd=tmp_path)
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    tested_alerts = set(re.findall(r"alertname: (\w+)", cases.read_text()))
    assert alerts == tested_alerts, "every alert has a case in prometheus_rules.test.yml"


def _scrape() -> str:
    """What a server's /metrics gives once every metric has a series."""
    metrics = ServerMetrics(
        log_counts=lambda: LogCounts(1, 1, 1, 1, 1),
        shadow_skipped=lambda: 1,
        open_alerts=lambda: {("risk", "drift"): 1},
        failing_loads=lambda: [("risk", 2)],
        outbox_pending=lambda: {"risk": 1},
        lease_expiry=lambda: 1.0e9,
    )
    metrics.requests.labels("risk", "1", "v1", "live", "200").inc()
    metrics.latency.labels("risk", "1", "v1").observe(0.01)
    metrics.errors.labels("risk", "v1", "store_error", "503").inc()
    metrics.batch_rows.labels("risk", "1").observe(3)
    metrics.model_loads.labels("risk", "1", "loaded").inc()
    metrics.set_serving([("risk", "1", "live")])
    metrics.ready.set(1)
    return metrics.render().decode()


def _exported() -> dict[str, set[str]]:
    """The series names a server exports, with their label names."""
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(_scrape()):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


def test_the_rules_read_only_metrics_and_labels_the_server_exports() -> None:
    exported = _exported()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    read = 0
    for rule in _rules():
        expr = rule["expr"]
        for name, matchers in _SELECTOR.findall(expr):
            if f":{name}" in expr and name not in exported:
                continue  # part of a recorded name (model:pathtolive_requests:rate5m)
            assert name in exported, f"{name} in {expr!r} is not exported"
            for label in _MATCHER_LABEL.findall(matchers):
                assert label in exported[name], f"{name} has no label {label!r}"
            read += 1
        for grouping in _GROUPING.findall(expr):
            labels = {label.strip() for label in grouping.split(",")}
            # Grouping by the target's labels (job, instance) is Prometheus's to add.
            known = set().union(*exported.values()) | {"job", "instance", "le"}
            assert labels <= known, f"{expr!r} groups by an unknown label"
        for name in re.findall(r"\b[a-z_]+:[a-z_0-9]+:[a-z_0-9]+\b", expr):
            assert name in recorded, f"{name} in {expr!r} is recorded by no rule"
    assert read >= 10


def test_counters_end_in_total_and_timestamps_in_seconds() -> None:
    families = list(text_string_to_metric_families(_scrape()))
    assert len(families) >= 15
    for family in families:
        names = {sample.name for sample in family.samples}
        if family.type == "counter":
            assert f"{family.name}_total" in names, family.name
        assert "timestamp" not in family.name or family.name.endswith("_timestamp_seconds")
    lease = [f for f in families if f.name.startswith("pathtolive_controller_lease")]
    assert [(f.name, f.type, f.samples[0].value) for f in lease] == [
        ("pathtolive_controller_lease_expiry_timestamp_seconds", "gauge", 1.0e9)
    ]


def test_without_a_controller_the_lease_has_no_series() -> None:
    text = ServerMetrics().render().decode()
    assert "# TYPE pathtolive_controller_lease_expiry_timestamp_seconds gauge" in text
    assert "\npathtolive_controller_lease_expiry_timestamp_seconds " not in text


def test_the_command_prints_the_shipped_rules_and_the_repository_keeps_the_same(
    tmp_path: Path,
) -> None:
    shipped = prometheus_rules()
    printed = run_in_process(["ops", "prometheus-rules"], cwd=tmp_path, environ=cli_environ())
    assert printed.code == 0, printed.stderr
    assert printed.stdout == shipped
    as_json = run_in_process(
        ["ops", "prometheus-rules", "--json"], cwd=tmp_path, environ=cli_environ()
    )
    assert as_json.json() == yaml.safe_load(shipped)
    copy = ROOT / "deploy" / "prometheus" / "pathtolive-rules.yml"
    assert copy.read_text() == shipped, (
        "deploy/prometheus/pathtolive-rules.yml differs from the shipped rules: copy "
        "src/pathtolive/monitoring/prometheus_rules.yml over it"
    )


def test_the_readme_explains_every_alert() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Alerting with Prometheus\n")
    section = text[start : text.index("\n## ", start + 1)]
    for rule in _rules():
        if "alert" in rule:
            assert f"| `{rule['alert']}` |" in section, rule["alert"]
    assert "pathtolive ops prometheus-rules" in section
