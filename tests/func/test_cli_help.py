"""Every command's ``--help`` reads as its help was written, and the top level is grouped."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

from pathtolive.cli.help import GROUPS, command_tree
from pathtolive.cli.main import app

from .conftest import CLI

# Wide enough that no help line wraps, so a help string is found whole in the output.
_UNWRAPPED = {"COLUMNS": "1000"}
_BRACKETED = re.compile(r"\[[^\[\]]+\]")
_SQUEEZED = re.compile(r"\([^()\n]*\S {2,}\S[^()\n]*\)|\(\s*\)")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, child in getattr(command, "commands", {}).items():
        yield from _commands(child, (*path, name))


def _raw_help_texts() -> dict[tuple[str, ...], list[str]]:
    """The help strings as written in the code, before any polishing, per command path."""
    import typer.main

    texts: dict[tuple[str, ...], list[str]] = {}
    for path, command in _commands(typer.main.get_command(app)):
        texts[path] = [
            command.help or "",
            *(getattr(p, "help", None) or "" for p in command.params),
        ]
    return texts


def test_every_help_shows_no_bool_placeholder_and_keeps_bracketed_text(cli: CLI) -> None:
    raw = _raw_help_texts()
    assert len(raw) > 50  # the whole tree was walked
    bracketed_seen = 0
    for path in raw:
        result = cli(*path, "--help", extra_env=_UNWRAPPED)
        assert result.code == 0, (path, result.stderr)
        shown = " ".join(result.stdout.split())
        assert "<bool>" not in result.stdout, path
        assert not _SQUEEZED.search(result.stdout), (path, _SQUEEZED.search(result.stdout))
        for text in raw[path]:
            for bracketed in _BRACKETED.findall(" ".join(text.split())):
                assert bracketed in shown, (path, bracketed)
                bracketed_seen += 1
    # The texts that once lost their brackets (serve --workers' "[serve] workers") count.
    assert bracketed_seen >= 3
    serve = cli("serve", "--help", extra_env=_UNWRAPPED).stdout
    assert "(default 1, or [serve] workers)" in serve


def test_top_level_help_groups_commands_with_one_example_each(cli: CLI) -> None:
    shown = cli("--help", extra_env=_UNWRAPPED).stdout
    panel_titles = re.findall(r"╭─ (\w+) ─", shown)
    assert panel_titles == ["Options", *(group.title for group in GROUPS)]
    for group in GROUPS:
        assert group.example in shown
    assert "--install-completion" in shown
    # Every top-level command sits in one of the groups, none in a catch-all panel.
    root = command_tree(app)
    titles = {group.title for group in GROUPS}
    assert all(getattr(c, "rich_help_panel", None) in titles for c in root.commands.values())


def test_the_examples_are_commands_the_cli_accepts() -> None:
    root = command_tree(app)
    for group in GROUPS:
        words = shlex.split(group.example)[1:]
        command, path = root, ["pathtolive"]
        while words and words[0] in getattr(command, "commands", {}):
            command = command.commands[words[0]]
            path.append(words.pop(0))
        assert len(path) > 1, group.example
        # Parsing alone: an unknown option or a missing argument raises a usage error.
        with command.make_context(" ".join(path), words, resilient_parsing=False):
            pass


def test_shell_completion_completes_command_names(cli: CLI) -> None:
    result = cli(
        extra_env={
            "_PATHTOLIVE_COMPLETE": "complete_bash",
            "COMP_WORDS": "pathtolive da",
            "COMP_CWORD": "1",
        }
    )
    assert result.code == 0, result.stderr
    assert result.stdout.split() == ["data"]


def test_options_given_a_value_are_converted_and_checked(cli: CLI) -> None:
    # Conversion is made only for a value given; a given one is still checked.
    bad = cli("audit", "log", "--limit", "many")
    assert bad.code == 2
    assert "--limit" in bad.stderr


def test_a_group_named_alone_shows_its_help(cli: CLI) -> None:
    # Named alone, a group shows its commands instead of running anything.
    result = cli("audit", extra_env=_UNWRAPPED)
    assert result.code == 2
    assert "Usage: pathtolive audit" in result.stdout
    assert "verify" in result.stdout


def test_values_converted_without_typer_are_what_typer_would_give() -> None:
    """Text, path and text-list parameters skip Typer's conversion (and Pydantic's
    import); for every such parameter of every command the value is the same."""
    import typer.main
    from typer._coercion import build_runtime_param

    from pathtolive.cli.help import _NOT_PLAIN, _plain_conversion

    samples = ("risk-model@2", "data/loans.parquet", "./out/", "-", "ü 1")
    checked: set[str] = set()
    for _, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None:
                continue
            values: list[Any] = [*samples, list(samples[:2]), []]
            for value in values:
                plain = _plain_conversion(value, param)
                if plain is _NOT_PLAIN:
                    continue
                typed = build_runtime_param(descriptor).coerce(value, param=param, ctx=None)
                assert (type(plain), plain) == (type(typed), typed), (command.name, param.name)
                checked.add(repr(descriptor.annotation))
    assert {"<class 'str'>", "<class 'pathlib.Path'>", "list[str]"} <= checked
