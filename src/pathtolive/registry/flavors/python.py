"""Custom Python models: a class of the workspace's own ``pipelines/`` code, stored as its
state, never as a pickle.

What it trusts: the workspace's reviewed code, pinned by hash. The artifact holds the
class's module and qualified name, the digest of the ``pipelines/`` package the model was
built with (:func:`~pathtolive.pipelines.code_version.pipelines_hash`, as runs record
it) and the model's state; loading imports the class from the loading workspace's
``pipelines/`` folder, and only when that folder's digest is the recorded one. A class
defined anywhere else (an installed package, a notebook cell) is refused: its code is
not the workspace's, so no review and no hash stands behind it.

The protocol (:class:`CustomModel`): ``predict(frame)``, optionally ``predict_proba``
(one column per class, in the order of ``classes_``) and ``feature_names_in_`` (the
columns it reads, in order; without it the columns are passed by position, as the
dataset's schema orders them), and

* ``get_state()`` returning a dict of what the fitted model knows: NumPy arrays (not of
  Python objects), numbers, strings, lists and dicts of them, pandas frames, and fitted
  models of the other flavors (scikit-learn, LightGBM, XGBoost, ONNX), stored through
  those flavors;
* a classmethod ``from_state(state)`` rebuilding the model from that dict.

The state is written by :func:`pathtolive.pipelines.serialize.dumps`: ``.npy`` with
``allow_pickle=False``, JSON, Parquet and the flavors' own formats. Loading it runs no
code but the class's ``from_state``.

Where a model is loaded from only its bytes (the server, the gates, the step cache), the
workspace whose code it may import is the one :func:`workspace_code` names: the service
sets it around every load, since only it knows which workspace it opened.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError, PathToLiveError, UntrustedModelError
from pathtolive.format import first_line
from pathtolive.registry.flavors.base import (
    ClassLabel,
    Flavor,
    LoadedModel,
    plain_label,
    predicting,
    type_name,
)
from pathtolive.registry.flavors.sklearn import SklearnFlavor

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMAT", "CustomModel", "PythonFlavor", "code_root", "workspace_code"]

FORMAT = "pathtolive.python-model"
_FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_STATE = "state"
_PACKAGE = "pipelines"  # pathtolive.pipelines.discovery.PACKAGE, without importing it here
_PROTOCOL = (
    "define get_state() returning a dict of arrays, numbers, strings and fitted models, "
    "and a classmethod from_state(state) that rebuilds the model from it"
)

_workspace: ContextVar[Path | None] = ContextVar("pathtolive_workspace_code", default=None)


class CustomModel(Protocol):
    """What a custom model class provides (see the module docstring)."""

    def predict(self, features: Any) -> Any: ...

    def get_state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CustomModel: ...


@contextmanager
def workspace_code(root: Path) -> Iterator[None]:
    """Within the block, custom models load their classes from ``root/pipelines``."""
    token = _workspace.set(Path(root))
    try:
        yield
    finally:
        _workspace.reset(token)


def code_root(model: object) -> Path:
    """The workspace whose ``pipelines/`` folder defines ``model``'s class;
    ``UntrustedModelError`` when the class is not defined in such a folder."""
    kind = type(model)
    name = type_name(model)
    module = kind.__module__
    if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
        raise _outside(name, f"its module is {module}")
    if "<" in kind.__qualname__:
        raise InvalidInputError(
            f"{name} is defined inside a function; define it at the top level of a file in "
            f"{_PACKAGE}/, so that loading can import it by name"
        )
    source = _source_file(kind)
    if source is None:
        raise _outside(name, "pathtolive cannot find the file it is defined in")
    parts = module.split(".")
    depth = len(parts) - 1 if source.name == "__init__.py" else len(parts) - 2
    folder = source.parents[depth] if 0 <= depth < len(source.parents) else None
    if folder is None or folder.name != _PACKAGE:
        raise _outside(name, f"it is defined in {source}")
    return folder.parent


class PythonFlavor(Flavor):
    """Classes of the workspace's ``pipelines/`` package that save their state through
    ``get_state``/``from_state`` (see the module docstring)."""

    name = "python"
    extra = "sklearn"  # nothing beyond the core; a nested model needs its own flavor's
    trusted_on_registration = SklearnFlavor.trusted_on_registration

    def can_save(self, model: object) -> bool:
        if isinstance(model, LoadedModel):
            return model.flavor == self.name
        if not callable(getattr(model, "predict", None)):
            return False
        module = type(model).__module__
        # A class of the workspace's code is claimed even without the protocol, so that
        # it is refused saying what to add rather than as an unknown kind of model.
        return module == _PACKAGE or module.startswith(_PACKAGE + ".") or _has_protocol(model)

    def save(self, model: object) -> bytes:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            if "code_hash" in model.metadata:  # loaded: checked against that code already
                return _encode(model.model, str(model.metadata["code_hash"]))
            model = model.model  # wrapped in memory: as the model itself
        if not self.can_save(model):
            raise InvalidInputError(
                f"the python flavor stores models with predict, get_state and from_state, "
                f"not {type_name(model)}"
            )
        root = code_root(model)
        if not _has_protocol(model):
            raise InvalidInputError(
                f"{type_name(model)} does not say how to save its state, and pathtolive "
                f"never stores a model as a pickle: {_PROTOCOL}"
            )
        from pathtolive.pipelines.code_version import pipelines_hash

        return _encode(model, pipelines_hash(root))

    def load(self, data: bytes, *, trusted: Sequence[str] = ()) -> LoadedModel:
        from pathtolive.pipelines.code_version import pipelines_hash
        from pathtolive.pipelines.discovery import import_from_workspace
        from pathtolive.pipelines.serialize import loads

        manifest, state = _read(data)
        module, qualname, recorded = manifest["module"], manifest["qualname"], manifest["code"]
        name = f"{module}.{qualname}"
        root = _workspace.get()
        if root is None:
            raise InvalidInputError(
                f"the custom model {name} runs its workspace's code, so it loads only in "
                "its workspace: load it through Workspace.load_model or pathtolive serve"
            )
        # Checked before any of the code is imported: only the reviewed code may run.
        current = pipelines_hash(root)
        if current != recorded:
            raise UntrustedModelError(
                f"the custom model {name} was registered with pipelines/ code {recorded[:12]}, "
                f"but the workspace's pipelines/ code is now {current[:12]}; check out the "
                "code the model was trained with, or retrain it on the current code",
                details={"registered_code": recorded, "current_code": current},
            )
        kind = import_from_workspace(root, module, qualname)
        if not isinstance(kind, type) or not callable(getattr(kind, "from_state", None)):
            raise InvalidInputError(
                f"{name} in the workspace's pipelines/ code is no longer a class with "
                f"from_state: {_PROTOCOL}"
            )
        restored = loads(state, trusted=list(trusted))
        try:
            model = kind.from_state(restored)  # type: ignore[attr-defined]
        except PathToLiveError:
            raise
        except Exception as exc:  # the class's own code: say whose it was
            raise InvalidInputError(
                f"{name}.from_state could not rebuild the model: {type(exc).__name__}: "
                f"{first_line(exc)}"
            ) from exc
        if not callable(getattr(model, "predict", None)):
            raise InvalidInputError(f"{name}.from_state returned {type_name(model)}, no model")
        return self._loaded(model, code_hash=recorded)

    @staticmethod
    def code_hash(data: bytes) -> str:
        """The digest of the ``pipelines/`` code the model in ``data`` was saved with."""
        manifest, _ = _read(data)
        return str(manifest["code"])

    def untrusted_types(self, data: bytes) -> tuple[str, ...]:
        _, state = _read(data)
        manifest = json.loads(read_members(state)[_MANIFEST])
        return tuple(dict.fromkeys(_nested_untrusted(manifest["root"])))

    def wrap(self, model: object) -> LoadedModel:
        if isinstance(model, LoadedModel) and model.flavor == self.name:
            return model
        if not self.can_save(model):
            raise InvalidInputError(
                f"the python flavor wraps models with a predict method, not {type_name(model)}"
            )
        return self._loaded(model, code_hash=None)

    def predict(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
        features = self.features(model, frame)
        with predicting(IndexError):
            found = np.asarray(model.model.predict(features))  # type: ignore[attr-defined]
        found = _one_per_row(found, len(frame), "predict")
        return found if model.classes is not None else found.astype(np.float64)

    def predict_proba(self, model: LoadedModel, frame: pd.DataFrame) -> np.ndarray | None:
        if not self.gives_probabilities(model):
            return None
        assert model.classes is not None
        features = self.features(model, frame)
        with predicting(IndexError):
            found = np.asarray(
                model.model.predict_proba(features),  # type: ignore[attr-defined]
                dtype=np.float64,
            )
        if found.shape != (len(frame), len(model.classes)):
            raise InvalidInputError(
                f"{model.metadata['class']}.predict_proba answered shape {list(found.shape)} "
                f"for {len(frame)} rows; it must give one column per class of classes_ "
                f"({len(model.classes)})"
            )
        return found

    def gives_probabilities(self, model: LoadedModel) -> bool:
        return model.classes is not None and callable(getattr(model.model, "predict_proba", None))

    def _loaded(self, model: object, *, code_hash: str | None) -> LoadedModel:
        classes = getattr(model, "classes_", None)
        names = getattr(model, "feature_names_in_", None)
        metadata: dict[str, Any] = {"class": type_name(model)}
        if code_hash is not None:
            metadata["code_hash"] = code_hash
        return LoadedModel(
            flavor=self.name,
            model=model,
            classes=None if classes is None else _labels(classes),
            feature_names=None if names is None else tuple(str(name) for name in names),
            metadata=metadata,
        )


def _has_protocol(model: object) -> bool:
    return callable(getattr(model, "get_state", None)) and callable(
        getattr(type(model), "from_state", None)
    )


def _outside(name: str, why: str) -> UntrustedModelError:
    return UntrustedModelError(
        f"{name} is not a class of the workspace's {_PACKAGE}/ folder ({why}); pathtolive "
        f"runs a custom model's code only from the workspace's own reviewed {_PACKAGE}/ "
        f"code, pinned by hash: move the class into a file of {_PACKAGE}/",
        details={"class": name},
    )


def _source_file(kind: type) -> Path | None:
    """The file ``kind``'s body is in, from a function defined there (its module may be
    out of ``sys.modules``: discovery imports the workspace's modules only for a while)."""
    prefix = kind.__qualname__ + "."
    for value in vars(kind).values():
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if code is not None and getattr(function, "__qualname__", "").startswith(prefix):
            return Path(code.co_filename)
    module = sys.modules.get(kind.__module__)
    found = getattr(module, "__file__", None)
    if found is not None and getattr(module, kind.__qualname__, None) is kind:
        return Path(found)
    return None


def _encode(model: object, code_hash: str) -> bytes:
    from pathtolive.pipelines.serialize import dumps

    kind = type(model)
    name = type_name(model)
    try:
        state = model.get_state()  # type: ignore[attr-defined]
    except Exception as exc:  # the class's own code: say whose it was
        raise InvalidInputError(
            f"{name}.get_state failed: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    if type(state) is not dict or not all(isinstance(key, str) for key in state):
        raise InvalidInputError(
            f"{name}.get_state returned {type_name(state)}; it must return a dict with string keys"
        )
    stored = dumps(state, origin=f"{name}.get_state() returned")
    manifest = {
        "format": FORMAT,
        "version": _FORMAT_VERSION,
        "module": kind.__module__,
        "qualname": kind.__qualname__,
        "code": code_hash,
    }
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return write_archive([(_MANIFEST, text.encode()), (_STATE, stored)])


def _read(data: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        members = read_members(data)
        manifest = json.loads(members[_MANIFEST])
        state = members[_STATE]
    except Exception as exc:  # a bad zip, a missing member, bad JSON: not ours
        raise InvalidInputError("these bytes are not a pathtolive custom Python model") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidInputError("these bytes are not a pathtolive custom Python model")
    if manifest.get("version") != _FORMAT_VERSION:
        raise InvalidInputError(
            f"this custom Python model has format version {manifest.get('version')}, this "
            f"pathtolive reads version {_FORMAT_VERSION}; upgrade pathtolive"
        )
    return manifest, state


def _nested_untrusted(node: Mapping[str, Any]) -> Iterator[str]:
    """The types the models nested in a state (a serialize manifest node) need trusted."""
    kind = node.get("kind")
    if kind == "model":
        yield from node.get("untrusted_types", [])
    for child in [*node.get("items", []), *node.get("keys", []), *node.get("values", [])]:
        yield from _nested_untrusted(child)


def _labels(classes: object) -> tuple[ClassLabel, ...]:
    return tuple(plain_label(label) for label in np.asarray(classes).reshape(-1))


def _one_per_row(found: np.ndarray, rows: int, method: str) -> np.ndarray:
    if found.size != rows or (found.ndim > 1 and max(found.shape) != rows):
        raise InvalidInputError(
            f"the custom model's {method} answered shape {list(found.shape)} for {rows} rows; "
            "it must give one value per row"
        )
    return found.reshape(-1)
