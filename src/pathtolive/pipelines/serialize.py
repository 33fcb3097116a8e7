"""Step outputs as bytes: self-describing, deterministic, and never pickle.

:func:`dumps` writes a zip (members in a fixed order, fixed times: the same value gives
the same bytes) holding ``manifest.json`` and one member per array, frame or model:

- None, bool, int, str: in the manifest; a float as its ``repr`` (exact, NaN and
  infinities included);
- lists, tuples and dicts (keys None, bool, int, float or str; order kept): in the
  manifest, their elements stored by these same rules;
- NumPy arrays and scalars: ``.npy`` written with ``allow_pickle=False`` (object arrays
  are refused);
- pandas DataFrames and Series: Parquet with the index kept, since row ids matter;
- bytes: as they are;
- fitted models: through :mod:`pathtolive.registry` flavors (skops for scikit-learn,
  native formats for LightGBM and XGBoost).

Types must match exactly: a namedtuple or an ``IntEnum`` would come back from the cache as
a tuple or an int, and code relying on the difference would break on a cached run, so they
are refused with the rest.

Trust: skops refuses to rebuild types outside its allow-list (the trees of a random forest,
custom transformers) unless trusted. :func:`dumps` records the types a model holds, and
:func:`loads` trusts them by default. That is sound because pathtolive wrote the bytes
itself, from an object the pipeline's own code built, and the artifact store verifies the
bytes against their digest before they reach :func:`loads`: they are trusted by
provenance. For bytes of unknown origin pass ``trusted=[...]`` explicitly.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError, PathToLiveError
from pathtolive.registry import get_flavor
from pathtolive.registry.flavors import FLAVORS

__all__ = ["FORMAT", "FORMAT_VERSION", "dumps", "loads"]

FORMAT = "pathtolive.value"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_SERIES_COLUMN = "values"
_ACCEPTED = (
    "return DataFrames, arrays, numbers, strings, dicts/lists/tuples of them, or a fitted model"
)
_SCALAR_TYPES: tuple[type, ...] = (type(None), bool, int, str)
_KEY_TYPES: tuple[type, ...] = (type(None), bool, int, float, str)


class _Unstorable(Exception):
    def __init__(
        self, value: object, path: str, reason: str | None = None, *, is_key: bool = False
    ) -> None:
        super().__init__(reason)
        self.value = value
        self.path = path
        self.reason = reason
        self.is_key = is_key


def dumps(value: object, *, origin: str | None = None) -> bytes:
    """``value`` as self-describing bytes (see the module docstring).

    ``origin`` words the error for a value that cannot be stored, e.g. ``"step 'train'
    returned"`` gives "step 'train' returned a function, which pathtolive cannot store:
    ...". ``InvalidInputError`` for such values.
    """
    writer = _Writer()
    try:
        root = writer.encode(value, "", set())
    except _Unstorable as exc:
        raise _unstorable_error(exc, origin) from exc
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "root": root}
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return write_archive([(_MANIFEST, text.encode()), *writer.members])


def loads(data: bytes, *, trusted: Sequence[str] | None = None) -> Any:
    """The value :func:`dumps` wrote into ``data``.

    ``trusted`` None (the default) trusts the model types :func:`dumps` recorded, as is
    right for pathtolive's own outputs read back by digest; a sequence trusts exactly those
    types beyond each flavor's defaults (``UntrustedModelError`` for the others).
    """
    try:
        members = read_members(data)
        manifest = json.loads(members[_MANIFEST])
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidInputError(
            "these bytes are not a pathtolive step output (no readable manifest)"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInputError("these bytes are not a pathtolive step output")
    if manifest.get("version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"this step output has format version {manifest.get('version')}, this "
            f"pathtolive reads version {FORMAT_VERSION}; upgrade pathtolive or run the "
            "step again without the cache"
        )
    try:
        return _Reader(members, trusted).decode(manifest["root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"this step output is malformed ({exc!r})") from exc


def _unstorable_error(exc: _Unstorable, origin: str | None) -> InvalidInputError:
    kind = _type_text(exc.value)
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if exc.is_key:
        where = f" (a dict key at {exc.path})" if exc.path else " (a dict key)"
    else:
        where = f" (at {exc.path})" if exc.path else ""
    subject = f"{origin} {article} {kind}{where}" if origin else f"{article} {kind}{where}"
    because = f" ({exc.reason})" if exc.reason else ""
    return InvalidInputError(
        f"{subject}, which pathtolive cannot store{because}: {_ACCEPTED}",
        details={"type": kind, "path": exc.path},
    )


def _type_text(value: object) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class _Writer:
    def __init__(self) -> None:
        self.members: list[tuple[str, bytes]] = []

    def _add(self, suffix: str, content: bytes) -> str:
        name = f"{len(self.members)}.{suffix}"
        self.members.append((name, content))
        return name

    def encode(self, value: object, path: str, open_ids: set[int]) -> dict[str, Any]:
        kind = type(value)
        if kind in _SCALAR_TYPES:
            return {"kind": "json", "value": value}
        if kind is float:
            return {"kind": "float", "value": repr(value)}
        if isinstance(value, np.generic):
            return {"kind": "numpy", "file": self._add("npy", _npy(np.asarray(value), value, path))}
        if isinstance(value, bytes) and kind is bytes:
            return {"kind": "bytes", "file": self._add("bin", value)}
        if isinstance(value, np.ndarray) and kind is np.ndarray:
            return {"kind": "ndarray", "file": self._add("npy", _npy(value, value, path))}
        if isinstance(value, pd.DataFrame):
            return {"kind": "dataframe", "file": self._add("parquet", _parquet(value, path))}
        if isinstance(value, pd.Series):
            frame = value.to_frame(name=_SERIES_COLUMN)
            return {
                "kind": "series",
                "name": self.encode(value.name, f"{path}.name", open_ids),
                "file": self._add("parquet", _parquet(frame, path)),
            }
        if kind in (list, tuple, dict):
            if id(value) in open_ids:
                raise _Unstorable(value, path, "it contains itself")
            open_ids.add(id(value))
            try:
                return self._container(value, path, open_ids)
            finally:
                open_ids.discard(id(value))
        return self._model(value, path)

    def _container(self, value: Any, path: str, open_ids: set[int]) -> dict[str, Any]:
        if type(value) is dict:
            keys: list[dict[str, Any]] = []
            values: list[dict[str, Any]] = []
            for key, item in value.items():
                if type(key) not in _KEY_TYPES:
                    raise _Unstorable(key, path, "keys must be plain values", is_key=True)
                keys.append(self.encode(key, path, open_ids))
                values.append(self.encode(item, f"{path}[{key!r}]", open_ids))
            return {"kind": "dict", "keys": keys, "values": values}
        items = [self.encode(item, f"{path}[{i}]", open_ids) for i, item in enumerate(value)]
        return {"kind": type(value).__name__, "items": items}

    def _model(self, value: object, path: str) -> dict[str, Any]:
        flavor = next((flavor for flavor in FLAVORS if flavor.can_save(value)), None)
        if flavor is None:
            raise _Unstorable(value, path)
        try:
            # scikit-learn objects go straight to skops, without the flavor's check that
            # the estimator is fitted and predicts: a fitted scaler is a fine step output.
            content = _sklearn_bytes(value) if flavor.name == "sklearn" else flavor.save(value)
            untrusted = flavor.untrusted_types(content)
            same_object = flavor.wrap(value).model is value
        except PathToLiveError as exc:
            raise _Unstorable(value, path, exc.message) from exc
        return {
            "kind": "model",
            "flavor": flavor.name,
            "file": self._add("model", content),
            "untrusted_types": list(untrusted),
            # LightGBM and XGBoost wrappers are stored as their booster: they come back as
            # a LoadedModel (predict, predict_proba on a frame), not as the wrapper.
            "returns": "object" if same_object else "loaded_model",
        }


def _npy(array: np.ndarray, value: object, path: str) -> bytes:
    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError as exc:
        raise _Unstorable(value, path, "arrays of Python objects need pickle") from exc
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame, path: str) -> bytes:
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        reason = str(exc.args[0] if exc.args else exc).splitlines()[0]
        raise _Unstorable(frame, path, f"Arrow cannot convert it: {reason}") from exc
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _sklearn_bytes(model: object) -> bytes:
    from pathtolive.registry.flavors.sklearn import canonical_skops

    skops_io = _skops()
    try:
        raw: bytes = skops_io.dumps(model)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"skops cannot store it: {exc}") from exc
    return canonical_skops(raw)


def _skops() -> Any:
    try:
        return importlib.import_module("skops.io")
    except ImportError as exc:
        raise get_flavor("sklearn").missing_extra(exc) from exc


class _Reader:
    def __init__(self, members: dict[str, bytes], trusted: Sequence[str] | None) -> None:
        self.members = members
        self.trusted = trusted

    def _member(self, node: dict[str, Any]) -> bytes:
        try:
            return self.members[node["file"]]
        except KeyError as exc:
            raise InvalidInputError(
                f"this step output is incomplete: it lacks {node.get('file')!r}"
            ) from exc

    def decode(self, node: dict[str, Any]) -> Any:
        kind = node["kind"]
        if kind == "json":
            return node["value"]
        if kind == "float":
            return float(node["value"])
        if kind == "numpy":
            return np.load(io.BytesIO(self._member(node)), allow_pickle=False)[()]
        if kind == "ndarray":
            return np.load(io.BytesIO(self._member(node)), allow_pickle=False)
        if kind == "bytes":
            return self._member(node)
        if kind == "dataframe":
            return pq.read_table(io.BytesIO(self._member(node))).to_pandas()
        if kind == "series":
            frame = pq.read_table(io.BytesIO(self._member(node))).to_pandas()
            return frame[_SERIES_COLUMN].rename(self.decode(node["name"]))
        if kind == "list":
            return [self.decode(item) for item in node["items"]]
        if kind == "tuple":
            return tuple(self.decode(item) for item in node["items"])
        if kind == "dict":
            keys = [self.decode(key) for key in node["keys"]]
            return dict(zip(keys, (self.decode(v) for v in node["values"]), strict=True))
        if kind == "model":
            return self._model(node)
        raise InvalidInputError(
            f"this step output holds a {kind!r}, which this pathtolive does not know; "
            "upgrade pathtolive or run the step again without the cache"
        )

    def _model(self, node: dict[str, Any]) -> Any:
        flavor = get_flavor(node["flavor"])
        recorded: list[str] = node.get("untrusted_types", [])
        trusted = recorded if self.trusted is None else list(self.trusted)
        loaded = flavor.load(self._member(node), trusted=trusted)
        if node.get("returns") == "object":
            return loaded.model
        return loaded
