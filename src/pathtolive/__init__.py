"""pathtolive: continuous delivery for machine-learning models."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from pathtolive import errors

if TYPE_CHECKING:
    from pathtolive.pipelines import (
        Dataset,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        pipeline,
        step,
    )
    from pathtolive.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "Workspace",
    "__version__",
    "errors",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "pipeline",
    "step",
]

# The API objects pull in pandas and pyarrow; importing them on first use keeps the
# command line and `import pathtolive.errors` quick.
_LAZY = {
    "Workspace": "pathtolive.workspace",
    "Dataset": "pathtolive.pipelines",
    "step": "pathtolive.pipelines",
    "pipeline": "pathtolive.pipelines",
    "log_metric": "pathtolive.pipelines",
    "log_metrics": "pathtolive.pipelines",
    "log_param": "pathtolive.pipelines",
    "log_params": "pathtolive.pipelines",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pathtolive' has no attribute {name!r}")
    return getattr(import_module(module), name)
