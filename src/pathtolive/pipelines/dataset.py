"""The dataset version a pipeline receives: its identity, contract and lazily read rows.

The service builds a :class:`Dataset` for every data parameter of a pipeline, with a loader
that reads the version's canonical Parquet from the artifact store. Nothing is read until
the code asks for rows, and a step that only needs some columns reads only those
(:meth:`Dataset.to_pandas`). The frame's index is a ``RangeIndex``: a row's id is its
position in the version, so row 17 of ``loans@2`` is the same row in every run.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pathtolive.errors import InvalidInputError
from pathtolive.faces import spelled
from pathtolive.pipelines.parts import frame_to_dask

if TYPE_CHECKING:
    import pandas as pd
    from dask.dataframe import DataFrame as DaskDataFrame

    from pathtolive.data.schema import Schema
    from pathtolive.pipelines.parts import ParquetParts

__all__ = ["Dataset", "Loader"]

Loader = Callable[[Sequence[str] | None], "pd.DataFrame"]
"""Reads a version's rows: every column (None) or the named ones, in that order."""


class Dataset:
    """One immutable dataset version as pipeline code sees it.

    ``ref`` is ``name@version``; ``content_hash`` (the BLAKE3 digest of the version's
    canonical Parquet) is its fingerprint: a step fed the same content is not run again.
    :attr:`df` reads all rows once and keeps them; each access returns a shallow copy, so
    code that adds or changes columns never alters what the next step reads. :attr:`ddf`
    reads them lazily as a Dask DataFrame instead, for training at scale.

    ``parts`` names the stored Parquet objects that hold the rows (None for a frame that
    was never stored); ``on_read`` is called whenever rows are read (the service audits
    the read), including when the version is sent to a step on a Dask worker.
    """

    __slots__ = (
        "_frame",
        "_loader",
        "_on_read",
        "_payload",
        "content_hash",
        "name",
        "parts",
        "rows",
        "schema",
        "version",
    )

    def __init__(
        self,
        *,
        name: str,
        version: int | None,
        content_hash: str,
        schema: Schema,
        loader: Loader,
        rows: int | None = None,
        parts: ParquetParts | None = None,
        on_read: Callable[[], None] | None = None,
        payload: Callable[[], bytes] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.content_hash = content_hash
        self.schema = schema
        self.rows = rows
        self.parts = parts
        self._loader = loader
        self._on_read = on_read
        self._payload = payload
        self._frame: pd.DataFrame | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Frozen to the outside: the identity of a version never changes under a step.
        if hasattr(self, name) and name != "_frame":
            raise AttributeError(f"Dataset.{name} cannot be changed")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Dataset({self.ref!r}, content_hash={self.content_hash[:12]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return (self.name, self.version, self.content_hash) == (
            other.name,
            other.version,
            other.content_hash,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.content_hash))

    @property
    def ref(self) -> str:
        """``name@version``; just ``name`` for a frame that was never stored."""
        return self.name if self.version is None else f"{self.name}@{self.version}"

    @property
    def fingerprint(self) -> str:
        """What step caching knows this input by: its content hash."""
        return self.content_hash

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column, in order."""
        return self.schema.names

    @property
    def target(self) -> str | None:
        """The column tagged ``target``, or None."""
        tagged = self.schema.tagged("target")
        return tagged[0] if tagged else None

    @property
    def id_columns(self) -> tuple[str, ...]:
        """Columns tagged ``id``."""
        return self.schema.tagged("id")

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Every column except the target and the ``id`` columns, in order.

        Timestamp and ``pii`` columns stay: whether a model may read them is a modelling
        decision the pipeline makes, by dropping them from :attr:`X` itself.
        """
        excluded = {self.target, *self.id_columns}
        return tuple(name for name in self.schema.names if name not in excluded)

    @property
    def df(self) -> pd.DataFrame:
        """All rows, read on first use (index: row position in the version)."""
        if self._frame is None:
            self._frame = self._read(None)
        return self._frame.copy(deep=False)

    @property
    def ddf(self) -> DaskDataFrame:
        """All rows as a lazy Dask DataFrame, a partition per stored object, read where
        each partition is computed: on the cluster's workers when the step runs on one
        (LightGBM's ``DaskLGBMClassifier``, XGBoost's ``dask`` module), on local threads
        otherwise. Selecting columns first (``data.ddf[["a", "b"]]``) reads only those.
        Each partition's index counts its own rows from 0; with one object (every version
        today) ``data.ddf.compute()`` equals :attr:`df`. Needs ``pathtolive[dask]``."""
        if self.parts is None:
            # A frame that was never stored: it is in memory already.
            return frame_to_dask(self.df)
        self.mark_read()
        return self.parts.to_dask()

    def mark_read(self) -> None:
        """Tell the owner of the rows they are being read (the service audits it)."""
        if self._on_read is not None:
            self._on_read()

    def stored_bytes(self) -> bytes | None:
        """The canonical Parquet bytes of a frame that was never stored (for sending it to
        a worker through the artifact store); None for a stored version."""
        return None if self._payload is None else self._payload()

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All rows of ``columns`` (every column when None); reads only those columns
        unless :attr:`df` was read already."""
        if columns is None:
            return self.df
        wanted = list(columns)
        unknown = [name for name in wanted if name not in self.schema.names]
        if unknown:
            raise InvalidInputError(
                f"dataset {self.ref} has no column {unknown[0]!r}; its columns are "
                f"{', '.join(self.schema.names)}"
            )
        if self._frame is not None:
            return self._frame[wanted].copy(deep=False)
        return self._read(wanted)

    @property
    def X(self) -> pd.DataFrame:
        """The :attr:`feature_columns` (capital X, as scikit-learn code names features)."""
        return self.to_pandas(self.feature_columns)

    @property
    def y(self) -> pd.Series:
        """The target column; ``InvalidInputError`` when no column is tagged ``target``."""
        target = self.target
        if target is None:
            raise InvalidInputError(
                f"dataset {self.ref} has no column tagged 'target'; tag the label column "
                "when adding the data "
                f"({spelled('--tag COLUMN=target', 'tags={COLUMN: [target]}')})"
            )
        return self.to_pandas([target])[target]

    def _read(self, columns: list[str] | None) -> pd.DataFrame:
        import pandas as pd

        frame = self._loader(columns)
        self.mark_read()  # once the rows were read, before they are handed over
        index = frame.index
        is_positions = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        return frame if is_positions else frame.reset_index(drop=True)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        name: str = "frame",
        tags: Mapping[str, Sequence[str]] | None = None,
    ) -> Dataset:
        """A dataset made from an in-memory frame, for notebooks and step tests.

        The frame goes through the same canonical form as a stored version (a named index
        becomes a column, an unnamed one is dropped), its schema is inferred the same way,
        and its content hash is the digest of the canonical Parquet bytes this pathtolive
        writes, so the same frame always gets the same fingerprint. ``version`` is None.
        """
        import pyarrow.parquet as pq

        from pathtolive.data.formats import table_from_frame
        from pathtolive.data.profiling import profile_frame
        from pathtolive.data.schema import infer_schema
        from pathtolive.hashing import hash_bytes

        table = table_from_frame(frame)

        def payload() -> bytes:
            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            return buffer.getvalue()

        schema = infer_schema(table.schema, profile_frame(frame, tags=tags), tags=tags)

        def load(columns: Sequence[str] | None) -> pd.DataFrame:
            chosen = table if columns is None else table.select(list(columns))
            result: pd.DataFrame = chosen.to_pandas()
            return result

        return cls(
            name=name,
            version=None,
            content_hash=hash_bytes(payload()),
            schema=schema,
            loader=load,
            rows=table.num_rows,
            payload=payload,
        )
