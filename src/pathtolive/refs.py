"""References to versioned things: ``loans``, ``loans@2``, ``loans@latest``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pathtolive.errors import InvalidInputError

__all__ = ["NAME_PATTERN", "Ref", "check_name", "is_number", "parse_ref"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number in ASCII digits. ``str.isdigit`` alone is true of
    "²" or "٣" too, which ``int`` then refuses (or reads as another number)."""
    return text.isascii() and text.isdigit()


def check_name(name: str, *, kind: str = "dataset") -> str:
    """Return ``name`` if it is a valid name, else raise a clear error."""
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"{kind} name {name!r} is not valid; use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 200 characters)"
        )
    return name


@dataclass(frozen=True)
class Ref:
    """A name and an optional version number (None means the latest)."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_ref(text: str, *, kind: str = "dataset") -> Ref:
    """Parse ``name``, ``name@N`` or ``name@latest``."""
    name, sep, version = text.partition("@")
    check_name(name, kind=kind)
    if not sep or version == "latest":
        return Ref(name)
    if not is_number(version) or int(version) < 1:
        raise InvalidInputError(
            f"{text!r}: the version after '@' must be a number from 1 or 'latest', "
            f"like {name}@1 or {name}@latest"
        )
    return Ref(name, int(version))
