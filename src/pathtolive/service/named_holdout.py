"""What a model version is judged on: its run's own test split, or a named holdout.

A model from outside a pipeline (an MLflow folder, a notebook, an ONNX file) has no test
split the gates could find, so someone names a dataset version to judge it on:
``gates check --holdout loans@3`` (or ``holdout=`` in Python) for one check, or
``[models.NAME.gates] holdout`` for every check of a model without a split of its own.
A pipeline-trained model keeps its own split unless a holdout is named for the check:
a workspace default of ``loans@latest`` would otherwise judge a model retrained on a new
version on the very rows it was trained on.

A named holdout is only fair if the model never saw its rows. When the training data is
known (the run's inputs, or ``data=`` at registration), the guard refuses a holdout that
is one of those versions, or that shares a row with one: rows are matched by the
dataset's ``id``-tagged column where both sides have it, else by a 64-bit hash of the
row's values over the columns both share. (Row positions are no identity across
versions, so they cannot be compared.) When the training data is not known, nothing can
be checked, and the report and the model card say so first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pathtolive.data import Schema
from pathtolive.entities import ModelVersion, Run
from pathtolive.errors import DataErasedError, InvalidInputError
from pathtolive.service import datasets as dataset_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.holdout import Holdout, find_holdout, has_own_holdout
from pathtolive.store.metadata import MetadataSession

__all__ = ["JudgedOn", "holdout_record", "judged_holdout", "named_frame", "reference_data"]

RUN_SPLIT = "the run's own test split"
"""How a pipeline's (or a logged notebook) holdout was chosen."""


@dataclass(frozen=True)
class JudgedOn:
    """The holdout a check judges on, and what is known about it.

    ``named`` is the ref as someone gave it (``loans@latest``; None for the run's own
    split), ``chosen_by`` who or what chose it, ``training`` the dataset versions the
    model was trained on (empty when unknown) and ``leakage`` how the holdout was shown
    to be unseen, or why it could not be."""

    holdout: Holdout
    named: str | None
    chosen_by: str
    training: tuple[str, ...]
    leakage: str

    def to_dict(self) -> dict[str, Any]:
        """What a gate report keeps (without the row ids, which the service adds)."""
        return {
            "dataset": self.holdout.dataset,
            "rows": len(self.holdout.row_ids),
            "named": self.named,
            "chosen_by": self.chosen_by,
            "training": list(self.training) or None,
            "leakage": self.leakage,
            "target": self.holdout.target if self.named is not None else None,
        }


def judged_holdout(
    ctx: ServiceContext,
    version: ModelVersion,
    run: Run,
    *,
    named: str | None,
    target: str | None,
    actor: str,
    configured: str | None,
) -> JudgedOn:
    """The holdout to judge ``version`` on: ``named`` for this check (chosen by
    ``actor``), else the run's own split, else ``configured`` (``[models.NAME.gates]
    holdout``); the error of :func:`find_holdout`, naming the fix, when there is none.
    A named holdout the model trained on is refused (``InvalidInputError``)."""
    training = tuple(sorted(set(run.inputs.values())))
    if named is None and has_own_holdout(run):
        holdout = find_holdout(ctx, run)
        return JudgedOn(holdout, None, RUN_SPLIT, training, "split from the training data")
    if named is None and configured is not None:
        named, chosen_by = configured, f"[models.{version.model}.gates] holdout"
    elif named is not None:
        chosen_by = actor
    else:
        find_holdout(ctx, run)  # raises the error that names the fix
        raise AssertionError("a run without its own holdout has no holdout")
    data_version = dataset_service.check_readable(dataset_service.get_version(ctx, named))
    purpose = f"gates holdout of {version.ref}"
    frame = dataset_service.load_frame(ctx, data_version.ref, purpose=purpose)
    if target is not None and target not in frame.columns:
        raise InvalidInputError(
            f"the holdout {data_version.ref} has no column {target!r}; name the column "
            f"the model predicts: --target COLUMN (one of {_listed(frame.columns)})"
        )
    holdout = _whole(data_version.ref, frame, target)
    leakage = (
        _check_unseen(ctx, version, holdout, training)
        if training
        else "not checked, as the training data is unknown"
    )
    return JudgedOn(holdout, named, chosen_by, training, leakage)


def _listed(columns: pd.Index) -> str:
    return ", ".join(map(str, columns[:10])) + (", …" if len(columns) > 10 else "")


def named_frame(ctx: ServiceContext, record: Mapping[str, Any], purpose: str) -> Holdout | None:
    """The named holdout a stored gate report judged on, read again (audited with
    ``purpose``); None when the report judged on the run's own split."""
    if record.get("named") is None or not record.get("dataset"):
        return None
    frame = dataset_service.load_frame(ctx, str(record["dataset"]), purpose=purpose)
    target = record.get("target")
    return _whole(str(record["dataset"]), frame, None if target is None else str(target))


def _whole(dataset: str, frame: pd.DataFrame, target: str | None) -> Holdout:
    """Every row of a dataset version as a holdout (no step or argument gave it)."""
    return Holdout(dataset, np.arange(len(frame), dtype=np.int64), frame, "", "", target)


def _check_unseen(
    ctx: ServiceContext, version: ModelVersion, holdout: Holdout, training: tuple[str, ...]
) -> str:
    """Refuse a holdout the model saw; say how it was shown unseen."""
    fix = "name a dataset version it was not trained on: --holdout DATASET@N"
    if holdout.dataset in training:
        raise InvalidInputError(
            f"{version.ref} was trained on {holdout.dataset}, so it cannot be judged on it; {fix}"
        )
    ids = _id_columns(ctx, holdout.dataset)
    how: list[str] = []
    for ref in training:
        try:
            seen = dataset_service.load_frame(
                ctx, ref, purpose=f"gates leakage check of {version.ref}"
            )
        except DataErasedError as exc:
            # As for a run's own split: a model of erased data is not released again.
            raise DataErasedError(
                f"{version.ref} was trained on erased data {ref}; train a new version on "
                "data that is kept",
                details=exc.details,
            ) from exc
        keys = [column for column in ids if column in seen.columns]
        if keys:
            by = f"the id column{'s' if len(keys) > 1 else ''} {', '.join(keys)}"
            shared = _shared_rows(holdout.frame, seen, keys)
        else:
            columns = [column for column in holdout.frame.columns if column in seen.columns]
            by = "row content"
            shared = _shared_rows(holdout.frame, seen, columns) if columns else 0
        if shared:
            raise InvalidInputError(
                f"the holdout {holdout.dataset} shares {shared:,} of its "
                f"{len(holdout.frame):,} rows with {ref}, which {version.ref} was trained on "
                f"(matched by {by}); {fix}"
            )
        how.append(f"no row shared with {ref} (by {by})")
    return "; ".join(how)


def _id_columns(ctx: ServiceContext, ref: str) -> list[str]:
    data_version = dataset_service.get_version(ctx, ref)
    schema = dataset_service.dataset_schema(ctx, data_version.dataset, data_version.schema_version)
    return list(Schema.from_dict(schema.schema).tagged("id"))


def _shared_rows(holdout: pd.DataFrame, seen: pd.DataFrame, columns: list[str]) -> int:
    """How many holdout rows have a twin in ``seen`` over ``columns`` (hashed by value, in
    one column order, so the frames' own column orders do not matter)."""
    ordered = sorted(columns, key=str)
    left = _row_hashes(holdout[ordered])
    right = _row_hashes(seen[ordered])
    return int(np.isin(left, right).sum())


def _row_hashes(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    hashed: pd.Series[Any] = pd.util.hash_pandas_object(frame, index=False)
    return hashed.to_numpy()


def reference_data(
    session: MetadataSession, version: ModelVersion, run: Run | None
) -> tuple[str, ...]:
    """The dataset versions that stand for what ``version`` expects to see: its training
    data, or, when that is unknown, the named holdout its latest gates judged it on. Drift
    is measured against their profile, explanations drawn against their rows, and their
    PII columns are redacted from the prediction log."""
    trained_on = tuple(sorted(run.inputs.values())) if run is not None else ()
    if trained_on:
        return trained_on
    stored = session.latest_gate_report(version.model, version.version)
    judged = holdout_record({} if stored is None else stored.report)
    return (str(judged["dataset"]),) if judged.get("dataset") else ()


def holdout_record(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """The holdout a stored gate report was judged on (empty for an old report)."""
    found = report.get("holdout")
    return found if isinstance(found, Mapping) else {}
