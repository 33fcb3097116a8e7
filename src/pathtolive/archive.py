"""Deterministic zip archives: the same members always give the same bytes.

Zip members carry a modification time and the creating system; both are pinned here, and
members are written in the order given, uncompressed, so an archive's bytes depend only on
its content. Content-addressed storage then keeps one copy of a model saved twice.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

__all__ = ["read_members", "write_archive"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry
_UNIX = 3
_MODE = 0o644 << 16


def write_archive(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip holding ``members`` (name, bytes) in the given order, byte-for-byte stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = _UNIX
            info.external_attr = _MODE
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def read_members(data: bytes) -> dict[str, bytes]:
    """Every member of a zip by name; ``zipfile.BadZipFile`` when ``data`` is no zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}
