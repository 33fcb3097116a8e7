"""Find the pipelines of a workspace: import every module of its ``pipelines/`` folder.

The folder is imported as the package ``pipelines`` (with or without ``__init__.py``), so
its modules import each other as they would in the workspace itself: ``from
pipelines.features import encode`` or ``from .features import encode``. The package and
its modules are registered in ``sys.modules`` only while they are imported, then removed
(and whatever held those names before is put back): two workspaces with a
``pipelines/risk.py`` each can be discovered in one process, and discovering a workspace
again imports its files afresh. Import what steps need at module level: an import inside
a function body runs after the package is gone.

No bytecode is written, so discovery leaves the workspace as it found it (a stray
``__pycache__`` would make the working tree look dirty to git).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from pathtolive.errors import InvalidInputError, NotFoundError, PathToLiveError
from pathtolive.pipelines.decorators import Pipeline
from pathtolive.redaction import redact

__all__ = ["PACKAGE", "discover_pipelines", "get_pipeline", "import_from_workspace"]

PACKAGE = "pipelines"
"""The folder, and the package name its modules are imported under."""

# sys.modules is process-wide: two threads discovering at once would see each other's
# modules under the same names.
_LOCK = threading.Lock()


def discover_pipelines(root: Path) -> dict[str, Pipeline[..., Any]]:
    """Every pipeline defined in ``root/pipelines/*.py``, by name, in file order.

    ``NotFoundError`` when there is no such folder; ``InvalidInputError`` naming the file
    and line of a syntax error, naming the module and the error when a module fails to
    import, or naming both files when two pipelines have the same name.
    """
    folder = root / PACKAGE
    if not folder.is_dir():
        raise NotFoundError(
            f"no {PACKAGE}/ folder in {root}; put pipelines in {PACKAGE}/NAME.py, "
            "as functions decorated with @pipeline"
        )
    with _LOCK, _isolated(), _no_bytecode():
        modules = _import_all(root, folder)
    found: dict[str, Pipeline[..., Any]] = {}
    for module in modules:
        for value in vars(module).values():
            # Only where it is defined: a module importing another's pipeline shows it too.
            if not isinstance(value, Pipeline) or value.func.__module__ != module.__name__:
                continue
            other = found.get(value.name)
            if other is not None and other is not value:
                raise InvalidInputError(
                    f"two pipelines are called {value.name!r}: in "
                    f"{_display(root, other.source_file)} and "
                    f"{_display(root, value.source_file)}; rename one, or give it another "
                    "name with @pipeline(name=...)"
                )
            found[value.name] = value
    return found


def get_pipeline(root: Path, name: str) -> Pipeline[..., Any]:
    """The pipeline called ``name``; ``NotFoundError`` listing the known ones."""
    pipelines = discover_pipelines(root)
    if name in pipelines:
        return pipelines[name]
    known = ", ".join(sorted(pipelines)) if pipelines else "none (decorate one with @pipeline)"
    raise NotFoundError(
        f"no pipeline {name!r} in {root / PACKAGE}; the pipelines are: {known}",
        details={"pipeline": name, "known": sorted(pipelines)},
    )


def import_from_workspace(root: Path, module: str, qualname: str) -> object:
    """The object called ``qualname`` in ``module`` (``pipelines`` or ``pipelines.NAME``)
    of the workspace at ``root``, imported from its files as discovery imports them (so
    never from another folder called ``pipelines`` on ``sys.path``). ``InvalidInputError``
    when the module cannot be imported, ``NotFoundError`` when it lacks the name."""
    folder = root / PACKAGE
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        raise InvalidInputError(f"{module} is not a module of the workspace's {PACKAGE}/ folder")
    if not folder.is_dir():
        raise NotFoundError(f"no {PACKAGE}/ folder in {root}, so {module} cannot be imported")
    with _LOCK, _isolated(), _no_bytecode():
        found: object = _package(root, folder)
        if module != PACKAGE:
            with _explained(root, module):
                found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part, _MISSING)
        if found is _MISSING:
            raise NotFoundError(
                f"{module} in {folder} defines no {qualname}",
                details={"module": module, "name": qualname},
            )
    return found


_MISSING = object()


def _import_all(root: Path, folder: Path) -> list[ModuleType]:
    package = _package(root, folder)
    modules = [package]
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        if not path.stem.isidentifier():
            raise InvalidInputError(
                f"{_display(root, str(path))}: a module name must be a Python identifier; "
                f"rename it to {path.stem.replace('-', '_').replace(' ', '_')}.py"
            )
        name = f"{PACKAGE}.{path.stem}"
        with _explained(root, name):
            modules.append(importlib.import_module(name))
    return modules


def _package(root: Path, folder: Path) -> ModuleType:
    # Built by hand rather than found on sys.path, so that an installed distribution
    # called `pipelines` (or a second folder of that name on the path) can never shadow
    # the workspace's own, and a folder without __init__.py is a package all the same.
    init = folder / "__init__.py"
    spec: importlib.machinery.ModuleSpec | None
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            PACKAGE, init, submodule_search_locations=[str(folder)]
        )
    else:
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    if spec is None:  # pragma: no cover - only for a path importlib cannot load at all
        raise InvalidInputError(f"cannot import {folder} as a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    if spec.loader is not None:
        with _explained(root, PACKAGE):
            spec.loader.exec_module(module)
    return module


@contextmanager
def _isolated() -> Iterator[None]:
    """Give ``pipelines`` and ``pipelines.*`` to the import for the block, then restore."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _ours(name)}
    importlib.invalidate_caches()  # files may have changed since the last discovery
    try:
        yield
    finally:
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


@contextmanager
def _no_bytecode() -> Iterator[None]:
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


@contextmanager
def _explained(root: Path, module: str) -> Iterator[None]:
    """Turn what importing ``module`` raises into one clear ``InvalidInputError``."""
    try:
        yield
    except SyntaxError as exc:
        location = f"{_display(root, exc.filename)}:{exc.lineno}"
        raise InvalidInputError(
            f"{location}: syntax error: {exc.msg}; fix it and run again",
            details={"file": exc.filename, "line": exc.lineno, "module": module},
        ) from exc
    except PathToLiveError as exc:
        where = _last_workspace_frame(root, exc)
        raise InvalidInputError(
            f"{where or module}: {exc.message}", details={"module": module}
        ) from exc
    except Exception as exc:  # whatever the module's top level raises, say where it was
        where = _last_workspace_frame(root, exc)
        text = str(exc).strip().splitlines()
        message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        raise InvalidInputError(
            f"cannot import {module}" + (f" ({where})" if where else "") + f": {message}",
            details={
                "module": module,
                "traceback": redact("".join(traceback.format_exception(exc))),
            },
        ) from exc


def _last_workspace_frame(root: Path, exc: BaseException) -> str | None:
    """``pipelines/risk.py:3``: the deepest frame of the traceback in the workspace."""
    resolved = root.resolve()
    where: str | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.is_absolute() and path.resolve().is_relative_to(resolved):
            where = f"{_display(root, frame.filename)}:{frame.lineno}"
    return where


def _display(root: Path, filename: str | None) -> str:
    if filename is None:
        return "<unknown file>"
    path = Path(filename)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return filename
