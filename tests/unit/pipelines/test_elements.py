"""The parts of a step output that are traced, and how they are named and found."""

from __future__ import annotations

import pytest

from pathtolive.pipelines.elements import (
    element_digest,
    element_from_json,
    element_text,
    element_to_json,
    output_parts,
    pick,
)

DIGEST = "ab" * 32


def test_items_of_tuples_lists_and_dicts_are_parts_and_scalars_are_not() -> None:
    model, frame, inner = object(), object(), object()
    value = [model, 3, {"test": frame, "name": "x", "pair": (inner,)}]
    parts = dict(output_parts(value))
    assert parts[0] is model
    assert parts[(2, "test")] is frame
    assert 1 not in parts  # scalars are known by value
    assert (2, "name") not in parts
    assert (2, "pair") in parts
    assert (2, "pair", 0) not in parts  # two levels deep at most
    for element, item in parts.items():
        assert pick(value, element) is item
        assert element_from_json(element_to_json(element)) == element
    assert element_text((2, "test")) == "2.test"
    # A one-step element is named as a tuple's position always was.
    assert element_digest(DIGEST, 0) != element_digest(DIGEST, (0,))
    assert element_digest(DIGEST, None) == DIGEST


def test_rows_of_data_are_not_traced_one_by_one() -> None:
    records = [{"a": 1, "b": "x"} for _ in range(100)]
    assert [element for element, _ in output_parts(records)] == list(range(100))
    wide = [list(map(str, range(100))), [object() for _ in range(100)]]
    assert [element for element, _ in output_parts(wide)] == [0, 1]
    assert list(output_parts([object() for _ in range(2000)])) == []


def test_a_part_that_is_not_there_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        pick({"a": 1}, 0)
    with pytest.raises(LookupError):
        pick([1], "a")
