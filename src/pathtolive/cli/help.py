"""Help text that reads as it was written.

Typer renders help through Rich markup, so a help string's ``[serve]`` would be taken for a
style tag and vanish, and it prints a ``<bool>`` type after every on/off flag. The command
tree is built once per invocation and polished here before it parses anything: help is
escaped as plain text, flags show no type, and a command's line in its group's listing is
its first paragraph on one line. Top-level commands are grouped into panels, each with one
example in the epilog.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from rich.markup import escape

__all__ = [
    "ADMIN",
    "DATA",
    "GROUPS",
    "MONITORING",
    "RELEASE",
    "SERVING",
    "TRAINING",
    "HelpGroup",
    "command_tree",
    "examples_epilog",
]

DATA = "Data"
TRAINING = "Training"
RELEASE = "Release"
SERVING = "Serving"
MONITORING = "Monitoring"
ADMIN = "Admin"


@dataclass(frozen=True)
class HelpGroup:
    """A panel of the top-level help, and one command line showing it at work."""

    title: str
    example: str


GROUPS: tuple[HelpGroup, ...] = (
    HelpGroup(DATA, "pathtolive data add loans.csv --name loans"),
    HelpGroup(TRAINING, "pathtolive run risk --data loans@latest --register risk-model"),
    HelpGroup(RELEASE, "pathtolive promote risk-model@1 --to live"),
    HelpGroup(SERVING, "pathtolive serve --port 8080"),
    HelpGroup(MONITORING, "pathtolive monitor risk-model --window 24h"),
    HelpGroup(ADMIN, "pathtolive audit verify"),
)


def examples_epilog() -> str:
    """The top-level help's closing lines: one example per panel, then where to go next."""
    width = max(len(group.title) for group in GROUPS)
    lines = [f"{group.title.lower():<{width}}  {group.example}" for group in GROUPS]
    return (
        "Examples, one per group:\n"
        + "\n".join(lines)
        + "\n\nEach command has its own --help. Shell completion: pathtolive "
        "--install-completion (or --show-completion to print the script)."
    )


@functools.cache
def command_tree(app: typer.Typer) -> Any:
    """The click command that ``app`` stands for, with its help polished (see the module's
    docstring). Typed ``Any``: Typer's click classes are private to it.

    Built once per process, as a click program's commands are: Typer would build the tree
    anew on every call (about 0.15 s of signature inspection), which an in-process caller
    (a test, a notebook) pays on every command."""
    root = typer.main.get_command(app)
    _polish(root)
    _order_by_group(root)
    return root


def _order_by_group(root: Any) -> None:
    # Typer lists a group's commands before its sub-groups, so a panel that holds only
    # sub-groups (Data) would come last; the panels follow GROUPS instead.
    order = {group.title: index for index, group in enumerate(GROUPS)}
    ranked = sorted(
        root.commands.items(),
        key=lambda item: order.get(str(getattr(item[1], "rich_help_panel", "")), len(order)),
    )
    root.commands = dict(ranked)


def _polish(command: Any) -> None:
    if command.short_help:
        command.short_help = escape(command.short_help)
    if command.help:
        command.help = escape(command.help)
        command.short_help = command.short_help or _first_paragraph(command.help)
    if command.short_help:
        command.short_help = _one_line(command.short_help)
    if command.epilog:
        command.epilog = escape(command.epilog)
    for param in command.params:
        _polish_param(param)
    # The --help option is made on demand; asking for it now lets it be polished too.
    help_option = command.get_help_option(command.context_class(command))
    if help_option is not None:
        _polish_param(help_option)
    for child in getattr(command, "commands", {}).values():
        _polish(child)


def _polish_param(param: Any) -> None:
    if getattr(param, "help", None):
        param.help = escape(param.help)
    if getattr(param, "is_flag", False) and param.metavar is None:
        # A flag takes no value: an empty type column instead of "<bool>".
        param.metavar = ""


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0]


def _one_line(text: str) -> str:
    return " ".join(text.split())
