"""The package exports exactly its public names."""

from __future__ import annotations

import types

import pathtolive.gates


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(pathtolive.gates).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert set(pathtolive.gates.__all__) == public
    assert len(pathtolive.gates.__all__) == len(public)
