"""Finding a workspace's pipelines: sibling imports, isolation between workspaces in one
process, and errors that point at the file and line."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.pipelines import discover_pipelines, get_pipeline
from tests.unit.pipelines.fakes import write_files


def _workspace(root: Path, label: str, *, package: bool) -> Path:
    files = {
        "pipelines/common.py": f"""
            LABEL = {label!r}
        """,
        "pipelines/risk.py": """
            from pipelines.common import LABEL
            from pathtolive.pipelines import pipeline, step

            @step
            def tag(value: str) -> str:
                return f"{LABEL}:{value}"

            @pipeline
            def risk(value: str = "x") -> str:
                return tag(value)
        """,
        "pipelines/churn.py": """
            from .common import LABEL
            from pathtolive.pipelines import pipeline

            @pipeline(name="churn-weekly")
            def churn() -> str:
                return LABEL
        """,
    }
    if package:
        files["pipelines/__init__.py"] = '"""The workspace\'s pipelines."""\n'
    return write_files(root, files)


@pytest.mark.parametrize("package", [True, False], ids=["package", "namespace-folder"])
def test_every_module_is_imported_and_siblings_import_each_other(
    tmp_path: Path, package: bool
) -> None:
    root = _workspace(tmp_path, "alpha", package=package)

    found = discover_pipelines(root)

    assert sorted(found) == ["churn-weekly", "risk"]
    assert found["risk"]("y") == "alpha:y"
    assert found["churn-weekly"]() == "alpha"
    assert not list(root.rglob("__pycache__"))  # the workspace is left as it was


def test_two_workspaces_in_one_process_do_not_collide(tmp_path: Path) -> None:
    first = _workspace(tmp_path / "first", "first", package=True)
    second = _workspace(tmp_path / "second", "second", package=False)

    risk_one = get_pipeline(first, "risk")
    risk_two = get_pipeline(second, "risk")

    assert risk_one() == "first:x"
    assert risk_two() == "second:x"
    assert risk_one() == "first:x"  # the first still uses its own sibling module
    assert "pipelines" not in sys.modules
    assert not [name for name in sys.modules if name.startswith("pipelines.")]


def test_a_module_named_pipelines_of_the_process_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = ModuleType("pipelines")
    monkeypatch.setitem(sys.modules, "pipelines", theirs)

    discover_pipelines(_workspace(tmp_path, "alpha", package=True))

    assert sys.modules["pipelines"] is theirs


def test_discovering_again_sees_edited_files(tmp_path: Path) -> None:
    root = _workspace(tmp_path, "before", package=True)
    assert get_pipeline(root, "risk")() == "before:x"

    write_files(root, {"pipelines/common.py": "LABEL = 'after'\n"})

    assert get_pipeline(root, "risk")() == "after:x"


def test_a_workspace_without_a_pipelines_folder_is_told_where_to_put_them(
    tmp_path: Path,
) -> None:
    with pytest.raises(NotFoundError, match=r"no pipelines/ folder in .*; put pipelines in"):
        discover_pipelines(tmp_path)


def test_an_unknown_pipeline_lists_the_known_ones(tmp_path: Path) -> None:
    root = _workspace(tmp_path, "alpha", package=True)

    with pytest.raises(NotFoundError) as caught:
        get_pipeline(root, "fraud")

    assert str(caught.value).endswith("the pipelines are: churn-weekly, risk")
    assert caught.value.details["known"] == ["churn-weekly", "risk"]
    empty = write_files(tmp_path / "empty", {"pipelines/notes.py": "X = 1\n"})
    with pytest.raises(NotFoundError, match="the pipelines are: none"):
        get_pipeline(empty, "fraud")


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pipelines/good.py": "X = 1\n",
            "pipelines/broken.py": """
                from pathtolive.pipelines import pipeline

                @pipeline
                def broken(:
                    pass
            """,
        },
    )

    with pytest.raises(InvalidInputError) as caught:
        discover_pipelines(root)

    assert str(caught.value).startswith("pipelines/broken.py:4: syntax error: ")
    assert caught.value.details["line"] == 4


def test_a_syntax_error_in_an_imported_sibling_names_the_sibling(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pipelines/a_main.py": "from pipelines import z_helpers\n",
            "pipelines/z_helpers.py": "def helper(:\n    pass\n",
        },
    )

    with pytest.raises(InvalidInputError, match=r"^pipelines/z_helpers.py:1: syntax error"):
        discover_pipelines(root)


def test_an_import_error_names_the_module_and_the_error(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {"pipelines/risk.py": "import os\nimport not_a_module_anyone_has\n"},
    )

    with pytest.raises(InvalidInputError) as caught:
        discover_pipelines(root)

    assert str(caught.value) == (
        "cannot import pipelines.risk (pipelines/risk.py:2): ModuleNotFoundError: "
        "No module named 'not_a_module_anyone_has'"
    )
    assert "Traceback" in caught.value.details["traceback"]


def test_an_error_in_a_pipeline_definition_names_where_it_is(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pipelines/risk.py": """
                from pathtolive.pipelines import pipeline

                @pipeline
                def risk(*frames):
                    pass
            """
        },
    )

    with pytest.raises(InvalidInputError, match=r"^pipelines/risk.py:3: pipeline 'risk', param"):
        discover_pipelines(root)


def test_two_pipelines_with_one_name_are_refused(tmp_path: Path) -> None:
    body = """
        from pathtolive.pipelines import pipeline

        @pipeline(name="risk")
        def main():
            pass
    """
    root = write_files(tmp_path, {"pipelines/first.py": body, "pipelines/second.py": body})

    with pytest.raises(InvalidInputError) as caught:
        discover_pipelines(root)

    assert str(caught.value).startswith(
        "two pipelines are called 'risk': in pipelines/first.py and pipelines/second.py"
    )


def test_a_pipeline_imported_into_another_module_counts_once(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pipelines/base.py": """
                from pathtolive.pipelines import pipeline

                @pipeline
                def base():
                    return 1
            """,
            "pipelines/more.py": "from pipelines.base import base\n",
        },
    )

    assert list(discover_pipelines(root)) == ["base"]


def test_a_module_name_must_be_an_identifier(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"pipelines/credit-risk.py": "X = 1\n"})

    with pytest.raises(InvalidInputError, match=r"rename it to credit_risk\.py"):
        discover_pipelines(root)
