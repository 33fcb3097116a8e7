"""Help text that reads as it was written.

Typer renders help through Rich markup, so a help string's ``[serve]`` would be taken for a
style tag and vanish, and it prints a ``<bool>`` type after every on/off flag. The command
tree is built once per invocation and polished here before it parses anything: help is
escaped as plain text, flags show no type, and a command's line in its group's listing is
its first paragraph on one line. Top-level commands are grouped into panels, each with one
example in the epilog.

A command or sub-group (``serve``, ``data``, ...) is built only when something asks for its
commands, options or callback: reading every command's signature is most of the start-up time, and
one invocation runs one command. Its name, help line and panel are known without that.
For the same reason a parameter's type conversion is made only when it is given a value
(see :class:`_ConvertedWhenGiven`).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import typer.core
import typer.main
import typer.models
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
    (a test, a notebook) pays on every command. Sub-groups are left to be built on
    demand (see :class:`_Deferred`)."""
    # The root alone, then its commands and sub-groups as placeholders, in the order
    # Typer gives (a group's commands before its sub-groups).
    shell = copy.copy(app)
    shell.registered_commands = []
    shell.registered_groups = []
    root: Any = typer.main.get_command(shell)
    for command_info in app.registered_commands:
        command = _deferred_command(command_info, app)
        root.commands[command.name] = command
    for group_info in app.registered_groups:
        group = _deferred_group(group_info, app)
        root.commands[group.name] = group
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


class _Deferred:
    """A command or group that knows its name, help and panel, and builds (and polishes)
    the rest the first time its commands, options or callback are read. Mixed into the
    class Typer would make, so that it behaves as one from the first call on."""

    _BUILT_ON_DEMAND = ("commands", "params", "callback")

    def __getattr__(self, name: str) -> Any:
        build = self.__dict__.get("_build")
        if name not in self._BUILT_ON_DEMAND or build is None:
            raise AttributeError(name)
        built = build()
        _polish(built)
        # The built command is this one, complete: its polished texts and help option too.
        self.__dict__.update(built.__dict__)
        del self.__dict__["_build"]
        if name not in self.__dict__:
            raise AttributeError(name)  # a command's "commands"
        return self.__dict__[name]

    @property
    def is_built(self) -> bool:
        return "_build" not in self.__dict__


@functools.cache
def _deferred_class(made_by_typer: type) -> type:
    return type(f"_Deferred{made_by_typer.__name__}", (_Deferred, made_by_typer), {})


def _defer(command: Any, build: Callable[[], Any]) -> Any:
    # Removed, so that reading them comes to _Deferred.__getattr__, which builds them.
    for name in _Deferred._BUILT_ON_DEMAND:
        command.__dict__.pop(name, None)
    command.__dict__["_build"] = build
    return command


def _deferred_group(info: typer.models.TyperInfo, app: typer.Typer) -> Any:
    """What ``typer.main.get_group_from_info`` makes, less what needs signatures."""
    solved = typer.main.solve_typer_info_defaults(info)
    group = _deferred_class(solved.cls or typer.core.TyperGroup)(
        name=solved.name or "",
        invoke_without_command=solved.invoke_without_command,
        no_args_is_help=solved.no_args_is_help,
        subcommand_metavar=solved.subcommand_metavar,
        result_callback=solved.result_callback,
        context_settings=solved.context_settings,
        help=solved.help,
        epilog=solved.epilog,
        short_help=solved.short_help,
        options_metavar=solved.options_metavar,
        add_help_option=solved.add_help_option,
        hidden=solved.hidden,
        deprecated=solved.deprecated,
        rich_markup_mode=app.rich_markup_mode,
        rich_help_panel=solved.rich_help_panel,
        suggest_commands=app.suggest_commands,
    )
    return _defer(
        group,
        lambda: typer.main.get_group_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands,
            rich_markup_mode=app.rich_markup_mode,
        ),
    )


def _deferred_command(info: typer.models.CommandInfo, app: typer.Typer) -> Any:
    """What ``typer.main.get_command_from_info`` makes, less what needs signatures."""
    assert info.callback is not None, "a command has a function"
    name = info.name or typer.main.get_command_name(info.callback.__name__)
    written = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
    command = _deferred_class(info.cls or typer.core.TyperCommand)(
        name=name,
        context_settings=info.context_settings,
        help=written,
        epilog=info.epilog,
        short_help=info.short_help,
        options_metavar=info.options_metavar,
        add_help_option=info.add_help_option,
        no_args_is_help=info.no_args_is_help,
        hidden=info.hidden,
        deprecated=info.deprecated,
        rich_markup_mode=app.rich_markup_mode,
        rich_help_panel=info.rich_help_panel,
    )
    return _defer(
        command,
        lambda: typer.main.get_command_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        ),
    )


def _polish(command: Any) -> None:
    if isinstance(command, _Deferred) and not command.is_built:
        # Its texts now, for the listing; the rest when it is built.
        _polish_texts(command)
        return
    _polish_texts(command)
    for param in command.params:
        _polish_param(param)
    # The --help option is made on demand; asking for it now lets it be polished too.
    help_option = command.get_help_option(command.context_class(command))
    if help_option is not None:
        _polish_param(help_option)
    for child in getattr(command, "commands", {}).values():
        _polish(child)


def _polish_texts(command: Any) -> None:
    if command.short_help:
        command.short_help = escape(command.short_help)
    if command.help:
        command.help = escape(command.help)
        command.short_help = command.short_help or _first_paragraph(command.help)
    if command.short_help:
        command.short_help = _one_line(command.short_help)
    if command.epilog:
        command.epilog = escape(command.epilog)


def _polish_param(param: Any) -> None:
    if "_runtime_param" in vars(param) and param._runtime_param is None:
        param._runtime_param = _ConvertedWhenGiven()
    if getattr(param, "help", None):
        param.help = escape(param.help)
    if getattr(param, "is_flag", False) and param.metavar is None:
        # A flag takes no value: an empty type column instead of "<bool>".
        param.metavar = ""


def _first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0]


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _ConvertedWhenGiven:
    """Stands for a parameter's type conversion until a value comes. Typer makes the
    conversion (a Pydantic type adapter: with Pydantic's import, about 0.1 s for the first)
    before it looks at the value, though a parameter left out (None) needs none; a listing
    that leaves out all its options would pay for nothing."""

    def __init__(self) -> None:
        self._conversion: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            # What Typer's conversion gives for a value left out.
            return () if param.multiple or param.nargs == -1 else None
        plain = _plain_conversion(value, param)
        if plain is not _NOT_PLAIN:
            return plain
        if self._conversion is None:
            from typer._coercion import build_runtime_param

            self._conversion = build_runtime_param(param.type_descriptor)
        return self._conversion.coerce(value, param=param, ctx=ctx)


_NOT_PLAIN = object()


def _plain_conversion(value: Any, param: Any) -> Any:
    """What the conversion would give ``value``, where that is plain without it: the text
    of a text parameter, a path of the text of a path parameter, the list of a text list's
    texts, or the parameter's own default of its plain type (an ``int`` option's 50), with
    no bounds or parser that could change it; else ``_NOT_PLAIN``."""
    info = param.type_descriptor.parameter_info
    annotation = param.type_descriptor.annotation
    if any(getattr(info, bound, None) is not None for bound in ("min", "max", "parser")):
        return _NOT_PLAIN
    if type(value) is str and annotation is str:
        return value
    if type(value) is str and annotation is Path and _plain_path(info):
        return Path(value)
    if (
        annotation == list[str]
        and type(value) in (list, tuple)
        and all(type(item) is str for item in value)
    ):
        return list(value)
    if (
        value is param.default
        and type(value) is annotation
        and type(value) in (int, float, str, bool)
    ):
        return value
    return _NOT_PLAIN


def _plain_path(info: Any) -> bool:
    """Whether a path parameter's value is only made a ``Path``: no check of the file,
    no resolving, no ``-`` for standard input."""
    checks = ("exists", "writable", "resolve_path", "allow_dash")
    return not any(getattr(info, check, False) for check in checks) and (
        getattr(info, "file_okay", True) and getattr(info, "dir_okay", True)
    )
