"""The version of a workspace's code a run executed: git commit, dirty state, pipelines.

- ``commit``: ``HEAD`` of the git repository holding the workspace; None without git, outside
  a repository, or before the first commit.
- ``dirty``: the workspace has changes to tracked files, or untracked files, that the commit
  lacks (``.pathtolive/`` and bytecode are not code and are ignored).
- ``diff_hash``: identifies the dirty state: the BLAKE3 digest of every changed or
  untracked path with its git status and the digest of its current content (a deleted
  file counts as such). Two runs on the same commit share it exactly when their
  uncommitted changes are the same; unlike the text of ``git diff`` it also tells apart
  two versions of a binary file. None when clean or unknown.
- ``pipelines_hash``: the digest of the paths and contents of ``pipelines/**/*.py``; it
  identifies the pipeline code with or without git.

Git problems (not installed, not a repository, a lock, a timeout) never fail a run: the
fields git would give are recorded as None.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathtolive.config import STATE_DIR
from pathtolive.hashing import hash_file, new_hasher
from pathtolive.pipelines.discovery import PACKAGE

__all__ = ["CodeVersion", "capture_code_version", "pipelines_hash"]

_GIT_TIMEOUT = 10.0
# Variables that would point git at another repository than the workspace's (they are set
# inside git hooks, for instance).
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


@dataclass(frozen=True)
class CodeVersion:
    """The code a run executed (see the module docstring)."""

    commit: str | None
    dirty: bool
    diff_hash: str | None
    pipelines_hash: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "commit": self.commit,
            "dirty": self.dirty,
            "diff_hash": self.diff_hash,
            "pipelines_hash": self.pipelines_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeVersion:
        """Inverse of :meth:`to_dict`."""
        return cls(
            commit=data.get("commit"),
            dirty=bool(data.get("dirty", False)),
            diff_hash=data.get("diff_hash"),
            pipelines_hash=data["pipelines_hash"],
        )

    def describe(self) -> str:
        """``1a2b3c4d5e6f``, ``1a2b3c4d5e6f + changes 9f8e7d6c``, or ``no git commit``."""
        base = "no git commit" if self.commit is None else self.commit[:12]
        if self.dirty and self.diff_hash is not None:
            return f"{base} + changes {self.diff_hash[:8]}"
        return base


def capture_code_version(root: Path, *, timeout: float = _GIT_TIMEOUT) -> CodeVersion:
    """The code version of the workspace at ``root`` (never raises on git problems)."""
    code_hash = pipelines_hash(root)
    top = _git(root, timeout, "rev-parse", "--show-toplevel")
    if top is None:
        return CodeVersion(None, False, None, code_hash)
    head = _git(root, timeout, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    status = _git(
        root,
        timeout,
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
        ".",
        f":(exclude){STATE_DIR}",
    )
    commit = (head.strip() or None) if head is not None else None
    if status is None:
        return CodeVersion(commit, False, None, code_hash)
    top_path = Path(top.strip())
    changes = [
        (code, path) for code, path in _parse_status(status) if not _ignored(top_path / path, root)
    ]
    if not changes:
        return CodeVersion(commit, False, None, code_hash)
    return CodeVersion(commit, True, _diff_hash(top_path, changes), code_hash)


def _git(root: Path, timeout: float, *args: str) -> str | None:
    environ = {key: value for key, value in os.environ.items() if key not in _GIT_REDIRECTS}
    # Reading the state must not take git's index lock: a concurrent `git commit` in the
    # workspace would fail on it.
    environ["GIT_OPTIONAL_LOCKS"] = "0"
    environ["LC_ALL"] = "C"
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=root,
            env=environ,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.decode("utf-8", errors="surrogateescape")


def _parse_status(output: str) -> list[tuple[str, str]]:
    # -z entries are "XY path\0"; with --no-renames none carries a second path.
    return [(entry[:2], entry[3:]) for entry in output.split("\0") if len(entry) > 3]


def _ignored(path: Path, root: Path) -> bool:
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    parts = relative.parts
    return (
        (bool(parts) and parts[0] == STATE_DIR)
        or "__pycache__" in parts
        or relative.suffix == ".pyc"
    )


def _diff_hash(top: Path, changes: list[tuple[str, str]]) -> str:
    hasher = new_hasher()
    for code, path in sorted(changes, key=lambda change: change[1]):
        hasher.update(f"{code}\0{path}\0{_content_digest(top / path)}\0".encode())
    digest: str = hasher.hexdigest()
    return digest


def _content_digest(path: Path) -> str:
    try:
        if path.is_symlink():
            return "link:" + os.readlink(path)
        if path.is_file():
            return hash_file(path)
    except OSError:
        return "unreadable"
    return "absent"


def pipelines_hash(root: Path) -> str:
    """The digest of the paths and contents of ``root/pipelines/**/*.py`` (bytecode left
    out): what a run records as its ``pipelines_hash``."""
    folder = root / PACKAGE
    hasher = new_hasher()
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else []
    for path in files:
        relative = path.relative_to(folder).as_posix()
        if "__pycache__" in path.relative_to(folder).parts:
            continue
        try:
            content = hash_file(path)
        except OSError:
            content = "unreadable"
        hasher.update(f"{relative}\0{content}\0".encode())
    digest: str = hasher.hexdigest()
    return digest
