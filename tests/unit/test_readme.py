"""The README documents every error code with its exit code, and every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathtolive import env
from pathtolive.config import WORKSPACE_FILE, load_settings
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


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_configuration_example_is_a_valid_workspace_file(tmp_path: Path) -> None:
    (block,) = re.findall(r"```toml\n(.*?)```", _section("Configuration"), re.S)
    (tmp_path / WORKSPACE_FILE).write_text(block)
    settings = load_settings(tmp_path, environ={})
    assert settings.metadata_url == f"sqlite:///{tmp_path / '.pathtolive' / 'meta.db'}"
    assert settings.artifact_url == ".pathtolive"
    loans = settings.dataset("loans")
    assert loans.policy == "strict"
    assert loans.max_categories == 50
    assert loans.tags == {"at_risk": ("target",), "loan_id": ("id",), "email": ("pii",)}


def test_the_two_commands_are_make_targets() -> None:
    (block,) = re.findall(r"```sh\n(.*?)```", _section("Two commands"), re.S)
    targets = [line.split()[1] for line in block.splitlines() if line.startswith("make ")]
    assert targets == ["demo", "test"]
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"


def test_every_picture_the_readme_shows_is_in_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert pictures, "the README shows no picture"
    for target in pictures:
        assert "://" not in target, f"{target}: the README's pictures live in the repository"
        path = README.parent / target
        assert path.is_file(), f"the README shows {target}, which is not in the repository"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{target} is not a PNG"


def test_every_option_of_pathtolive_ui_is_documented() -> None:
    import typer

    from pathtolive.cli.main import app

    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    ui = command.commands["ui"]
    section = _section("Web console")
    for param in ui.params:
        for option in [*param.opts, *param.secondary_opts]:
            if option.startswith("--") and option != "--help":
                assert option in section, f"README's Web console section lacks {option}"
