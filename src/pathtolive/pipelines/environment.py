"""The Python environment a run executed in: interpreter, platform and packages.

Recorded with every run so that ``runs reproduce`` can tell what differs now. The digest
covers every field, so two runs share it exactly when they ran on the same interpreter,
platform family and package versions.

No environment variable is recorded: they hold tokens, salts, keys and database URLs with
passwords. Should one ever be, it goes through
:func:`pathtolive.redaction.safe_environ` (secret names left out, URL passwords masked).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pathtolive.pipelines.canonical import json_digest

__all__ = ["Environment", "capture_environment", "package_changes"]


@dataclass(frozen=True)
class Environment:
    """Interpreter version and implementation, ``system-machine`` (``Linux-x86_64``), and
    every installed distribution as ``name==version`` (names normalised, sorted)."""

    python: str
    implementation: str
    platform: str
    packages: tuple[str, ...]

    @property
    def digest(self) -> str:
        """BLAKE3 digest of every field."""
        return json_digest(self._fields())

    def _fields(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "implementation": self.implementation,
            "platform": self.platform,
            "packages": list(self.packages),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, the digest included."""
        return {**self._fields(), "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        """Inverse of :meth:`to_dict` (the digest is recomputed, not trusted)."""
        return cls(
            python=data["python"],
            implementation=data["implementation"],
            platform=data["platform"],
            packages=tuple(data["packages"]),
        )

    def versions(self) -> dict[str, str]:
        """Package name → version."""
        pairs = (package.partition("==") for package in self.packages)
        return {name: version for name, _, version in pairs}


def _normalise(name: str) -> str:
    # PEP 503: "Scikit_Learn" and "scikit-learn" are one project.
    return re.sub(r"[-_.]+", "-", name).lower()


def capture_environment() -> Environment:
    """The environment of this process.

    Reading every installed package's metadata takes tens of milliseconds, so the answer
    is kept for as long as no folder on ``sys.path`` changes (installing or removing a
    package changes its folder's modification time)."""
    key = _path_state()
    cached = _CACHE.get("environment")
    if cached is not None and cached[0] == key:
        return cached[1]
    environment = _read_environment()
    _CACHE["environment"] = (key, environment)
    return environment


_CACHE: dict[str, tuple[tuple[tuple[str, int], ...], Environment]] = {}


def _path_state() -> tuple[tuple[str, int], ...]:
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


def _read_environment() -> Environment:
    versions: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if not name:  # a broken install without metadata: nothing to record
            continue
        # The first of duplicates wins, as it does for imports (earlier on sys.path).
        versions.setdefault(_normalise(name), distribution.version)
    return Environment(
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        platform=f"{platform.system()}-{platform.machine()}",
        packages=tuple(sorted(f"{name}=={version}" for name, version in versions.items())),
    )


def package_changes(before: Environment, after: Environment) -> list[str]:
    """What differs between two environments, one line each: ``numpy 2.0.1 -> 2.1.0``,
    ``+ lightgbm 4.5.0``, ``- xgboost 2.1.1``, ``python 3.11.7 -> 3.12.1``."""
    lines = []
    for field in ("python", "implementation", "platform"):
        old, new = getattr(before, field), getattr(after, field)
        if old != new:
            lines.append(f"{field} {old} -> {new}")
    old_versions, new_versions = before.versions(), after.versions()
    for name in sorted(set(old_versions) | set(new_versions)):
        old, new = old_versions.get(name), new_versions.get(name)
        if old is None:
            lines.append(f"+ {name} {new}")
        elif new is None:
            lines.append(f"- {name} {old}")
        elif old != new:
            lines.append(f"{name} {old} -> {new}")
    return lines
