"""Real file systems for the tests of full disks and read-only copies: a small tmpfs that
can be filled to the brim, and read-only views of a folder.

Mounting needs root (or CAP_SYS_ADMIN); where it is not allowed, a test that needs a
full disk is skipped, and a read-only view falls back to taking the write bits away,
which stops every user but root.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["fill_to_the_brim", "read_only_view", "small_tmpfs"]


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


@contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (made if missing); skips the test where
    this process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        _umount(path)


def fill_to_the_brim(folder: Path, leave: int = 0) -> Path:
    """A file in ``folder`` grown until the file system has no byte left, then cut by
    ``leave`` bytes (room for a small write, not for a large one); its path."""
    filler = folder / "filler"
    chunk = b"\0" * (64 << 10)
    with filler.open("wb", buffering=0) as out:
        size = len(chunk)
        while size:
            try:
                out.write(chunk[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 2  # the last pages: down to the last byte
        if leave:
            os.truncate(out.fileno(), max(out.tell() - leave, 0))
    return filler


@contextmanager
def read_only_view(folder: Path, view: Path | None = None) -> Iterator[Path]:
    """``folder`` seen read-only: bound read-only at ``view`` (default: over itself) where
    this process may mount, else ``folder`` itself with every write bit taken away (put
    back afterwards). Yields the read-only path."""
    target = view or folder
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        bound = _mount("--bind", str(folder), str(target))
        if bound.returncode == 0:
            remounted = _mount("-o", "remount,ro,bind", str(target))
            if remounted.returncode == 0:
                try:
                    yield target
                finally:
                    _umount(target)
                return
            _umount(target)
        pytest.skip("root ignores write bits, and a read-only bind mount is not allowed here")
    modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
    writable = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path, mode in modes.items():
        path.chmod(mode & ~writable)
    try:
        yield folder
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
