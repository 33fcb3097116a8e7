"""Finding a run's holdout: the rows its model was evaluated on.

Gates score the candidate, the live champion and the baseline on the same rows, so the
comparison is paired. A pipeline does not declare its test split; the run's call graph
shows it: the first step that received the model also received the test frame, an
earlier step's stored output. That frame's index holds the row positions in the dataset
version the run read (a ``Dataset`` loads with a RangeIndex), so the holdout is recorded
by dataset version and row ids, and the frame itself carries the features and target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.entities import Run, RunStep
from pathtolive.errors import DataErasedError, InvalidInputError
from pathtolive.pipelines import RunGraph, loads
from pathtolive.pipelines.elements import Element, element_digest, pick
from pathtolive.service.context import ServiceContext

__all__ = ["LOGGED_HOLDOUT", "LOGGED_TARGET", "Holdout", "find_holdout", "has_own_holdout"]

LOGGED_HOLDOUT = "holdout_digest"
"""The key of a notebook run's outputs that holds the digest of the test rows it logged."""
LOGGED_TARGET = "holdout_target"
"""The key of a notebook run's outputs that holds the target column it named, if any."""


@dataclass(frozen=True)
class Holdout:
    """The evaluation rows of a run: ``dataset`` (a version ref) and ``row_ids`` (row
    positions in it), and the frame itself (features and target)."""

    dataset: str
    row_ids: npt.NDArray[np.int64]
    frame: pd.DataFrame
    step: str
    argument: str
    target: str | None = None
    """The target column a notebook run named with its holdout; None for a pipeline's."""


def has_own_holdout(run: Run) -> bool:
    """Whether ``run`` recorded an evaluation of its own: a pipeline run's call graph, or
    the test rows a notebook run logged. An imported model, or one registered by hand
    without ``run.log_holdout``, has none and is judged on a named holdout."""
    if run.kind == "notebook":
        return (run.outputs or {}).get(LOGGED_HOLDOUT) is not None
    return run.kind == "pipeline" and run.graph is not None and bool(run.outputs)


def find_holdout(ctx: ServiceContext, run: Run) -> Holdout:
    """The holdout of a pipeline run, or the one a notebook run logged
    (``run.log_holdout``); a clear error, naming the fix, when there is none."""
    logged = (run.outputs or {}).get(LOGGED_HOLDOUT) if run.kind == "notebook" else None
    if not has_own_holdout(run):
        how = {"imported": "an imported model", "notebook": "a model registered by hand"}
        raise InvalidInputError(
            f"run {run.run_id[:12]} recorded no test split ({how.get(run.kind, 'no evaluation')}"
            "), so there is nothing to judge it on; gate it on a named holdout: "
            "--holdout DATASET@N (holdout= in Python, or [models.NAME.gates] holdout)"
        )
    with ctx.metadata.read() as session:
        erased = session.erased_inputs(run.run_id)
        steps = session.run_steps(run.run_id)
    if erased:
        # Its test split was rows of that version, erased with it.
        raise DataErasedError(
            f"run {run.run_id[:12]} was trained on erased data {', '.join(erased)}; its "
            "holdout was erased with it: train a new version on data that is kept"
        )
    if logged is not None:
        frame = loads(ctx.artifacts.get_bytes(str(logged)))
        assert isinstance(frame, pd.DataFrame)
        holdout = _holdout(run, frame, "log_holdout", "holdout")
        target = (run.outputs or {}).get(LOGGED_TARGET)
        return replace(holdout, target=None if target is None else str(target))
    assert run.graph is not None
    assert run.outputs is not None
    graph = RunGraph.from_dict(run.graph)
    model_digest = run.outputs.get("model_digest")
    producer = _producer(steps, graph, model_digest)
    if producer is None:
        raise InvalidInputError(
            f"run {run.run_id[:12]}: no step returned the model, so its evaluation cannot be "
            "found; train the model in a step"
        )
    for node in graph.nodes:
        edges = graph.inputs_of(node.index)
        if not any(edge.source == producer[0] and edge.element == producer[1] for edge in edges):
            continue
        for edge in edges:
            if not isinstance(edge.source, int) or edge.source == producer[0]:
                continue
            frame = _load_output(ctx, steps, edge.source, edge.element)
            if isinstance(frame, pd.DataFrame):
                return _holdout(run, frame, node.step, edge.argument)
    raise InvalidInputError(
        f"run {run.run_id[:12]}: no step received both the model and a test frame from an "
        "earlier step; evaluate the model in a step, e.g. evaluate(model, test_df)"
    )


def _producer(
    steps: list[RunStep], graph: RunGraph, model_digest: Any
) -> tuple[int, Element] | None:
    """(step position, part of its output) of the output the model is."""
    for step in steps:
        if step.output_digest is None:
            continue
        # The parts of an output that later steps received, and the first positions of a
        # tuple or list (a model a step returned but no step received).
        candidates: list[Element] = [None, *range(16)]
        candidates += [edge.element for edge in graph.edges if edge.source == step.position]
        for element in candidates:
            if element_digest(step.output_digest, element) == model_digest:
                return step.position, element
    return None


def _load_output(
    ctx: ServiceContext, steps: list[RunStep], position: int, element: Element
) -> object:
    step = next((s for s in steps if s.position == position), None)
    if step is None or step.output_digest is None:
        return None
    value = loads(ctx.artifacts.get_bytes(step.output_digest))
    try:
        return pick(value, element)
    except LookupError:
        return None


def _holdout(run: Run, frame: pd.DataFrame, step: str, argument: str) -> Holdout:
    if len(run.inputs) != 1:
        raise InvalidInputError(
            f"run {run.run_id[:12]} read {len(run.inputs)} datasets; the holdout's rows can "
            "be tied to one dataset only"
        )
    dataset = next(iter(run.inputs.values()))
    index = frame.index
    if not pd.api.types.is_integer_dtype(index.dtype):
        raise InvalidInputError(
            f"run {run.run_id[:12]}: the test frame given to step {step!r} has a "
            f"{index.dtype} index, not the dataset's row positions; keep the index that "
            "Dataset.df gives (do not reset it)"
        )
    return Holdout(dataset, index.to_numpy(dtype=np.int64), frame, step, argument)
