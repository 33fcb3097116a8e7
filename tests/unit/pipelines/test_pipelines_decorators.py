"""``@step`` and ``@pipeline``: plain functions outside a run, and a source hash that
follows the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import Pipeline, Step, pipeline, step
from tests.unit.pipelines.fakes import write_files


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STEP = """
    from pathtolive.pipelines import step


    @step
    def scale(values, factor=2):
        return [value * factor for value in values]
"""


def _scale_hash(tmp_path: Path, source: str, folder: str) -> str:
    path = write_files(tmp_path / folder, {"module.py": source}) / "module.py"
    scale: Step[..., object] = _load(path, f"module_{folder}").scale
    return scale.source_hash


def test_the_source_hash_follows_the_code_not_the_file(tmp_path: Path) -> None:
    original = _scale_hash(tmp_path, STEP, "a")

    assert _scale_hash(tmp_path, STEP, "b") == original  # same code elsewhere
    assert _scale_hash(tmp_path, "\n\n" + STEP, "c") == original  # moved down the file
    changed_body = STEP.replace("value * factor", "value * factor + 0")
    assert _scale_hash(tmp_path, changed_body, "d") != original
    changed_default = STEP.replace("factor=2", "factor=3")
    assert _scale_hash(tmp_path, changed_default, "e") != original


def test_a_step_is_a_plain_call_outside_a_run() -> None:
    @step
    def add(a: int, b: int = 1) -> int:
        """Add two numbers."""
        return a + b

    assert add(2) == 3
    assert add(2, b=5) == 7
    assert isinstance(add, Step)
    assert (add.name, add.cache) == ("add", True)
    assert add.__doc__ == "Add two numbers."
    assert add.__name__ == "add"
    assert repr(add) == "<step 'add'>"


def test_step_and_pipeline_take_options() -> None:
    @step(name="load_rows", cache=False)
    def load() -> list[int]:
        return [1]

    @pipeline(name="nightly-risk")
    def nightly(n: int = 3) -> int:
        return n

    assert (load.name, load.cache) == ("load_rows", False)
    assert isinstance(nightly, Pipeline)
    assert nightly.name == "nightly-risk"
    assert nightly(n=4) == 4
    assert repr(nightly) == "<pipeline 'nightly-risk'>"


def test_names_must_be_valid() -> None:
    with pytest.raises(InvalidInputError, match="step name '<lambda>' is not valid"):
        step(lambda: 1)
    with pytest.raises(InvalidInputError, match="pipeline name 'a b' is not valid"):

        @pipeline(name="a b")
        def spaced() -> None: ...
