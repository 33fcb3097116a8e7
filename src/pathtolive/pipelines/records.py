"""What a run leaves behind: a record per step call, the graph of the calls, the outcome.

The graph is built from the calls the pipeline made: a node per step call, an edge from
each dataset and each earlier step output to the argument of the call it fed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pathtolive.pipelines.elements import (
    Element,
    element_from_json,
    element_text,
    element_to_json,
)

__all__ = ["GraphEdge", "GraphNode", "RunGraph", "RunOutcome", "StepRecord", "StepStatus"]

StepStatus = Literal["succeeded", "failed", "cancelled"]
"""``cancelled``: the step was interrupted (Ctrl-C); the run is cancelled with it."""


@dataclass(frozen=True)
class StepRecord:
    """One call of a step in a run.

    ``cache_key`` is the BLAKE3 digest of the step's source hash, its ``params`` (the call's
    plain arguments) and ``input_fingerprints`` (digests of its other arguments: a dataset's
    content hash, an earlier step's output digest, or the digest of the value as
    :func:`~pathtolive.pipelines.serialize.dumps` writes it). ``cached`` says the output was
    loaded from the store instead of computed. ``output_digest`` is None when the step did
    not produce a stored output. ``logs`` holds the end of what the step printed and logged,
    ``error`` the traceback of a failure.
    """

    index: int
    name: str
    source_hash: str
    cache_key: str
    cached: bool
    status: StepStatus
    started_at: datetime
    seconds: float
    params: Mapping[str, Any] = field(default_factory=dict)
    input_fingerprints: Mapping[str, str] = field(default_factory=dict)
    output_digest: str | None = None
    logs: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (the time in ISO 8601 with its UTC offset)."""
        return {
            "index": self.index,
            "name": self.name,
            "source_hash": self.source_hash,
            "cache_key": self.cache_key,
            "cached": self.cached,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "seconds": self.seconds,
            "params": dict(self.params),
            "input_fingerprints": dict(self.input_fingerprints),
            "output_digest": self.output_digest,
            "logs": self.logs,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            index=int(data["index"]),
            name=data["name"],
            source_hash=data["source_hash"],
            cache_key=data["cache_key"],
            cached=bool(data["cached"]),
            status=data["status"],
            started_at=datetime.fromisoformat(data["started_at"]),
            seconds=float(data["seconds"]),
            params=dict(data.get("params", {})),
            input_fingerprints=dict(data.get("input_fingerprints", {})),
            output_digest=data.get("output_digest"),
            logs=data.get("logs", ""),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class GraphNode:
    """A step call: its index in the run and the step's name."""

    index: int
    step: str


@dataclass(frozen=True)
class GraphEdge:
    """An input of a step call: from the output of step call ``source`` (an int; ``element``
    names the part of it, see :mod:`pathtolive.pipelines.elements`) or from the
    dataset parameter named ``source`` (a str), into the argument ``argument`` of call
    ``target``."""

    source: int | str
    target: int
    argument: str
    element: Element = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "source": self.source,
            "target": self.target,
            "argument": self.argument,
            "element": element_to_json(self.element),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphEdge:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["source"],
            int(data["target"]),
            data["argument"],
            element_from_json(data.get("element")),
        )


@dataclass(frozen=True)
class RunGraph:
    """The step calls of a run and what fed each; ``datasets`` maps each data parameter
    to the ref of the version the run read."""

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[GraphEdge, ...] = ()
    datasets: Mapping[str, str] = field(default_factory=dict)

    def inputs_of(self, index: int) -> tuple[GraphEdge, ...]:
        """The edges into step call ``index``, in argument order."""
        return tuple(edge for edge in self.edges if edge.target == index)

    def describe(self) -> list[str]:
        """One line per step call, for ``runs show``::

        [0] split <- data: loans@2
        [1] train <- train_df: split[0].0
        [2] evaluate <- model: train[1], test_df: split[0].1
        """
        lines = []
        for node in self.nodes:
            sources = ", ".join(
                f"{edge.argument}: {self._source_text(edge)}" for edge in self.inputs_of(node.index)
            )
            lines.append(f"[{node.index}] {node.step}" + (f" <- {sources}" if sources else ""))
        return lines

    def _source_text(self, edge: GraphEdge) -> str:
        if isinstance(edge.source, str):
            return self.datasets.get(edge.source, edge.source)
        text = f"{self.nodes[edge.source].step}[{edge.source}]"
        return text if edge.element is None else f"{text}.{element_text(edge.element)}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "nodes": [{"index": node.index, "step": node.step} for node in self.nodes],
            "edges": [edge.to_dict() for edge in self.edges],
            "datasets": dict(self.datasets),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunGraph:
        """Inverse of :meth:`to_dict`."""
        return cls(
            nodes=tuple(GraphNode(int(node["index"]), node["step"]) for node in data["nodes"]),
            edges=tuple(GraphEdge.from_dict(edge) for edge in data["edges"]),
            datasets=dict(data.get("datasets", {})),
        )


@dataclass(frozen=True)
class RunOutcome:
    """What a successful run gave: the pipeline's return ``value``, the ``model`` and
    ``metrics`` split from it (logged metrics merged in, returned ones winning), a record
    per step call and the graph of the calls."""

    value: Any
    model: object | None
    metrics: Mapping[str, float]
    steps: tuple[StepRecord, ...]
    graph: RunGraph
    model_digest: str | None = None
    """Digest of the stored step output the model is (None when no step returned it):
    the same fitted model always has the same digest, so reruns compare by it."""
    model_loader: Callable[[], object] | None = None
    """For a replayed run (see :mod:`~pathtolive.pipelines.replay`): loads the model,
    which is not loaded until asked for."""

    @property
    def has_model(self) -> bool:
        return self.model is not None or self.model_loader is not None

    def load_model(self) -> object | None:
        """The model, loading it first if the run was replayed."""
        if self.model is None and self.model_loader is not None:
            return self.model_loader()
        return self.model

    @property
    def executed(self) -> tuple[str, ...]:
        """Names of the step calls that ran (not loaded from the cache), in order."""
        return tuple(record.name for record in self.steps if not record.cached)

    @property
    def cached(self) -> tuple[str, ...]:
        """Names of the step calls whose output came from the cache, in order."""
        return tuple(record.name for record in self.steps if record.cached)
