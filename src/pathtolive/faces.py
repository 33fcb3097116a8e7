"""Which face a call came through, so a message names what the user would type.

A message says what to do next in the user's own words: a command line's flags
(``--policy warn``) or the Python API's keyword arguments (``policy="warn"``). The face
is a context variable, set by the Python API around its calls (:func:`speaks_python`,
:func:`speaking`) and read where a message is built (:func:`spelled`); the command
line, the server and everything else speak as the command line does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum
from typing import Any, TypeVar

__all__ = ["Face", "speaking", "speaks_python", "spelled"]


class Face(StrEnum):
    """How the user reached pathtolive, so a message can name what they would type."""

    CLI = "cli"
    PYTHON = "python"


_FACE: ContextVar[Face] = ContextVar("pathtolive_face", default=Face.CLI)


@contextmanager
def speaking(face: Face) -> Iterator[None]:
    """Messages built inside the ``with`` block speak to ``face``."""
    token = _FACE.set(face)
    try:
        yield
    finally:
        _FACE.reset(token)


_Class = TypeVar("_Class", bound=type)


def speaks_python(cls: _Class) -> _Class:
    """Class decorator of the Python API: every public method (class methods too) runs
    :func:`speaking` ``Face.PYTHON``, so the errors it raises name keyword arguments."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_"):
            continue
        if isinstance(member, classmethod):
            setattr(cls, name, classmethod(_in_python(member.__func__)))
        elif inspect.isfunction(member):
            setattr(cls, name, _in_python(member))
    return cls


def _in_python(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def speaking_python(*args: Any, **kwargs: Any) -> Any:
        with speaking(Face.PYTHON):
            return function(*args, **kwargs)

    return speaking_python


def spelled(cli: str, python: str) -> str:
    """``cli`` (``--accept-schema``) or ``python`` (``accept_schema=True``): the spelling
    of an option or a command for the face the current call came through."""
    return python if _FACE.get() is Face.PYTHON else cli
