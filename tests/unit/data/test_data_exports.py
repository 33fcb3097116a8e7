"""The package exports exactly its public names."""

from __future__ import annotations

import types

import pathtolive.data


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(pathtolive.data).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert set(pathtolive.data.__all__) == public
    assert len(pathtolive.data.__all__) == len(public)
