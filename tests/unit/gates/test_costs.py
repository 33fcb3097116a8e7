"""The cost of owning a model: [costs] settings, the monthly arithmetic, the cost gates
and the "is it worth it?" line."""

from __future__ import annotations

from typing import Any

import pytest

from pathtolive.errors import ConfigError
from pathtolive.gates import (
    COSTS_EXTRA,
    CostPer1kGate,
    CostSettings,
    Footprint,
    GateConfig,
    MonthlyCostGate,
    Predictions,
    cost_per_1k,
    money,
    monthly_cost,
    vendor_monthly_cost,
    worth_it_line,
)
from pathtolive.gates.costs import cost_summary
from pathtolive.service.costs import SideCost, cost_figures, worth_it_lines
from tests.unit.gates.conftest import Split
from tests.unit.gates.helpers import make_context

PRICED = CostSettings(
    currency="GBP",
    cpu_hour=0.036,
    gb_month=2.0,
    requests_per_month=1_000_000,
    batch_rows_per_month=10_000_000,
    retrains_per_month=4,
)
FOOTPRINT = Footprint(
    cpu_seconds_per_1k_single=0.5,
    cpu_seconds_per_1k_batch_rows=0.01,
    memory_bytes=250_000_000,
    artifact_bytes=50_000_000,
    training_wall_seconds=120.0,
    training_cpu_seconds=360.0,
)


def test_the_monthly_cost_prices_serving_memory_storage_and_retraining() -> None:
    cost = monthly_cost(FOOTPRINT, PRICED)

    assert cost is not None
    # (1,000 x 0.5 s + 10,000 x 0.01 s) = 600 CPU s = 1/6 hour at 0.036 an hour.
    assert cost.serving_cpu == pytest.approx(0.006)
    assert cost.memory == pytest.approx(0.5)  # 0.25 GB at 2.0
    assert cost.storage == pytest.approx(0.1)  # 0.05 GB at 2.0
    assert cost.retraining == pytest.approx(0.036 * 0.1 * 4)  # 360 s = 0.1 hour, 4 times
    assert cost.total == pytest.approx(0.006 + 0.5 + 0.1 + 0.0144)
    assert cost.to_dict()["total"] == pytest.approx(cost.total)
    assert cost_per_1k(FOOTPRINT, PRICED) == pytest.approx(0.5 / 3600 * 0.036)


def test_without_prices_there_is_no_money_and_unmeasured_parts_count_as_nothing() -> None:
    unpriced = CostSettings(requests_per_month=1000)
    assert monthly_cost(FOOTPRINT, unpriced) is None
    assert cost_per_1k(FOOTPRINT, unpriced) is None
    assert unpriced.missing() == ["cpu_hour", "gb_month"]
    bare = monthly_cost(Footprint(artifact_bytes=1_000_000_000), PRICED)
    assert bare is not None
    assert (bare.serving_cpu, bare.memory, bare.retraining, bare.storage) == (0, 0, 0, 2.0)


def test_a_vendor_priced_per_1k_charges_for_every_request_and_batch_row() -> None:
    assert vendor_monthly_cost(0.4, PRICED) == pytest.approx(0.4 * 11_000)


def test_costs_are_read_from_the_workspace_and_overridden_per_model() -> None:
    document = {
        "costs": {"currency": "EUR", "cpu_hour": 0.05, "gb_month": 3, "requests_per_month": 10},
        "models": {"m": {"costs": {"requests_per_month": 99, "retrains_per_month": 2}}},
    }

    settings = CostSettings.from_toml(document, "m")
    other = CostSettings.from_toml(document, "other")

    assert (settings.currency, settings.cpu_hour, settings.gb_month) == ("EUR", 0.05, 3.0)
    assert (settings.requests_per_month, settings.retrains_per_month) == (99.0, 2.0)
    assert other.requests_per_month == 10.0
    assert CostSettings.from_toml({}).priced is False


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"costs": {"cpu_hours": 1}}, "costs.cpu_hours"),
        ({"costs": {"cpu_hour": -1}}, "costs.cpu_hour"),
        ({"costs": {"gb_month": "cheap"}}, "costs.gb_month"),
        ({"costs": {"currency": ""}}, "costs.currency"),
        ({"models": {"m": {"costs": {"currency": "GBP"}}}}, "models.m.costs.currency"),
    ],
)
def test_a_wrong_cost_setting_is_a_config_error_naming_it(
    document: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        CostSettings.from_toml(document, "m")


def test_a_cost_gate_without_prices_names_the_missing_ones() -> None:
    with pytest.raises(ConfigError, match=r"needs the prices cpu_hour and gb_month in \[costs\]"):
        CostSettings(cpu_hour=None).require_prices("m", "max_monthly_cost")
    with pytest.raises(ConfigError, match=r"max_cost_per_1k .* cpu_hour in"):
        CostSettings(gb_month=1.0).require_prices("m", "max_cost_per_1k", ("cpu_hour",))
    CostSettings(cpu_hour=1.0).require_prices("m", "max_cost_per_1k", ("cpu_hour",))
    assert (
        GateConfig.from_toml("m", {"m": {"gates": {"max_monthly_cost": 5}}}).max_monthly_cost == 5
    )
    with pytest.raises(ConfigError, match="max_monthly_cost"):
        GateConfig.from_toml("m", {"m": {"gates": {"max_monthly_cost": 0}}})


def test_money_reads_as_money() -> None:
    assert money(3.2, "GBP") == "£3.20"
    assert money(0.0041, "USD") == "$0.0041"
    assert money(1234.5, "CHF") == "CHF 1,234.50"
    assert money(-2, "EUR") == "-€2.00"


def test_the_worth_it_line_states_the_lead_and_what_it_costs_more_or_less() -> None:
    common: dict[str, Any] = {
        "metric": "roc_auc",
        "difference": 0.12,
        "candidate_metric": 0.95,
        "other_metric": 0.83,
        "against": "the 'logistic' baseline",
        "currency": "GBP",
    }
    more = worth_it_line(candidate_cost=14.0, other_cost=2.0, **common)
    less = worth_it_line(candidate_cost=2.0, other_cost=14.0, **common)
    unknown = worth_it_line(
        candidate_cost=2.0, other_cost=None, why_unknown="set price_per_1k", **common
    )

    assert more == (
        "+0.12 roc_auc over the 'logistic' baseline (0.95 vs 0.83) for £12.00 a month more "
        "(£14.00 vs £2.00 a month)"
    )
    assert "for £12.00 a month less (£2.00 vs £14.00 a month)" in less
    assert unknown.endswith("; the 'logistic' baseline's monthly cost is unknown: set price_per_1k")


def _judged(gate: Any, split: Split, candidate: Predictions, costs: dict[str, Any], **limits: Any):  # type: ignore[no-untyped-def]
    context = make_context(
        split,
        candidate,
        config=GateConfig(model="risk-model", **limits),
        extras={COSTS_EXTRA: costs},
    )
    return gate.evaluate(context)


def test_the_cost_gates_pass_within_their_limits_and_fail_over_them(
    cancer: Split, cancer_strong: Predictions
) -> None:
    costs = cost_figures(FOOTPRINT, PRICED, None, None)
    total = costs["monthly"]["total"]

    high = _judged(MonthlyCostGate(), cancer, cancer_strong, costs, max_monthly_cost=total * 2)
    low = _judged(MonthlyCostGate(), cancer, cancer_strong, costs, max_monthly_cost=total / 2)
    per_1k = _judged(CostPer1kGate(), cancer, cancer_strong, costs, max_cost_per_1k=1e-9)
    unpriced = cost_figures(FOOTPRINT, CostSettings(), None, None)
    unmeasured = _judged(MonthlyCostGate(), cancer, cancer_strong, unpriced, max_monthly_cost=1)

    assert (high.verdict, high.figure) == ("pass", pytest.approx(total))
    assert low.verdict == "fail"
    assert "over the limit" in low.detail
    assert low.data["retraining"] == pytest.approx(0.0144)
    assert per_1k.verdict == "fail"
    assert per_1k.figure == pytest.approx(0.5 / 3600 * 0.036)
    assert unmeasured.verdict == "fail"
    assert "not measured" in unmeasured.detail


def test_worth_it_is_said_against_the_baseline_and_the_live_version(
    cancer: Split, cancer_strong: Predictions, cancer_weak: Predictions
) -> None:
    cheap = Footprint(cpu_seconds_per_1k_single=0.01, memory_bytes=1000, artifact_bytes=1000)
    baseline = SideCost("the 'logistic' baseline", cheap, monthly_cost(cheap, PRICED).total)  # type: ignore[union-attr]
    live = SideCost("live version risk-model@1", None, None, "not known: not measured")
    costs = cost_figures(FOOTPRINT, PRICED, baseline, live)
    context = make_context(
        cancer,
        cancer_strong,
        config=GateConfig(model="risk-model", resamples=200),
        baseline=cancer_weak,
        champion=cancer_weak,
    )

    lines = worth_it_lines(context, costs, PRICED)

    assert len(lines) == 2
    assert lines[0].startswith("+0.")
    assert "over the 'logistic' baseline" in lines[0]
    assert "a month more (£" in lines[0]
    assert "over live version risk-model@1" in lines[1]
    assert lines[1].endswith("monthly cost is unknown: not known: not measured")
    summary = cost_summary(costs)
    assert "0.5 CPU s per 1,000 one-row predictions" in summary
    assert "training 120 s wall, 360 s CPU" in summary
    assert "about £0.62 a month" in summary


def test_an_external_baseline_costs_its_price_or_is_said_to_be_unknown() -> None:
    from pathtolive.gates import ExternalBaseline
    from pathtolive.service.costs import external_cost

    table = {"url": "http://127.0.0.1:9/predict", "price_per_1k": 0.4}
    priced = ExternalBaseline.from_toml("vendor", {"baselines": {"vendor": table}})
    del table["price_per_1k"]
    unpriced = ExternalBaseline.from_toml("vendor", {"baselines": {"vendor": table}})

    assert priced.price_per_1k == 0.4
    assert external_cost(priced, PRICED).monthly == pytest.approx(0.4 * 11_000)
    unknown = external_cost(unpriced, PRICED)
    assert unknown.monthly is None
    assert unknown.how == "its price is not known: set [baselines.vendor] price_per_1k"
    with pytest.raises(ConfigError, match=r"baselines\.vendor\.price_per_1k"):
        ExternalBaseline.from_toml(
            "vendor", {"baselines": {"vendor": {**table, "price_per_1k": -1}}}
        )


def test_a_pair_that_cannot_be_compared_is_said_so_not_raised(
    cancer: Split, cancer_strong: Predictions
) -> None:
    labels_only = Predictions(labels=cancer.holdout_target.to_numpy())  # roc_auc needs scores
    costs = cost_figures(FOOTPRINT, PRICED, SideCost("the 'm@1' model"), None)
    context = make_context(
        cancer, cancer_strong, config=GateConfig(model="risk-model"), baseline=labels_only
    )

    (line,) = worth_it_lines(context, costs, PRICED)

    assert line.startswith("not compared with the 'm@1' model: ")
