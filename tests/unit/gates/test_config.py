"""Parsing [models.NAME], its .gates and .promotion tables from pathtolive.toml."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from pathtolive.errors import ConfigError
from pathtolive.gates import DEFAULT_POLICY, GateConfig, PromotionConfig
from pathtolive.gates.config import judging_digest, judging_settings

DOCUMENT = """
[models.risk-model]
target = "at_risk"
metric = "roc_auc"
metrics = ["f1", "brier"]

[models.risk-model.gates]
min_metric = 0.75
beat_live_by = 0.0
baseline = "logistic"
beat_baseline_by = 0.02
slices = ["region", "garage_size"]
max_slice_drop = 0.03
p95_latency_ms = 20
max_size_mb = 200

[models.risk-model.promotion]
live = "four-eyes"
staging = "auto"
"""


def _models(text: str = DOCUMENT) -> dict[str, Any]:
    return dict(tomllib.loads(text)["models"])


def _gates(**gates: Any) -> dict[str, Any]:
    return {"m": {"gates": gates}}


def test_the_documented_example_is_read_into_typed_settings() -> None:
    config = GateConfig.from_toml("risk-model", _models())

    assert config == GateConfig(
        model="risk-model",
        target="at_risk",
        metric="roc_auc",
        metrics=("f1", "brier"),
        min_metric=0.75,
        beat_live_by=0.0,
        baseline="logistic",
        beat_baseline_by=0.02,
        slices=("region", "garage_size"),
        max_slice_drop=0.03,
        p95_latency_ms=20.0,
        max_size_mb=200.0,
        promotion=PromotionConfig({"live": "four-eyes", "staging": "auto"}),
    )
    assert config.min_slice_rows == 30
    assert (config.resamples, config.confidence, config.seed) == (1000, 0.95, 0)
    assert config.promotion.policy_for("live") == "four-eyes"
    assert config.promotion.policy_for("canary") == DEFAULT_POLICY == "approval"
    assert config.is_set("beat_live_by")
    assert config.option("baseline") == "logistic"


def test_a_model_without_settings_gets_the_defaults() -> None:
    config = GateConfig.from_toml("other-model", _models())

    assert config == GateConfig(model="other-model")
    assert not config.is_set("min_metric")
    assert not config.is_set("slices")
    assert config.option("max_size_mb", 500) == 500


def test_an_unknown_gate_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        GateConfig.from_toml("m", _gates(min_metrc=0.7))

    assert caught.value.message == (
        "pathtolive.toml: models.m.gates.min_metrc is not a gate setting; did you mean "
        "min_metric? Valid keys: min_metric, "
        "beat_live_by, baseline, beat_baseline_by, slices, max_slice_drop, min_slice_rows, "
        "p95_latency_ms, max_size_mb, max_cost_per_1k, max_monthly_cost, resamples, confidence, "
        "seed, holdout"
    )


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (_gates(min_metric="high"), "models.m.gates.min_metric .* must be a number, not 'high'"),
        (_gates(min_metric=True), "min_metric .* must be a number, not True"),
        (_gates(max_slice_drop=-0.1, slices=["a"]), "max_slice_drop .* at least 0"),
        (_gates(p95_latency_ms=0), "p95_latency_ms .* must be above 0"),
        (_gates(min_slice_rows=2.5), "min_slice_rows .* whole number of at least 1"),
        (_gates(resamples=10), "resamples .* whole number of at least 100"),
        (_gates(confidence=95), "confidence .* between 0 and 1"),
        (_gates(slices="region", max_slice_drop=0.1), "slices .* list of column names"),
        (_gates(slices=["a", "a"], max_slice_drop=0.1), "names a column twice"),
        (_gates(baseline=""), "baseline .* non-empty string"),
        (_gates(beat_baseline_by=0.02), "beat_baseline_by needs a baseline"),
        (_gates(slices=["region"]), "slices needs models.m.gates.max_slice_drop"),
        (_gates(max_slice_drop=0.03), "max_slice_drop needs models.m.gates.slices"),
        (
            {"m": {"metric": "auc"}},
            "models.m.metric = 'auc' is not a metric; did you mean 'roc_auc'",
        ),
        ({"m": {"metrics": ["f1", "gini"]}}, "'gini' is not a metric"),
        ({"m": {"metirc": "f1"}}, "models.m.metirc is not a model setting"),
        ({"m": {"gates": [1]}}, "models.m.gates .* must be a table"),
        ({"m": "roc_auc"}, "models.m .* must be a table"),
        ({"m": {"promotion": {"live": "yolo"}}}, "promotion.live = 'yolo' is not a policy; use"),
        ({"m": {"promotion": "auto"}}, "promotion .* must be a table of alias = policy"),
    ],
)
def test_wrong_settings_are_config_errors_naming_the_key(
    models: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        GateConfig.from_toml("m", models)


def test_negative_margins_ask_for_not_worse_by_more_than() -> None:
    config = GateConfig.from_toml("m", _gates(beat_live_by=-0.01))

    assert config.beat_live_by == -0.01


def test_custom_keys_can_be_given_explicitly() -> None:
    config = GateConfig.from_toml(
        "m", _gates(max_false_positive_rate=0.1), custom_keys=["max_false_positive_rate"]
    )

    assert config.is_set("max_false_positive_rate")
    assert config.option("max_false_positive_rate") == 0.1


def test_a_pii_column_cannot_be_a_slice() -> None:
    config = GateConfig.from_toml("risk-model", tomllib.loads(DOCUMENT)["models"])
    config.refuse_pii_slices(["ssn"])  # not sliced by: fine

    with pytest.raises(ConfigError) as caught:
        config.refuse_pii_slices(["ssn", "region"])

    assert "models.risk-model.gates.slices names 'region', tagged pii" in caught.value.message
    assert "remove it from slices" in caught.value.message


def test_the_judging_digest_moves_with_the_gates_and_the_policy_only() -> None:
    models = tomllib.loads(DOCUMENT)["models"]
    digest = judging_digest("risk-model", models)
    assert len(digest) == 64
    # The same settings written in another order: the same digest.
    table = models["risk-model"]
    reordered = {"risk-model": {key: table[key] for key in reversed(list(table))}}
    assert judging_digest("risk-model", reordered) == digest
    # Settings that do not judge a version (monitoring, retraining, reported metrics).
    other = {"risk-model": {**table, "metrics": ["f1"], "monitoring": {"min_rows": 10}}}
    assert judging_digest("risk-model", other) == digest
    for key, value in (
        ("gates", {**table["gates"], "min_metric": 0.8}),
        ("promotion", {"live": "auto"}),
        ("metric", "f1"),
        ("target", "churned"),
    ):
        changed = {"risk-model": {**table, key: value}}
        assert judging_digest("risk-model", changed) != digest, key
    assert judging_settings("churn", models) == {}


def test_a_named_holdout_is_a_dataset_version_and_not_a_gate() -> None:
    config = GateConfig.from_toml("m", _gates(holdout="loans@latest"))

    assert config.holdout == "loans@latest"
    assert config.custom == {}
    assert GateConfig.from_toml("m", _gates(holdout="loans@3")).holdout == "loans@3"
    with pytest.raises(ConfigError, match=r'models\.m\.gates\.holdout .* like "loans@3"'):
        GateConfig.from_toml("m", _gates(holdout="loans@three"))
    with pytest.raises(ConfigError, match=r"models\.m\.gates\.holdout"):
        GateConfig.from_toml("m", _gates(holdout=3))
