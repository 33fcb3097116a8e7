"""Parts of a step output: the items of a tuple, list or dict a step returned.

A step often returns several things at once: ``return model, metrics``, a
``train_test_split(...)`` list, a ``{"train": ..., "test": ...}`` dict. The executor
traces each part on its own, so that a later step receiving one of them (the test frame,
the model) is seen receiving that part of that step's output. A part is named by an
*element*:

- None: the whole output;
- an int: a position in a top-level tuple or list;
- a str: a key of a top-level dict;
- a tuple of those: a path into nested containers, e.g. ``(0, "model")``.

A one-step path is kept as its bare int or str, so the elements (and their digests)
recorded for tuples before lists and dicts were traced keep their meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pathtolive.pipelines.canonical import json_digest

__all__ = [
    "Element",
    "element_digest",
    "element_from_json",
    "element_text",
    "element_to_json",
    "output_parts",
    "pick",
]

Element = int | str | tuple[int | str, ...] | None

_MAX_DEPTH = 2
"""How deep into nested containers parts are traced: ``[(model, df)]`` is, deeper is not."""

_MAX_ITEMS = 1024
_MAX_NESTED_ITEMS = 64
"""Containers larger than these (at the top, nested) hold data rows, not a bundle of
results: their items are not traced one by one, which would cost a digest per row."""

_SCALARS: tuple[type, ...] = (type(None), bool, int, float, str)


def element_digest(output_digest: str, element: Element) -> str:
    """The digest a part of an output is known by (the whole output's digest for None)."""
    if element is None:
        return output_digest
    return json_digest({"output": output_digest, "element": element_to_json(element)})


def element_to_json(element: Element) -> Any:
    """Plain JSON: a path becomes a list."""
    return list(element) if isinstance(element, tuple) else element


def element_from_json(raw: Any) -> Element:
    """Inverse of :func:`element_to_json`."""
    if isinstance(raw, list):
        return tuple(raw)
    return raw if raw is None or isinstance(raw, int | str) else None


def element_text(element: Element) -> str:
    """``1``, ``test``, ``0.model``: how ``runs show`` writes a part."""
    if isinstance(element, tuple):
        return ".".join(str(step) for step in element)
    return "" if element is None else str(element)


def pick(value: object, element: Element) -> object:
    """The part ``element`` names in ``value``; ``LookupError`` when it has no such part."""
    path = element if isinstance(element, tuple) else (() if element is None else (element,))
    for step in path:
        in_sequence = isinstance(step, int) and type(value) in (tuple, list)
        if not in_sequence and not (isinstance(step, str) and type(value) is dict):
            raise LookupError(f"no part {element_text(element)!r} in a {type(value).__name__}")
        value = value[step]  # type: ignore[index]
    return value


def output_parts(value: object) -> Iterator[tuple[Element, object]]:
    """The traced parts of a step output (not the output itself): each item of a tuple,
    list or str-keyed dict, and the items of small containers nested in those. Scalars
    are left out: small ints and strings are shared objects, so their identity says
    nothing about where they came from."""
    yield from _parts(value, (), is_top=True)


def _parts(
    value: object, path: tuple[int | str, ...], *, is_top: bool
) -> Iterator[tuple[Element, object]]:
    items: list[tuple[int | str, object]]
    if isinstance(value, tuple | list) and type(value) in (tuple, list):
        items = list(enumerate(value))
    elif type(value) is dict and all(isinstance(key, str) for key in value):
        items = list(value.items())
    else:
        return
    if len(items) > (_MAX_ITEMS if is_top else _MAX_NESTED_ITEMS):
        return
    for key, item in items:
        if type(item) in _SCALARS:
            continue
        child = (*path, key)
        yield (child[0] if len(child) == 1 else child), item
        if len(child) < _MAX_DEPTH:
            yield from _parts(item, child, is_top=False)
