"""Building gate contexts for the tests."""

from __future__ import annotations

from typing import Any

from pathtolive.gates import GateConfig, GateContext, Predictions, Task
from tests.unit.gates.conftest import Split


def make_context(
    split: Split,
    candidate: Predictions,
    *,
    task: Task = "binary",
    metric: str = "roc_auc",
    config: GateConfig | None = None,
    **measured: Any,
) -> GateContext:
    """A context on the split's holdout; ``measured`` sets the other fields."""
    return GateContext(
        config=config or GateConfig(model="risk-model"),
        task=task,
        metric=metric,
        y_true=split.holdout_target.to_numpy(),
        candidate=candidate,
        **measured,
    )
