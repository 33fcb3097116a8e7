"""What /metrics reads from the store when scraped: open alerts, the alert outbox and the
controller's lease."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pathtolive.serving.metrics import ServerMetrics


def _samples(metrics: ServerMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = metrics.render().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
    }


def test_the_outbox_gauge_counts_pending_deliveries_per_model_at_each_scrape() -> None:
    pending = {"risk": 3, "churn": 1}
    metrics = ServerMetrics(outbox_pending=lambda: dict(pending))
    assert _samples(metrics, "pathtolive_alert_outbox_pending") == {
        (("model", "churn"),): 1.0,
        (("model", "risk"),): 3.0,
    }
    pending.clear()  # delivered since: the next scrape says so
    assert _samples(metrics, "pathtolive_alert_outbox_pending") == {}


def test_the_lease_gauge_says_when_the_controllers_lease_lapses_at_each_scrape() -> None:
    expiry: list[float | None] = [None]
    metrics = ServerMetrics(lease_expiry=lambda: expiry[0])
    name = "pathtolive_controller_lease_expiry_timestamp_seconds"
    assert _samples(metrics, name) == {}
    expiry[0] = 1_800_000_030.0
    assert _samples(metrics, name) == {(): 1_800_000_030.0}
    expiry[0] = 1_800_000_040.5  # renewed since
    assert _samples(metrics, name) == {(): 1_800_000_040.5}
