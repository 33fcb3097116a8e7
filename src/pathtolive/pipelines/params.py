"""Pipeline params: which annotations they may have, and how a run's values are bound.

A param's value comes from, in order: ``--param name=value`` on the command line (text,
converted by the annotation), the workspace file's ``[pipelines.NAME.params]`` table (TOML
values, checked against the annotation), the default in the pipeline's signature. A param
without a default must be given.

Supported annotations: ``bool`` (true/false, yes/no, 1/0), ``int``, ``float``, ``str``,
``Literal[...]`` of those, ``list[X]`` and ``tuple[X, ...]`` of those (comma-separated on
the command line), unions of those with each other and ``None`` (``none`` or ``null`` on
the command line), and ``Any`` (text from the command line, any plain value from the
file). A param without annotation takes the type of its default, else ``Any``.
"""

from __future__ import annotations

import json
import math
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pathtolive.errors import InvalidInputError
from pathtolive.faces import spelled
from pathtolive.pipelines.canonical import is_plain

if TYPE_CHECKING:
    from pathtolive.pipelines.decorators import Pipeline

__all__ = ["Param", "annotation_text", "bind_params", "check_annotation"]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_NONE = frozenset({"none", "null"})
_INT = re.compile(r"[+-]?\d+")
_SCALARS: tuple[type, ...] = (bool, int, float, str)
_NAMES = {
    bool: "a boolean (true/false, yes/no, 1/0)",
    int: "an int",
    float: "a float",
    str: "a string",
}
_PLURALS = {bool: "booleans", int: "ints", float: "floats", str: "strings"}


@dataclass(frozen=True)
class Param:
    """One param of a pipeline: its name, annotation and default (None when required)."""

    name: str
    annotation: Any
    default: Any = None
    required: bool = True

    @property
    def type_text(self) -> str:
        """The annotation as a user writes it: ``int``, ``list[float]``, ``str | None``."""
        return annotation_text(self.annotation)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for ``--json`` output and run records."""
        return {
            "name": self.name,
            "type": self.type_text,
            "required": self.required,
            "default": None if self.required else self.default,
        }

    def describe(self) -> str:
        """``n_estimators (int, default 200)`` or ``data_path (str, required)``."""
        detail = "required" if self.required else f"default {json.dumps(self.default)}"
        return f"{self.name} ({self.type_text}, {detail})"


class _Mismatch(Exception):
    """A value that does not fit an annotation; ``reason`` completes "param x: ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def annotation_text(annotation: Any) -> str:
    """How ``annotation`` is written in source code."""
    if annotation is Any:
        return "Any"
    if annotation is types.NoneType or annotation is None:
        return "None"
    if isinstance(annotation, type) and get_origin(annotation) is None:
        return annotation.__name__
    members = _union_members(annotation)
    if members is not None:
        return " | ".join(annotation_text(member) for member in members)
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin is Literal:
        return f"Literal[{', '.join(repr(value) for value in arguments)}]"
    inner = ", ".join("..." if a is Ellipsis else annotation_text(a) for a in arguments)
    name = getattr(origin, "__name__", str(origin))
    return f"{name}[{inner}]"


def check_annotation(annotation: Any) -> None:
    """``ValueError`` saying why ``annotation`` cannot type a param; None when it can."""
    if annotation is Any or annotation in _SCALARS:
        return
    members = _union_members(annotation)
    if members is not None:
        for member in members:
            if member is not types.NoneType:
                check_annotation(member)
        return
    origin = get_origin(annotation)
    if origin is Literal:
        bad = [value for value in get_args(annotation) if not isinstance(value, _SCALARS)]
        if bad:
            raise ValueError(f"Literal values must be bool, int, float or str, not {bad[0]!r}")
        return
    item = _item_type(annotation)
    if item is not None:
        if item is not Any and item not in _SCALARS and get_origin(item) is not Literal:
            raise ValueError(
                f"list items must be bool, int, float, str or a Literal, not "
                f"{annotation_text(item)}"
            )
        return
    raise ValueError(
        f"{annotation_text(annotation)} cannot be given on the command line or in "
        "pathtolive.toml; use bool, int, float, str, a Literal, a list of those, or an "
        "optional one (X | None)"
    )


def _union_members(annotation: Any) -> tuple[Any, ...] | None:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return None


def _item_type(annotation: Any) -> Any | None:
    """The item type of ``list[X]``/``tuple[X, ...]`` (``Any`` for bare ones), else None."""
    if annotation in (list, tuple):
        return Any
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin is list and len(arguments) == 1:
        return arguments[0]
    if origin is tuple and len(arguments) == 2 and arguments[1] is Ellipsis:
        return arguments[0]
    return None


def _sequence_type(annotation: Any) -> type:
    return tuple if tuple in (annotation, get_origin(annotation)) else list


def _describe(annotation: Any) -> str:
    """What a value of ``annotation`` is, to complete "'abc' is not ...": ``an int``."""
    if annotation is Any:
        return "a plain value"
    if annotation in _NAMES:
        return _NAMES[annotation]
    members = _union_members(annotation)
    if members is not None:
        return " or ".join(
            "none" if member is types.NoneType else _describe(member) for member in members
        )
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(value) for value in get_args(annotation))
    item = _item_type(annotation)
    if item in _PLURALS:
        return f"a list of {_PLURALS[item]}"
    if item is not None and item is not Any:
        return f"a list of values, each {_describe(item)}"
    return "a list"


def _from_text(text: str, annotation: Any) -> Any:
    """The value a command-line ``text`` stands for under ``annotation``."""
    if annotation is Any or annotation is str:
        return text
    members = _union_members(annotation)
    if members is not None:
        if types.NoneType in members and text.strip().lower() in _NONE:
            return None
        # str last, so that "3" is the int 3 under `int | str`.
        for member in sorted(members, key=lambda member: member is str):
            if member is types.NoneType:
                continue
            try:
                return _from_text(text, member)
            except _Mismatch:
                continue
        raise _Mismatch(f"{text!r} is not {_describe(annotation)}")
    if annotation is bool:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise _Mismatch(f"{text!r} is not {_describe(bool)}")
    if annotation is int:
        if _INT.fullmatch(text.strip()):
            return int(text)
        raise _Mismatch(f"{text!r} is not {_describe(int)}")
    if annotation is float:
        try:
            number = float(text)
        except ValueError:
            raise _Mismatch(f"{text!r} is not {_describe(float)}") from None
        return _finite(number, text)
    if get_origin(annotation) is Literal:
        for value in get_args(annotation):
            try:
                if _from_text(text, type(value)) == value:
                    return value
            except _Mismatch:
                continue
        raise _Mismatch(f"{text!r} is not {_describe(annotation)}")
    item = _item_type(annotation)
    if item is not None:
        parts = [part.strip() for part in text.split(",")] if text.strip() else []
        try:
            items = [_from_text(part, item) for part in parts]
        except _Mismatch as exc:
            raise _Mismatch(
                f"{text!r} is not {_describe(annotation)}, comma-separated ({exc.reason})"
            ) from None
        return _sequence_type(annotation)(items)
    raise _Mismatch(f"{annotation_text(annotation)} cannot be set from text")


def _from_value(value: Any, annotation: Any) -> Any:
    """``value`` (already typed, as TOML gives it) checked against ``annotation``."""
    if annotation is Any:
        if is_plain(value):
            return value
        raise _Mismatch(f"{value!r} is not a plain value (number, string, boolean or list)")
    members = _union_members(annotation)
    if members is not None:
        if value is None and types.NoneType in members:
            return None
        for member in members:
            if member is types.NoneType:
                continue
            try:
                return _from_value(value, member)
            except _Mismatch:
                continue
        raise _Mismatch(f"{value!r} is not {_describe(annotation)}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _finite(float(value), repr(value))
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif get_origin(annotation) is Literal:
        if any(type(value) is type(option) and value == option for option in get_args(annotation)):
            return value
    else:
        item = _item_type(annotation)
        if item is not None and isinstance(value, list | tuple):
            try:
                items = [_from_value(element, item) for element in value]
            except _Mismatch as exc:
                raise _Mismatch(
                    f"{value!r} is not {_describe(annotation)} ({exc.reason})"
                ) from None
            return _sequence_type(annotation)(items)
    raise _Mismatch(f"{value!r} is not {_describe(annotation)}")


def _finite(number: float, text: str) -> float:
    if not math.isfinite(number):
        raise _Mismatch(f"{text} is not a finite float")
    return number


def bind_params(
    pipeline: Pipeline[..., Any],
    cli_values: Mapping[str, str],
    config_values: Mapping[str, Any],
) -> dict[str, Any]:
    """The value of every param of ``pipeline`` for a run, by precedence command line >
    workspace file > default, in the order of the signature.

    ``InvalidInputError`` for a name the pipeline does not take (listing the ones it
    does), a value that does not fit the annotation (``param n_estimators: 'abc' is not an
    int``), or a required param that has no value. The result holds plain JSON values
    (tuples for ``tuple[...]`` params).
    """
    by_name = {param.name: param for param in pipeline.params}
    for source, values in (("--param", cli_values), ("pathtolive.toml", config_values)):
        for name in values:
            if name not in by_name:
                raise _unknown_param(pipeline, name, source)
    bound: dict[str, Any] = {}
    missing: list[Param] = []
    for param in pipeline.params:
        try:
            if param.name in cli_values:
                bound[param.name] = _from_text(cli_values[param.name], param.annotation)
            elif param.name in config_values:
                bound[param.name] = _from_value(config_values[param.name], param.annotation)
            elif param.required:
                missing.append(param)
            else:
                bound[param.name] = param.default
        except _Mismatch as exc:
            where = "" if param.name in cli_values else " (in pathtolive.toml)"
            raise InvalidInputError(
                f"param {param.name}{where}: {exc.reason}",
                details={"param": param.name, "expected": param.type_text},
            ) from None
    if missing:
        names = ", ".join(param.name for param in missing)
        example = missing[0].name
        how = spelled(f"--param {example}=VALUE", f"params={{{example!r}: VALUE}}")
        raise InvalidInputError(
            f"pipeline {pipeline.name!r} needs a value for {names}: pass {how} or set it "
            f"under [pipelines.{pipeline.name}.params] in pathtolive.toml",
            details={"missing": [param.name for param in missing]},
        )
    return bound


def _unknown_param(pipeline: Pipeline[..., Any], name: str, source: str) -> InvalidInputError:
    flag = spelled("--param", "params=")
    where = flag if source == "--param" else f"[pipelines.{pipeline.name}.params]"
    if name in pipeline.data_params:
        return InvalidInputError(
            f"{name!r} is a dataset input of pipeline {pipeline.name!r}, not a param; "
            f"pass it as data ({spelled('--data', 'data=')}), not with {flag}"
        )
    if pipeline.params:
        known = "; its params are " + ", ".join(param.describe() for param in pipeline.params)
    else:
        known = "; it takes no params"
    return InvalidInputError(
        f"pipeline {pipeline.name!r} has no param {name!r} (from {where}){known}",
        details={"param": name, "params": [param.name for param in pipeline.params]},
    )
