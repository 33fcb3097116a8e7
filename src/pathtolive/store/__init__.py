"""The seams to storage, each a package exporting its own API:
:mod:`~pathtolive.store.metadata` (SQL) and :mod:`~pathtolive.store.artifacts` (objects)."""

__all__: list[str] = []
