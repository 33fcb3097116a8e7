"""A dataset version's rows as the Parquet objects that hold them, read by digest.

:class:`ParquetParts` names the objects (one today; a partitioned version lists several)
and how to open the artifact store that keeps them: an :class:`StoreOpener`, a small value
that travels to a Dask worker and opens the store there, never a live store. Every object
is read through the store, so it is verified against its digest wherever it is read, and
an encrypted store is read like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from dask.dataframe import DataFrame as DaskDataFrame

__all__ = ["ObjectReader", "ParquetParts", "StoreOpener"]


class ObjectReader(Protocol):
    """What reading stored objects needs of an artifact store."""

    def put_bytes(self, data: bytes) -> Any:
        """Store ``data`` (kept once), returning what was stored with its ``digest``."""

    def get_bytes(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified."""

    def local_path(self, digest: str) -> Path:
        """A local path holding the verified object (a cached copy for a remote store)."""


class StoreOpener(Protocol):
    """A picklable description of an artifact store that opens it where it is called."""

    def open(self) -> ObjectReader:
        """The store, opened in this process."""


@dataclass(frozen=True)
class ParquetParts:
    """The Parquet objects holding a version's rows, in row order, and where they are."""

    opener: StoreOpener
    digests: tuple[str, ...]

    def read(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Every row of ``columns`` (every column when None), in one pandas frame."""
        import pandas as pd

        store = self.opener.open()
        frames = [_read_object(store, digest, columns) for digest in self.digests]
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)

    def to_dask(self) -> DaskDataFrame:
        """A lazy Dask DataFrame with one partition per object; nothing is read until it
        is computed, and each partition is read (and verified) where it is computed."""
        import dask
        import dask.dataframe as dd
        import pyarrow.parquet as pq

        first = self.opener.open().local_path(self.digests[0])
        meta = pq.read_schema(first).empty_table().to_pandas()
        # The partitions keep the dtypes pandas reads (Dask would turn text columns into
        # its own string type), so `ddf.compute()` is the same frame as `data.df`.
        with dask.config.set({"dataframe.convert-string": False}):
            frame: DaskDataFrame = dd.from_map(  # type: ignore[no-untyped-call]
                _PartReader(self.opener),
                list(self.digests),
                meta=meta,
                label="pathtolive-read",
                enforce_metadata=False,
            )
        return frame


def _read_object(store: ObjectReader, digest: str, columns: Sequence[str] | None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(store.local_path(digest), columns=list(columns) if columns else None)
    frame: pd.DataFrame = table.to_pandas()
    return frame


class _PartReader:
    """Reads one object into a partition. Dask passes ``columns`` when the graph uses
    fewer columns than the object holds (``ddf[["a", "b"]]`` reads only those)."""

    def __init__(self, opener: StoreOpener) -> None:
        self._opener = opener

    def __call__(self, digest: str, columns: list[str] | None = None) -> pd.DataFrame:
        return _read_object(self._opener.open(), digest, columns)
