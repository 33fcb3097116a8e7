"""The layers of ARCHITECTURE.md hold in every import, at module level or inside a
function: faces (cli, ui, serving, demo, and the notebook API) -> service -> domain ->
store. Read from the source with ``ast``, so an import that only runs on some path counts
as much as one that runs at start-up."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import pathtolive

PACKAGE = Path(pathtolive.__file__).parent

FACES = {"cli", "ui", "serving", "demo", "benchmarking", "workspace", "__init__", "__main__"}
DOMAIN = {
    "data",
    "pipelines",
    "registry",
    "gates",
    "monitoring",
    "predlog",
    "audit",
    "auth",
    "lineage",
}
SHARED = {
    "entities",
    "errors",
    "env",
    "hashing",
    "format",
    "refs",
    "archive",
    "config",
    "redaction",
    "nearest",
    "progress",
    "tracing",
}
"""Modules of the package root that every layer may use: plain values, the error tree,
settings, formatting, secret masking, "did you mean", progress events and trace spans."""
STORE_MAY_USE = {"store", "entities", "errors", "env", "hashing", "format", "redaction"}


def imports_by_module() -> Iterator[tuple[str, str, int]]:
    """``(importing top-level part, imported top-level part, line)`` for every import of a
    pathtolive module by another."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "pathtolive":
                    names = [f"pathtolive.{alias.name}" for alias in node.names]
                elif node.module.startswith("pathtolive."):
                    names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("pathtolive.")]
            for name in names:
                yield "/".join(parts) + ".py", name.split(".")[1], node.lineno


def layer_of(module_path: str) -> str:
    top = module_path.split("/")[0].removesuffix(".py")
    if top in FACES:
        return "face"
    if top == "service":
        return "service"
    if top in DOMAIN:
        return "domain"
    if top == "store":
        return "store"
    return "shared"


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("service", FACES),
        ("domain", FACES | {"service"}),
        ("shared", FACES | {"service"} | DOMAIN | {"store"}),
    ],
)
def test_no_layer_imports_one_above_it(layer: str, forbidden: set[str]) -> None:
    wrong = [
        f"{module}:{line} imports pathtolive.{imported}"
        for module, imported, line in imports_by_module()
        if layer_of(module) == layer and imported in forbidden
    ]
    assert wrong == []


def test_the_store_imports_neither_domain_nor_service() -> None:
    wrong = [
        f"{module}:{line} imports pathtolive.{imported}"
        for module, imported, line in imports_by_module()
        if layer_of(module) == "store" and imported not in STORE_MAY_USE
    ]
    assert wrong == []


def test_the_walk_sees_the_imports_it_judges() -> None:
    """The rules above would pass on an empty walk: the walk finds known imports."""
    seen = {(module, imported) for module, imported, _ in imports_by_module()}
    assert ("cli/main.py", "cli") in seen
    assert ("service/monitor.py", "monitoring") in seen
    assert ("store/metadata/store.py", "entities") in seen
