"""A dataset version's rows as the Parquet objects that hold them, read by digest.

:class:`ParquetParts` names the objects (one today; a partitioned version lists several)
and how to open the artifact store that keeps them: an :class:`StoreOpener`, a small value
that travels to a Dask worker and opens the store there, never a live store. Every object
is read through the store, so it is verified against its digest wherever it is read, and
an encrypted store is read like any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from dask.dataframe import DataFrame as DaskDataFrame

__all__ = ["ObjectReader", "ParquetParts", "StoreOpener", "frame_to_dask"]

_INSTALL_HINT = "data.ddf needs dask: install the extra: pip install 'pathtolive[dask]'"


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
        import pyarrow.parquet as pq

        dd = _dask_dataframe()
        first = self.opener.open().local_path(self.digests[0])
        meta = pq.read_schema(first).empty_table().to_pandas()
        with _pandas_dtypes():
            frame: DaskDataFrame = dd.from_map(
                _PartReader(self.opener),
                list(self.digests),
                meta=meta,
                label="pathtolive-read",
                enforce_metadata=False,
            )
        return frame


def frame_to_dask(frame: pd.DataFrame) -> DaskDataFrame:
    """An in-memory frame as a one-partition Dask DataFrame with the same dtypes."""
    dd = _dask_dataframe()
    with _pandas_dtypes():
        result: DaskDataFrame = dd.from_pandas(frame, npartitions=1, sort=False)
    return result


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        from pathtolive.errors import MissingExtraError

        raise MissingExtraError(_INSTALL_HINT) from exc
    return dd


@contextmanager
def _pandas_dtypes() -> Iterator[None]:
    # Partitions keep the dtypes pandas reads (Dask would turn text columns into its own
    # string type), so `data.ddf.compute()` is the same frame as `data.df`.
    import dask

    with dask.config.set({"dataframe.convert-string": False}):
        yield


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
