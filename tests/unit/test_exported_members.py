"""Every package and module of pathtolive says in ``__all__`` what it offers, and says it
truly.

- ``__all__`` is declared; its names exist, once each, sorted as ruff sorts them (RUF022).
- A package exports every public name its namespace holds (its submodules aside).
- A module exports every class and function it defines, unless it is reached through
  something it exports (a command through its Typer app, an endpoint through its router)
  or :data:`NOT_EXPORTED` names it with a reason.
- What one module takes from another (``from pathtolive.x import name`` or ``x.name``) is
  in that module's ``__all__``; nothing private is taken across modules, and a private
  module serves only its own package.
"""

from __future__ import annotations
import __future__

import ast
import importlib
import inspect
import pkgutil
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.routing import APIRouter

import pathtolive

NOT_EXPORTED: dict[str, dict[str, str]] = {
    "pathtolive": dict.fromkeys(
        ("Any", "TYPE_CHECKING", "import_module"),
        "imported for the lazy loader of the top-level API",
    ),
    "pathtolive.registry.flavors": {
        "TYPE_CHECKING": "imported for the annotations of predict and predict_proba",
        "InvalidInputError": "raised by flavor_for; pathtolive.errors exports it",
        "UnsupportedFormatError": "raised by get_flavor; pathtolive.errors exports it",
        "type_name": "used by flavor_for; pathtolive.registry.flavors.base exports it",
    },
}
"""Public names a package or module holds but does not offer, and why."""

EXPORTED_SUBMODULES: dict[str, dict[str, str]] = {
    "pathtolive": {"errors": "the error tree is the top-level API's: pathtolive.errors.…"},
}
"""Submodules a package lists in ``__all__``, and why."""


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name}")


MODULES = sorted(
    [
        pathtolive.__name__,
        *(
            info.name
            for info in pkgutil.walk_packages(
                pathtolive.__path__, f"{pathtolive.__name__}.", onerror=_raise
            )
        ),
    ]
)
PACKAGES = [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")]


def _exported(module: types.ModuleType) -> list[str]:
    exported = vars(module).get("__all__")
    assert isinstance(exported, list), f"{module.__name__} declares no __all__ list"
    return exported


def _sort_key(name: str) -> tuple[int, list[int | str]]:
    """ruff's isort-style order: CONSTANTS, then Classes, then the rest, each in natural
    order (digits compared as numbers)."""
    kind = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    parts = re.split(r"(\d+)", name)
    return kind, [int(part) if part.isdigit() else part for part in parts]


def _callbacks(value: object) -> Iterator[object]:
    """The functions reached through a Typer app (its commands, its callback and those of
    its sub-apps) or a FastAPI router (its endpoints)."""
    if isinstance(value, typer.Typer):
        for command in value.registered_commands:
            yield command.callback
        if value.registered_callback is not None:
            yield value.registered_callback.callback
        for group in value.registered_groups:
            yield from _callbacks(group.typer_instance)
    elif isinstance(value, APIRouter):
        for route in value.routes:
            yield getattr(route, "endpoint", None)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_once_and_in_order(name: str) -> None:
    module = importlib.import_module(name)
    exported = _exported(module)

    assert [member for member in exported if not hasattr(module, member)] == []
    assert len(set(exported)) == len(exported)
    assert exported == sorted(exported, key=_sort_key)


@pytest.mark.parametrize("name", PACKAGES)
def test_a_package_exports_every_public_name_it_holds(name: str) -> None:
    package = importlib.import_module(name)
    exported = set(_exported(package))
    held = {
        member
        for member, value in vars(package).items()
        if not member.startswith("_")
        and not isinstance(value, types.ModuleType | __future__._Feature)
    }
    lazy = "__getattr__" in vars(package)  # PEP 562: names served on first use
    served = {
        member
        for member in exported
        if member.startswith("__")
        or member in EXPORTED_SUBMODULES.get(name, {})
        or (lazy and member not in vars(package))
    }

    assert held - set(NOT_EXPORTED.get(name, {})) == exported - served


@pytest.mark.parametrize("name", MODULES)
def test_a_module_exports_every_class_and_function_it_defines(name: str) -> None:
    module = importlib.import_module(name)
    exported = _exported(module)
    reached = [callback for member in exported for callback in _callbacks(getattr(module, member))]
    defined = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == name
        and not any(value is callback for callback in reached)
    }

    assert defined - set(exported) - set(NOT_EXPORTED.get(name, {})) == set()


def _source_files() -> Iterator[tuple[str, Path]]:
    for name in MODULES:
        file = importlib.import_module(name).__file__
        assert file is not None
        yield name, Path(file)


def _private_module_outside_its_package(importer: str, target: str) -> bool:
    parts = target.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return not importer.startswith(".".join(parts[:index]) + ".")
    return False


def _imports_across_modules(importer: str, tree: ast.Module) -> Iterator[str]:
    """Each name ``importer`` takes from another pathtolive module that is not in that
    module's ``__all__``, as ``module.name``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES:
            if _private_module_outside_its_package(importer, node.module):
                yield f"{node.module} (a private module of another package)"
            exported = _exported(importlib.import_module(node.module))
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    aliases[alias.asname or alias.name] = submodule
                elif alias.name not in exported:
                    yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    aliases[alias.asname] = alias.name
    # A name bound again (an argument, a local variable) no longer means the module.
    rebound = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    } | {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        target = aliases.get(node.value.id)
        if target is None or node.value.id in rebound or node.attr.startswith("__"):
            continue
        if f"{target}.{node.attr}" not in MODULES and node.attr not in _exported(
            importlib.import_module(target)
        ):
            yield f"{target}.{node.attr}"


def test_what_a_module_takes_from_another_is_in_its_all() -> None:
    taken = {
        f"{importer}: {name}"
        for importer, file in _source_files()
        for name in _imports_across_modules(importer, ast.parse(file.read_text()))
    }

    assert sorted(taken) == []
