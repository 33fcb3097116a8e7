"""What the LightGBM and XGBoost flavors share: the archive and classifier arithmetic.

A booster artifact is a zip (see :mod:`pathtolive.archive`) of two members: ``pathtolive.json``,
what the scikit-learn wrapper knew (estimator class, objective, classes, feature names,
library version), and the booster in the library's own format, readable by the library's
tools once unzipped.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError, UnsupportedFormatError
from pathtolive.registry.flavors.base import ClassLabel

__all__ = ["labels", "most_likely", "pack", "probabilities", "unpack"]

_HEADER = "pathtolive.json"
_FORMAT = 1


def pack(flavor: str, member: str, payload: bytes, metadata: dict[str, Any]) -> bytes:
    """The artifact of a booster: ``metadata`` beside ``payload`` stored as ``member``."""
    header = {"flavor": flavor, "format": _FORMAT, **metadata}
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return write_archive([(_HEADER, text.encode()), (member, payload)])


def unpack(flavor: str, member: str, data: bytes) -> tuple[dict[str, Any], bytes]:
    """The metadata and payload of an artifact written by :func:`pack` for ``flavor``."""
    not_ours = InvalidInputError(
        f"not a pathtolive {flavor} model artifact (a zip with {_HEADER} and {member})"
    )
    try:
        members = read_members(data)
        header = json.loads(members[_HEADER])
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise not_ours from exc
    if not isinstance(header, dict):
        raise not_ours
    if header.get("flavor") != flavor:
        raise InvalidInputError(
            f"this artifact holds a {header.get('flavor')!r} model, not a {flavor} one"
        )
    if header.get("format") != _FORMAT:
        raise UnsupportedFormatError(
            f"this {flavor} artifact has format {header.get('format')!r}; this pathtolive "
            f"reads format {_FORMAT}: upgrade pathtolive"
        )
    if member not in members:
        raise not_ours
    return header, members[member]


def probabilities(raw: np.ndarray) -> np.ndarray:
    """One column per class: multiclass output as is, a binary output ``p`` as
    ``[1 - p, p]`` (what the libraries' scikit-learn wrappers return)."""
    if raw.ndim == 2 and raw.shape[1] > 1:
        return raw
    positive = raw.reshape(-1)
    return np.vstack((1.0 - positive, positive)).transpose()


def labels(classes: Sequence[ClassLabel], indices: np.ndarray) -> np.ndarray:
    """The class labels at ``indices``."""
    return np.asarray(np.asarray(classes)[indices])


def most_likely(classes: Sequence[ClassLabel], proba: np.ndarray) -> np.ndarray:
    """The label of the most probable class of each row (the first one on a tie)."""
    return labels(classes, np.argmax(proba, axis=1))
