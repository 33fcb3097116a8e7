"""The metadata seam (SQL)."""

from pathtolive.store.metadata.store import MetadataSession, MetadataStore

__all__ = ["MetadataSession", "MetadataStore"]
