"""The README documents every error code with its exit code, and every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathtolive import env
from pathtolive.errors import ERROR_CLASSES, PathToLiveError

README = Path(__file__).resolve().parents[2] / "README.md"


def _error_rows() -> dict[str, int]:
    rows: dict[str, int] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| (\d+) \| (.*?) \|", line)
        if match:
            for code in re.findall(r"`([a-z_]+)`", match.group(2)):
                rows[code] = int(match.group(1))
    return rows


@pytest.mark.parametrize("error", [cls for cls in ERROR_CLASSES if cls is not PathToLiveError])
def test_every_error_code_is_in_the_readme_with_its_exit_code(
    error: type[PathToLiveError],
) -> None:
    rows = _error_rows()
    assert error.code in rows, f"README's exit-code table lacks {error.code}"
    assert rows[error.code] == error.exit_code


def test_every_environment_variable_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    for name in env.ENVIRONMENT_VARIABLES:
        assert f"`{name}`" in text
