"""Loading a script of the repository's benchmarks/ folder as a module, for its tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["BENCHMARKS", "load_script"]

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_script(stem: str, module_name: str) -> ModuleType:
    """``benchmarks/<stem>.py`` imported as ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / f"{stem}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module
