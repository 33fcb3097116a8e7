"""What the server holds: loaded model versions and, per model, which one answers.

A :class:`Snapshot` is immutable. The registry watcher builds a new one beside the old
and swaps the server's reference in one assignment, so a request that picked its
:class:`ServedModel` from the old snapshot finishes on it while the next request sees
the new one: no lock on the request path and no request dropped.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from blake3 import blake3

from pathtolive.serving.batching import Gauge, MicroBatcher
from pathtolive.serving.codecs.base import Prediction

if TYPE_CHECKING:
    from pathtolive.registry.explainers import Explainer
    from pathtolive.service.servables import ServableVersion

__all__ = ["Deployment", "ServedModel", "Snapshot"]


@dataclass(eq=False)
class ServedModel:
    """One loaded model version with its batcher and, once asked for, its explainer."""

    servable: ServableVersion
    batcher: MicroBatcher
    _explainer: Explainer | None = None
    _explainer_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        servable: ServableVersion,
        *,
        executor: Executor,
        gauge: Gauge,
        batching: bool,
        wait_s: float,
        max_rows: int,
    ) -> ServedModel:
        model = servable.model
        probabilities = servable.signature.output.kind == "probability"
        classes = model.classes
        matrix_model = _matrix_estimator(servable)

        def predict(frame: pd.DataFrame) -> Prediction:
            if matrix_model is not None and probabilities and classes is not None:
                proba = matrix_model.predict_proba(frame.to_numpy(dtype=np.float64))
                labels = np.asarray(classes, dtype=object)[np.asarray(proba).argmax(axis=1)]
                return Prediction(labels=labels, probabilities=proba, classes=classes)
            if matrix_model is not None:
                values = matrix_model.predict(frame.to_numpy(dtype=np.float64))
                return Prediction(labels=np.asarray(values), probabilities=None, classes=classes)
            if probabilities and classes is not None:
                proba = model.predict_proba(frame)
                if proba is not None:
                    matrix = np.asarray(proba, dtype=np.float64)
                    # One pass through the model: the label is the likeliest class.
                    labels = np.asarray(classes, dtype=object)[matrix.argmax(axis=1)]
                    return Prediction(labels=labels, probabilities=matrix, classes=classes)
            return Prediction(
                labels=np.asarray(model.predict(frame)), probabilities=None, classes=classes
            )

        batcher = MicroBatcher(
            predict=predict,
            signature=servable.signature,
            executor=executor,
            gauge=gauge,
            wait_s=wait_s,
            max_rows=max_rows,
            enabled=batching,
        )
        return cls(servable=servable, batcher=batcher)

    @property
    def name(self) -> str:
        return self.servable.version.model

    @property
    def version(self) -> int:
        return self.servable.version.version

    def explainer(self, background: Callable[[], pd.DataFrame | None]) -> Explainer:
        """The version's explainer, built on first use (from ``background`` rows, or the
        rows being explained when there are none) and kept."""
        with self._explainer_lock:
            if self._explainer is None:
                # The explainability gate checked the version with this same choice.
                from pathtolive.service.explain import served_explainer

                rows = background()
                if rows is None:
                    rows = pd.DataFrame(columns=list(self.servable.signature.input_names))
                self._explainer = served_explainer(self.servable.model, rows)
            return self._explainer


def _matrix_estimator(servable: ServableVersion) -> Any | None:
    """For a bare scikit-learn estimator on numeric inputs, a shallow copy that takes a
    float matrix instead of a DataFrame; None for anything else.

    scikit-learn spends most of a one-row predict checking a DataFrame's columns and
    dtypes: several times the cost of the trees themselves. The server has already
    checked the request against the signature, which holds the columns in the order the
    model was fitted on, so it can hand the values over as they are. The copy forgets the
    column names it was fitted with (so it does not warn about a matrix); the model the
    registry loaded is left untouched. Pipelines keep the DataFrame: their steps select
    columns by name.
    """
    if servable.model.flavor != "sklearn":
        return None
    estimator = servable.model.model
    names = getattr(estimator, "feature_names_in_", None)
    signature = servable.signature
    if (
        names is None
        or type(estimator).__module__.startswith(("sklearn.pipeline", "sklearn.compose"))
        or hasattr(estimator, "steps")
        or [str(name) for name in names] != list(signature.input_names)
        or any(f.type not in ("integer", "float") or f.nullable for f in signature.inputs)
    ):
        return None
    fast: Any = copy.copy(estimator)
    del fast.feature_names_in_
    return fast


@dataclass(frozen=True)
class Deployment:
    """Which loaded versions answer for one model."""

    name: str
    live: ServedModel | None
    canary: ServedModel | None = None
    canary_share: float = 0.0
    shadow: ServedModel | None = None

    def route(self, key: str | None) -> tuple[ServedModel, str] | None:
        """The version that answers a request, and its role (``live`` or ``canary``).
        With a routing ``key`` the choice is sticky: the same key always gets the same
        version while the share is unchanged."""
        if self.canary is not None and self.canary_share > 0:
            draw = _key_fraction(key) if key else random.random()
            if draw < self.canary_share or self.live is None:
                return self.canary, "canary"
        if self.live is None:
            return None
        return self.live, "live"

    def version(self, number: int) -> ServedModel | None:
        for served in (self.live, self.canary, self.shadow):
            if served is not None and served.version == number:
                return served
        return None

    def versions(self) -> list[ServedModel]:
        seen: dict[int, ServedModel] = {}
        for served in (self.live, self.canary, self.shadow):
            if served is not None:
                seen.setdefault(served.version, served)
        return list(seen.values())


@dataclass(frozen=True)
class Snapshot:
    """Every model the server answers for, as of one read of the registry."""

    deployments: Mapping[str, Deployment] = field(default_factory=dict)
    loaded_any: bool = False

    @property
    def ready(self) -> bool:
        return self.loaded_any and any(
            d.live is not None or d.canary is not None for d in self.deployments.values()
        )


def _key_fraction(key: str) -> float:
    """A stable number in [0, 1) for a routing key."""
    digest = blake3(key.encode()).digest(length=8)
    return int.from_bytes(digest, "big") / 2**64
