"""The prediction log, feedback and deployment settings.

- :class:`StoreSegmentSink` is what the live server hands its
  :class:`~pathtolive.predlog.PredictionLogger`: it keeps each Parquet segment in
  the ArtifactStore and records it in the metadata database.
- :func:`read_prediction_log` loads a model's logged predictions (hash-checked) back.
- :func:`record_feedback` attaches the true label to a row of a request (row 0 unless
  told), whether or not the request has reached the log yet (the log is buffered).
- :func:`set_deployment` moves a model's ``canary`` and ``shadow`` aliases and sets the
  canary's traffic share, in one transaction, audited.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pathtolive.auth import Actor, Permission
from pathtolive.entities import Deployment, Feedback, ModelVersion
from pathtolive.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PathToLiveError,
    PermissionDeniedError,
    VerificationFailedError,
)
from pathtolive.format import utc
from pathtolive.gates import GateReport, PromotionConfig
from pathtolive.predlog import read_predictions
from pathtolive.refs import check_name, is_number
from pathtolive.registry.signature import Signature
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.models import (
    ModelRef,
    parse_model_ref,
    promotion_config,
    resolve_model_version,
)
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "MAX_FEEDBACK_ROWS",
    "MAX_LABEL_CHARS",
    "MAX_REQUEST_ID_CHARS",
    "MAX_UNLOGGED_FEEDBACK",
    "FeedbackItem",
    "StoreSegmentSink",
    "canary_share",
    "check_feedback_row",
    "check_request_id",
    "deployment",
    "deployments",
    "feedback",
    "json_kind",
    "read_prediction_log",
    "record_feedback",
    "record_feedback_many",
    "set_deployment",
]

MAX_REQUEST_ID_CHARS = 100
MAX_LABEL_CHARS = 1_000
MAX_UNLOGGED_FEEDBACK = 10_000
"""Labels a model may hold beyond the rows of its prediction log (by default)."""
MAX_FEEDBACK_ROWS = 1_000_000
"""Rows of one request a label may be for: rows 0 to ``MAX_FEEDBACK_ROWS - 1``."""

FeedbackItem = tuple[str, Any] | tuple[str, Any, int]
"""A label for row 0 of a request, ``(request_id, label)``, or for a given row of it,
``(request_id, label, row)``."""


class StoreSegmentSink:
    """Stores prediction-log segments: the bytes in the ArtifactStore (by digest), a row
    per segment in the metadata database.

    It writes the server's own log, so it checks no role (the server was started by
    someone allowed to serve); segments are data, not state changes, and add no audit
    event. It is called from the logger's thread: both stores are opened here, up front.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._artifacts = ctx.artifacts
        self._metadata = ctx.metadata

    def write(
        self,
        model: str,
        version: int,
        parquet: bytes,
        rows: int,
        first_at: datetime,
        last_at: datetime,
    ) -> None:
        stored = self._artifacts.put_bytes(parquet)
        try:
            with self._metadata.write() as session:
                if session.get_model_version(model, version) is None:
                    raise NotFoundError(f"model {model!r} has no version {version}")
                session.insert_prediction_segment(
                    model,
                    version,
                    digest=stored.digest,
                    rows=rows,
                    first_at=utc(first_at),
                    last_at=utc(last_at),
                    created_at=datetime.now(UTC),
                )
        except BaseException:
            if stored.created:
                self._discard(stored.digest)
            raise

    def _discard(self, digest: str) -> None:
        """Delete an object no segment refers to; when that cannot be told (the database
        is down) the object stays: an orphan costs space, a deleted segment data."""
        try:
            with self._metadata.read() as session:
                used = session.segment_in_use(digest)
            if not used:
                self._artifacts.delete(digest)
        except PathToLiveError:
            pass


# -- reading the log ---------------------------------------------------------------------


def read_prediction_log(
    ctx: ServiceContext,
    model: str,
    *,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """The logged predictions of ``model`` (of one ``version`` when given) made at or
    after ``since`` and before ``until``, oldest first, with a ``version`` column in front
    of the segment columns (see :mod:`pathtolive.predlog.segment`). Each segment's bytes
    are checked against their digest as they are read."""
    ctx.require(Permission.READ, "read the prediction log")
    with ctx.metadata.read() as session:
        _require_model(session, model)
        if version is not None and session.get_model_version(model, version) is None:
            raise NotFoundError(f"model {model!r} has no version {version}")
        segments = session.list_prediction_segments(
            model,
            version,
            since=None if since is None else utc(since),
            until=None if until is None else utc(until),
        )
    blobs = [ctx.artifacts.get_bytes(segment.artifact_digest) for segment in segments]
    frame = read_predictions(blobs)
    counts = [pq.read_metadata(io.BytesIO(blob)).num_rows for blob in blobs]
    versions = np.repeat(np.array([s.version for s in segments], dtype=np.int64), counts)
    frame.insert(0, "version", versions)
    keep = np.ones(len(frame), dtype=bool)
    if since is not None:
        keep &= (frame["at"] >= pd.Timestamp(utc(since))).to_numpy()
    if until is not None:
        keep &= (frame["at"] < pd.Timestamp(utc(until))).to_numpy()
    frame = frame.loc[keep]
    return frame.sort_values("at", kind="stable").reset_index(drop=True)


# -- feedback ----------------------------------------------------------------------------


def record_feedback(
    ctx: ServiceContext,
    request_id: str,
    label: Any,
    *,
    model: str | None = None,
    row: int = 0,
    max_unlogged: int = MAX_UNLOGGED_FEEDBACK,
) -> Feedback:
    """Attach the true ``label`` (a JSON scalar) to row ``row`` of the prediction of
    ``request_id`` (0, the first row, for a single-row request). The request need not be
    in the log yet: the log is written in batches."""
    items = [(request_id, label, row)]
    return record_feedback_many(ctx, items, model=model, max_unlogged=max_unlogged)[0]


def record_feedback_many(
    ctx: ServiceContext,
    items: Iterable[FeedbackItem],
    *,
    model: str | None = None,
    max_unlogged: int = MAX_UNLOGGED_FEEDBACK,
) -> list[Feedback]:
    """Record several ``(request_id, label)`` pairs (for row 0) or ``(request_id, label,
    row)`` triples in one transaction: all or none (one bad item refuses them all, before
    anything is stored). ``ConflictError`` when they would take the labels of ``model``
    more than ``max_unlogged`` beyond the rows its log holds."""
    actor = ctx.require(Permission.WRITE, "send feedback")
    clean = [_check_item(item) for item in items]
    if not clean:
        raise InvalidInputError("no feedback given; send at least one request id and label")
    if model is not None:
        check_name(model, kind="model")
    now = datetime.now(UTC)
    stored: list[Feedback] = []
    with ctx.metadata.write() as session:
        if model is not None:
            _require_model(session, model)
            _check_labels_fit(session, model, [label for _, label, _ in clean])
        _check_room(session, model, len(clean), max_unlogged)
        for request_id, label, row in clean:
            feedback_id = session.insert_feedback(
                request_id, label, at=now, actor=actor.name, model=model, row=row
            )
            stored.append(Feedback(feedback_id, request_id, label, now, actor.name, model, row))
    return stored


def feedback(
    ctx: ServiceContext,
    *,
    request_ids: Iterable[str] | None = None,
    since: datetime | None = None,
    model: str | None = None,
) -> list[Feedback]:
    """Feedback in the order it arrived, optionally only for ``request_ids``, given at
    or after ``since``, or sent for ``model``."""
    ctx.require(Permission.READ, "read feedback")
    with ctx.metadata.read() as session:
        return session.list_feedback(
            None if request_ids is None else list(request_ids),
            since=None if since is None else utc(since),
            model=model,
        )


def check_feedback_row(row: object) -> int:
    """``row``, checked as the index of a row in its request a label is for: a whole
    number from 0 to ``MAX_FEEDBACK_ROWS - 1``. A float with no fraction counts (JSON
    has one number type: ``2.0`` is row 2); a boolean does not."""
    value = row.item() if isinstance(row, np.generic) else row
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_FEEDBACK_ROWS:
        raise InvalidInputError(
            "row must be the row's index in its request (0 for the first): a whole number "
            f"from 0 to {MAX_FEEDBACK_ROWS - 1}, not {value!r:.40}"
        )
    return value


def _check_item(item: FeedbackItem) -> tuple[str, str | int | float | bool, int]:
    """One feedback item, checked: its request id, label and row (0 when not given)."""
    parts: tuple[object, ...] = tuple(item) if isinstance(item, tuple | list) else (item,)
    if len(parts) not in (2, 3):
        raise InvalidInputError(
            f"a feedback item is (request_id, label) or (request_id, label, row), not {item!r:.80}"
        )
    request_id, label, row = parts if len(parts) == 3 else (*parts, 0)
    return check_request_id(request_id), _check_label(label), check_feedback_row(row)


def check_request_id(request_id: object) -> str:
    """``request_id`` if a prediction may carry it and feedback may name it: one limit for
    both, so no logged row has an id its label could never be sent for."""
    if not isinstance(request_id, str):
        raise InvalidInputError(
            f"the request id is {json_kind(request_id)}, not a string; give the x-request-id "
            "the prediction returned"
        )
    if not request_id.strip():
        raise InvalidInputError("the request id is empty; give the id the prediction returned")
    if len(request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidInputError(
            f"request id {request_id[:20]!r}… has {len(request_id)} characters; "
            f"request ids have at most {MAX_REQUEST_ID_CHARS}"
        )
    if not request_id.isprintable():
        raise InvalidInputError(
            f"request id {request_id!r} holds control characters; give the id the "
            "prediction returned"
        )
    return request_id


def json_kind(value: object) -> str:
    """What a decoded JSON value is, in JSON's words ("null", "a number", "an array"),
    for messages about a value of the wrong kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def _check_label(label: object) -> str | int | float | bool:
    value = label.item() if isinstance(label, np.generic) else label
    if isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_LABEL_CHARS:
            raise InvalidInputError(
                f"the label has {len(value)} characters; labels have at most {MAX_LABEL_CHARS}"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"the label {value!r} is not a finite number")
        return value
    raise InvalidInputError(
        f"the label {label!r} is a {type(label).__name__}; a label is one string, number or boolean"
    )


def _check_room(session: MetadataSession, model: str | None, adding: int, allowance: int) -> None:
    """Refuses labels that would take ``model``'s beyond the rows of its log plus
    ``allowance``. A label may come before its request is logged (a server writes its log
    in batches) or correct an earlier one, so some labels beyond the log are fine; labels
    for request ids no server answered are not, and without a bound a client could fill
    the database with them. Labels older than the oldest logged prediction are not
    counted: their rows were pruned with the log."""
    logged, oldest = session.logged_rows(model)
    if session.feedback_span() + adding <= logged + allowance:
        return  # every label of every model would fit: no need to count this model's
    held = session.count_feedback(model, since=oldest)
    if held + adding > logged + allowance:
        whose = f"model {model!r}" if model is not None else "feedback naming no model"
        raise ConflictError(
            f"{whose} holds {held} labels for {logged} logged rows; {adding} more would pass "
            f"the {allowance} allowed beyond the log: send labels only for the x-request-id "
            "of predictions the server answered (or raise [serve] feedback_max_unlogged)"
        )


def _check_labels_fit(session: MetadataSession, model: str, labels: list[object]) -> None:
    """Refuses a label no served version of ``model`` could answer (its live, canary or
    shadow version, else its latest): stored, it would replace a valid label of the same
    row and then be ignored by the decay join."""
    from pathtolive.monitoring.decay import label_refusal

    found = session.get_model(model)
    if found is None:
        return
    numbers = {
        found.aliases[role] for role in ("live", "canary", "shadow") if role in found.aliases
    }
    if not numbers and found.latest_version is not None:
        numbers = {found.latest_version}
    outputs = []
    for number in sorted(numbers):
        version = session.get_model_version(model, number)
        if version is None or version.signature is None:
            return  # a version without a signature: nothing to check against
        outputs.append(Signature.from_dict(version.signature).output)
    # Each distinct label once (keyed by type too: True == 1, yet they read differently).
    for label in {(type(label), label): label for label in labels}.values():
        refusals = [label_refusal(label, o.kind, o.classes) for o in outputs]
        if refusals and all(refusals):
            raise InvalidInputError(
                f"the label {label!r:.40} does not fit model {model!r}: {refusals[0]}"
            )


# -- deployments -------------------------------------------------------------------------


def deployment(ctx: ServiceContext, model: str) -> Deployment:
    """The ``live``, ``canary`` and ``shadow`` versions of ``model`` and the canary's
    share of traffic."""
    ctx.require(Permission.READ, "read deployments")
    check_name(model, kind="model")
    with ctx.metadata.read() as session:
        _require_model(session, model)
        found = session.get_deployment(model)
    assert found is not None
    return found


def deployments(ctx: ServiceContext) -> dict[str, Deployment]:
    """Every model's :func:`deployment`, by name, read at once."""
    ctx.require(Permission.READ, "read deployments")
    with ctx.metadata.read() as session:
        return session.deployments()


def canary_share(ctx: ServiceContext, model: str) -> float:
    """The share of ``model``'s requests its canary answers (0 without a canary)."""
    found = deployment(ctx, model)
    return found.canary_share if found.canary is not None else 0.0


def set_deployment(
    ctx: ServiceContext,
    model: str,
    *,
    canary: str | Literal[False] | None = None,
    share: float | None = None,
    shadow: str | Literal[False] | None = None,
    reason: str = "",
    override: str | None = None,
) -> Deployment:
    """Change what the server serves for ``model`` besides its live version.

    ``canary``: a version (``"5"``, ``"@5"``, ``"risk@5"``, ``"risk@staging"``) to answer
    ``share`` of the requests (0 < share < 1; the current share is kept when not given),
    or False to remove the canary. ``share`` alone changes the share of the current
    canary. ``shadow``: a version scored on every request and logged but never returned,
    or False to remove it. Everything changes in one transaction with one audit event
    per alias (``deploy.canary``, ``deploy.shadow``).

    A canary or shadow version needs passing gates (its latest gate report); a canary
    share above ``[models.NAME.promotion] canary_max_share`` is in effect a release, so it
    is refused unless ``live``'s policy is ``auto``: promote instead. An admin may deploy
    despite either with ``override`` (a reason, audited as ``deploy.overridden``)."""
    actor = ctx.require(Permission.WRITE, "change deployments")
    check_name(model, kind="model")
    if override is not None:
        if not override.strip():
            raise InvalidInputError('an override needs a reason: --override "why"')
        actor = ctx.require(Permission.ADMIN, "override the checks of a deployment")
    policy = promotion_config(ctx, model)
    checks = _DeployChecks(policy, override)
    if canary is None and share is None and shadow is None:
        raise InvalidInputError("nothing to change; give a canary, a share or a shadow")
    if share is not None:
        share = _check_share(share)
    if canary is False and share is not None:
        raise InvalidInputError(
            "a share was given while removing the canary; give one or the other"
        )
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        _require_model(session, model)
        current = session.get_deployment(model)
        assert current is not None
        if canary is not None or share is not None:
            _deploy_canary(
                session, actor, current, canary, share, now=now, reason=reason, checks=checks
            )
        if shadow is not None:
            _deploy_shadow(session, actor, current, shadow, now=now, reason=reason, checks=checks)
        if checks.overridden:
            record(
                session,
                actor,
                "deploy.overridden",
                f"model:{model}",
                {"reason": override, "overridden": checks.overridden},
            )
        found = session.get_deployment(model)
    assert found is not None
    return found


def _deploy_canary(
    session: MetadataSession,
    actor: Actor,
    current: Deployment,
    canary: str | Literal[False] | None,
    share: float | None,
    *,
    now: datetime,
    reason: str,
    checks: _DeployChecks,
) -> None:
    name = current.model
    before_share = current.canary_share if current.canary is not None else 0.0
    if canary is False:
        if current.canary is None and before_share == 0:
            return
        if current.canary is not None:
            session.move_alias(name, "canary", None, at=now, actor=actor.name, reason=reason)
        session.set_canary_share(name, 0.0, at=now, actor=actor.name)
        details: dict[str, Any] = {"from": current.canary, "to": None, "share": 0.0}
    else:
        if canary is None:
            if current.canary is None:
                raise InvalidInputError(
                    f"model {name!r} has no canary to give a share to; set one with a "
                    "canary version"
                )
            target = current.canary
        else:
            target = _servable_version(session, current, canary, role="canary").version
        if share is None:
            if not 0 < before_share < 1:
                raise InvalidInputError(
                    "give the canary's share of traffic, a number between 0 and 1 (such as 0.1)"
                )
            share = before_share
        if target == current.canary and share == before_share:
            return
        if target != current.canary or share > before_share:
            checks.gates(session, name, target, "canary")
            checks.share(name, target, share)
        if target != current.canary:
            session.move_alias(name, "canary", target, at=now, actor=actor.name, reason=reason)
        session.set_canary_share(name, share, at=now, actor=actor.name)
        details = {"from": current.canary, "to": target, "share": share}
    details.update({"previous_share": before_share, "reason": reason})
    record(session, actor, "deploy.canary", f"model:{name}", details)


def _deploy_shadow(
    session: MetadataSession,
    actor: Actor,
    current: Deployment,
    shadow: str | Literal[False],
    *,
    now: datetime,
    reason: str,
    checks: _DeployChecks,
) -> None:
    name = current.model
    target = (
        None if shadow is False else _servable_version(session, current, shadow, "shadow").version
    )
    if target == current.shadow:
        return
    if target is not None:
        checks.gates(session, name, target, "shadow")
    session.move_alias(name, "shadow", target, at=now, actor=actor.name, reason=reason)
    record(
        session,
        actor,
        "deploy.shadow",
        f"model:{name}",
        {"from": current.shadow, "to": target, "reason": reason},
    )


class _DeployChecks:
    """What a canary or shadow must pass before the server sends it traffic, and the
    checks an admin's override let through (for the audit event)."""

    def __init__(self, promotion: PromotionConfig, override: str | None) -> None:
        self.promotion = promotion
        self.override = override
        self.overridden: list[str] = []

    def gates(self, session: MetadataSession, model: str, version: int, role: str) -> None:
        """The version's latest gate report must have passed: a canary answers real
        requests and a shadow runs on every one."""
        stored = session.latest_gate_report(model, version)
        if stored is not None and stored.passed:
            return
        ref = f"{model}@{version}"
        if self.override is not None:
            self.overridden.append(f"{role} {ref}: gates not passed")
            return
        if stored is None:
            raise VerificationFailedError(
                f"{ref} has no gate report, and a {role} needs passing gates: run "
                f"'pathtolive gates check {ref}' first"
            )
        failed = ", ".join(r.gate for r in GateReport.from_dict(stored.report).failures)
        raise VerificationFailedError(
            f"{ref} failed its gates ({failed}), and a {role} needs passing gates; improve "
            'the model, or an admin may deploy it with --override "reason"'
        )

    def share(self, model: str, version: int, share: float) -> None:
        """A share above the ceiling is in effect a release: it needs what ``live``'s
        policy asks, which only ``auto`` grants without a person."""
        ceiling = self.promotion.canary_max_share
        policy = self.promotion.policy_for("live")
        if share <= ceiling or policy == "auto":
            return
        if self.override is not None:
            self.overridden.append(f"canary share {share} above {ceiling}")
            return
        raise PermissionDeniedError(
            f"a canary share of {share} is above canary_max_share {ceiling} of {model!r}, "
            f"so it needs live's approval ({policy}): run 'pathtolive promote "
            f"{model}@{version} --to live', or keep the share at most {ceiling}"
        )


def _servable_version(
    session: MetadataSession, current: Deployment, text: str, role: str
) -> ModelVersion:
    """The version ``text`` names for ``role``; it must differ from the live one, which
    must exist, and carry a signature (the server validates requests against it)."""
    name = current.model
    version = resolve_model_version(session, _version_ref(name, text))
    if current.live is None:
        raise ConflictError(
            f"model {name!r} has no live version for a {role} to run beside; promote one first"
        )
    if version.version == current.live:
        raise ConflictError(f"{version.ref} is live already; a {role} must be another version")
    if version.signature is None:
        raise InvalidInputError(
            f"{version.ref} has no signature, so the server cannot check requests against "
            "it; register it again with a sample of its input"
        )
    return version


def _version_ref(model: str, text: str) -> ModelRef:
    """``5``, ``@5``, ``@staging``, ``risk@5``, ``risk@staging`` or ``risk@latest`` for
    model ``risk``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("give a version, such as 5, @5 or risk@5")
    text = text.strip()
    if is_number(text):
        return parse_model_ref(f"{model}@{text}")
    ref = parse_model_ref(f"{model}{text}" if text.startswith("@") else text)
    if ref.name != model:
        raise InvalidInputError(
            f"{text!r} names model {ref.name!r}, not {model!r}; give a version of {model}"
        )
    if ref.version is None and ref.alias is None and not text.endswith("@latest"):
        raise InvalidInputError(f"{text!r}: give a version of {model}, such as {model}@5")
    return ref


def _check_share(share: object) -> float:
    if isinstance(share, bool) or not isinstance(share, int | float | np.number):
        raise InvalidInputError(f"the canary share {share!r} is not a number")
    value = float(share)
    if not 0 < value < 1:
        raise InvalidInputError(
            f"the canary share is {value}; it must be between 0 and 1 (exclusive), such "
            "as 0.1 for a tenth of the requests"
        )
    return value


# -- helpers -----------------------------------------------------------------------------


def _require_model(session: MetadataSession, model: str) -> None:
    if session.model_id(model) is None:
        known = [m.name for m in session.list_models()]
        hint = f"known models: {', '.join(known[:10])}" if known else "there are no models yet"
        raise NotFoundError(f"no model {model!r}; {hint}")
