"""A gate written by a user in Python: configured, registered and reported like the rest."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest

from pathtolive.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from pathtolive.gates import (
    BUILTIN_GATES,
    DEFAULT_CATALOG,
    Gate,
    GateCatalog,
    GateConfig,
    GateContext,
    GateResult,
    Predictions,
    gate,
    gates_for,
    register_gate,
    run_gates,
)
from tests.unit.gates.conftest import Split
from tests.unit.gates.helpers import make_context
from tests.unit.gates.test_gates import NOW


@gate(keys=["max_false_positive_rate"])
def max_false_positive_rate(context: GateContext) -> GateResult:
    """Share of the negatives (malignant, class 0 here) the candidate calls positive."""
    limit = float(context.config.option("max_false_positive_rate"))
    assert context.classes is not None
    positive = context.classes[-1]
    labels = context.candidate.labels
    assert labels is not None
    negatives = context.y_true != positive
    rate = float(np.mean(labels[negatives] == positive))
    detail = f"false positive rate {rate:.3f}, limit {limit:g}"
    if rate > limit:
        return GateResult.failing("max_false_positive_rate", detail, figure=rate, threshold=limit)
    return GateResult.passing("max_false_positive_rate", detail, figure=rate, threshold=limit)


class MinimumRows(Gate):
    """A class-based user gate: the holdout must be big enough to judge anything."""

    name = "minimum_rows"
    keys = ("min_holdout_rows",)

    def evaluate(self, context: GateContext) -> GateResult:
        needed = int(context.config.option("min_holdout_rows"))
        if context.rows < needed:
            return GateResult.failing(
                self.name, f"{context.rows} holdout rows, {needed - context.rows} too few"
            )
        return GateResult.passing(self.name, f"{context.rows} holdout rows", figure=context.rows)


@pytest.fixture
def registered() -> Iterator[None]:
    """The user gates in the default catalog for one test only."""
    register_gate(max_false_positive_rate)
    register_gate(MinimumRows)
    yield
    DEFAULT_CATALOG.unregister("max_false_positive_rate")
    DEFAULT_CATALOG.unregister("minimum_rows")


@pytest.mark.usefixtures("registered")
def test_a_user_gate_is_configured_and_reported_like_a_built_in_one(
    cancer: Split, cancer_weak: Predictions
) -> None:
    config = GateConfig.from_toml(
        "risk-model",
        {
            "risk-model": {
                "metric": "roc_auc",
                "gates": {"max_false_positive_rate": 0.05, "min_holdout_rows": 100},
            }
        },
    )
    context = make_context(
        cancer, cancer_weak, config=config, loads_and_answers=True, explanations=True
    )

    report = run_gates(context, version=1, created_at=NOW)

    assert config.custom == {"max_false_positive_rate": 0.05, "min_holdout_rows": 100}
    assert [g.name for g in gates_for(config)][-2:] == ["max_false_positive_rate", "minimum_rows"]
    assert [result.gate for result in report.failures] == ["max_false_positive_rate"]
    failed = report.result("max_false_positive_rate")
    assert failed.figure is not None
    assert failed.figure > 0.05
    assert re.fullmatch(r"false positive rate \d\.\d{3}, limit 0\.05", failed.detail)
    assert report.result("minimum_rows").passed


def test_a_user_gate_does_not_apply_until_configured() -> None:
    catalog = GateCatalog([*BUILTIN_GATES, max_false_positive_rate])

    assert max_false_positive_rate not in catalog.gates_for(GateConfig(model="m"))
    assert max_false_positive_rate in catalog.gates_for(
        GateConfig(model="m", custom={"max_false_positive_rate": 0.1})
    )
    assert catalog.custom_keys() == ("max_false_positive_rate",)


def test_the_key_of_an_unregistered_gate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_false_positive_rate is not a gate setting"):
        GateConfig.from_toml("m", {"m": {"gates": {"max_false_positive_rate": 0.1}}})


def test_registering_checks_names_and_types() -> None:
    catalog = GateCatalog()
    catalog.register(max_false_positive_rate)

    with pytest.raises(ConflictError, match="'max_false_positive_rate' is registered already"):
        catalog.register(max_false_positive_rate)
    with pytest.raises(InvalidInputError, match="decorate a function of the context with @"):
        catalog.register(len)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no gate called 'nope'"):
        catalog.unregister("nope")
    catalog.register(max_false_positive_rate, replace=True)
    assert catalog.names() == ("max_false_positive_rate",)
    assert catalog.get("max_false_positive_rate") is max_false_positive_rate
