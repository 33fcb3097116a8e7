"""Whole-run replay: a rerun whose code, params and data are unchanged runs no code at all.

The step cache already spares every step's computation, but the pipeline's own function
still has to run to find out which steps it calls, and every cached output has to be
loaded to hand it to the next step — for a fitted model that is most of a second. When
the pipelines code (all of ``pipelines/``, by digest), the params and the data versions
are those of an earlier successful run, its outcome is known: this module records it
(the step calls in order, the graph, the metrics the pipeline returned, and where its
model is stored) and replays it: every step reported as cached, logged metrics replayed
from the step results, and the model loaded only if someone asks for it (to register it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pathtolive.errors import IntegrityError, PathToLiveError
from pathtolive.pipelines.canonical import canonical_json, json_digest
from pathtolive.pipelines.elements import Element, element_from_json, element_to_json, pick
from pathtolive.pipelines.records import RunGraph, StepRecord
from pathtolive.pipelines.results import StepResult
from pathtolive.pipelines.serialize import loads

__all__ = ["ModelSource", "ReplayedStep", "RunReplay", "load_replay", "replay_key", "replayable"]

_FORMAT = "pathtolive.run-replay"
_VERSION = 1


def replay_key(
    *,
    cache_version: int,
    pipeline: str,
    code_digest: str,
    params: Mapping[str, Any],
    data: Mapping[str, str],
) -> str:
    """The cache key of a whole run: pipeline, code, params and data content hashes."""
    return json_digest(
        {
            "version": cache_version,
            "kind": "run",
            "pipeline": pipeline,
            "code": code_digest,
            "params": dict(params),
            "data": dict(data),
        }
    )


@dataclass(frozen=True)
class ModelSource:
    """Where the run's model is stored: a step output, or one part of it."""

    output_digest: str
    element: Element
    digest: str  # the digest the run reports for the model (element digest for a tuple)


@dataclass(frozen=True)
class ReplayedStep:
    record: StepRecord
    result_digest: str


@dataclass(frozen=True)
class RunReplay:
    steps: tuple[ReplayedStep, ...]
    graph: RunGraph
    returned_metrics: Mapping[str, float]
    metrics: Mapping[str, float]
    model: ModelSource | None

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "steps": [
                    {
                        **step.record.to_dict(),
                        "result": step.result_digest,
                        "logs": "",
                        "started_at": None,
                        "seconds": 0.0,
                    }
                    for step in self.steps
                ],
                "graph": self.graph.to_dict(),
                "returned_metrics": dict(self.returned_metrics),
                "metrics": dict(self.metrics),
                "model": None
                if self.model is None
                else {
                    "output": self.model.output_digest,
                    "element": element_to_json(self.model.element),
                    "digest": self.model.digest,
                },
            }
        )

    def records(self) -> list[StepRecord]:
        """The step records of the replayed run: every step cached, now."""
        now = datetime.now(UTC)
        return [
            StepRecord(
                index=step.record.index,
                name=step.record.name,
                source_hash=step.record.source_hash,
                cache_key=step.record.cache_key,
                cached=True,
                status="succeeded",
                started_at=now,
                seconds=0.0,
                params=step.record.params,
                input_fingerprints=step.record.input_fingerprints,
                output_digest=step.record.output_digest,
            )
            for step in self.steps
        ]

    def model_loader(self, get_bytes: Callable[[str], bytes]) -> Callable[[], object] | None:
        source = self.model
        if source is None:
            return None

        def load() -> object:
            value = loads(get_bytes(source.output_digest))
            return pick(value, source.element)

        return load


def load_replay(
    data: bytes, get_bytes: Callable[[str], bytes]
) -> tuple[RunReplay, list[StepResult]] | None:
    """Parse a recorded run and fetch its steps' results; None when anything is missing
    or unreadable (the run then simply executes). A corrupt object is still an error."""
    try:
        body = json.loads(data)
        if body.get("format") != _FORMAT or body.get("version") != _VERSION:
            return None
        steps = []
        results = []
        for raw in body["steps"]:
            result_digest = raw.pop("result")
            raw["started_at"] = datetime.now(UTC).isoformat()
            steps.append(ReplayedStep(StepRecord.from_dict(raw), result_digest))
            results.append(StepResult.from_bytes(get_bytes(result_digest)))
        model = body["model"]
        replay = RunReplay(
            steps=tuple(steps),
            graph=RunGraph.from_dict(body["graph"]),
            returned_metrics={k: float(v) for k, v in body["returned_metrics"].items()},
            metrics={k: float(v) for k, v in body["metrics"].items()},
            model=None
            if model is None
            else ModelSource(model["output"], element_from_json(model["element"]), model["digest"]),
        )
    except IntegrityError:
        raise
    except (PathToLiveError, ValueError, KeyError, TypeError):
        return None
    return replay, results


def replayable(records: Sequence[StepRecord]) -> bool:
    """A run can be replayed when every step call succeeded and stored its output."""
    return all(r.status == "succeeded" and r.output_digest is not None for r in records)
