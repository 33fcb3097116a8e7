"""Domain entities shared by the service layer and the faces.

Frozen dataclasses, separate from database rows (those stay in ``pathtolive.store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pathtolive.display import HtmlDisplay

__all__ = [
    "TRIGGER_VECTORS",
    "Alert",
    "AliasMove",
    "Approval",
    "AuditEvent",
    "BatchJob",
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "Feedback",
    "Lease",
    "Metric",
    "Model",
    "ModelVersion",
    "MonitorResult",
    "MonitorWindowKey",
    "PredictionSegment",
    "Promotion",
    "Run",
    "RunStep",
    "SchemaVersion",
    "StoredGateReport",
    "Token",
    "Trigger",
]


@dataclass(frozen=True)
class Dataset:
    """A named table whose versions share one data contract."""

    name: str
    created_at: datetime
    created_by: str
    latest_version: int | None = None
    schema_version: int | None = None


@dataclass(frozen=True)
class DatasetVersion(HtmlDisplay):
    """One immutable, content-addressed version of a dataset."""

    dataset: str
    version: int
    content_hash: str
    parent_version: int | None
    schema_version: int
    source: str
    source_format: str
    author: str
    created_at: datetime
    rows: int
    bytes: int
    validation_status: str  # "inferred" | "passed" | "warned" | "accepted"
    profile: dict[str, Any] = field(repr=False)
    validation: dict[str, Any] | None = field(default=None, repr=False)
    # The tombstone of an erased version: its bytes are gone, its metadata stays.
    forgotten_at: datetime | None = None
    forgotten_by: str | None = None
    forgotten_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def forgotten(self) -> bool:
        return self.forgotten_at is not None


@dataclass(frozen=True)
class SchemaVersion:
    """A version of a dataset's data contract."""

    dataset: str
    version: int
    schema: dict[str, Any] = field(repr=False)
    change_kind: str  # "initial" | "compatible" | "breaking"
    changes: list[dict[str, Any]]
    created_at: datetime
    created_by: str
    reason: str = ""


@dataclass(frozen=True)
class AuditEvent:
    """One link of the hash-chained audit trail."""

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Token:
    """An API token as stored: never the secret, only its hash and who it speaks for."""

    token_id: str
    principal: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    description: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Run(HtmlDisplay):
    """One execution that produced (or tried to produce) a model: a pipeline run, a model
    registered from a notebook, or an import."""

    run_id: str
    kind: str  # "pipeline" | "notebook" | "import"
    pipeline: str | None
    status: str  # "running" | "succeeded" | "failed" | "cancelled" ("failed" also when lost)
    actor: str
    started_at: datetime
    finished_at: datetime | None
    code_commit: str | None
    code_dirty: bool
    code_diff_hash: str | None
    pipelines_hash: str | None
    environment_digest: str | None
    params: dict[str, Any]
    inputs: dict[str, str]  # pipeline parameter -> dataset version ref, e.g. "loans@2"
    outputs: dict[str, Any] | None = None
    graph: dict[str, Any] | None = None
    error: str | None = None
    reproduces: str | None = None
    heartbeat_at: datetime | None = None
    """When the process running it last said it was alive (pipeline runs)."""


@dataclass(frozen=True)
class RunStep:
    """One step call of a run, as recorded when it ended."""

    position: int
    name: str
    cache_key: str
    cached: bool
    output_digest: str | None
    status: str
    started_at: datetime
    seconds: float
    logs: str
    error: str | None


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int | None
    timestamp: float


@dataclass(frozen=True)
class Model:
    """A named model; its versions are numbered from 1."""

    name: str
    created_at: datetime
    created_by: str
    latest_version: int | None
    aliases: dict[str, int]


@dataclass(frozen=True)
class ModelVersion(HtmlDisplay):
    """An immutable model version: artifact (by digest), flavor, signature, metrics and
    the run it came from."""

    model: str
    version: int
    artifact_digest: str
    artifact_bytes: int
    flavor: str
    trusted_types: tuple[str, ...]
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    run_id: str
    source: str  # "run" | "notebook" | "imported"
    description: str
    tags: dict[str, str]
    created_at: datetime
    created_by: str
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias (``to_version`` None: the alias was removed)."""

    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    at: datetime
    actor: str
    reason: str


@dataclass(frozen=True)
class StoredGateReport:
    """A gate report as kept with a model version."""

    report_id: int
    model: str
    version: int
    passed: bool
    report: dict[str, Any] = field(repr=False)
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Approval:
    approver: str
    decision: str  # "approve" | "refuse"
    comment: str
    at: datetime


@dataclass(frozen=True)
class Promotion:
    """A request to move an alias to a model version, and what became of it."""

    promotion_id: int
    model: str
    version: int
    alias: str
    policy: str  # "auto" | "approval" | "four-eyes"
    status: str  # "pending" | "applied" | "refused" | "withdrawn"
    requested_by: str
    requested_at: datetime
    reason: str
    override_reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    gate_report_id: int | None
    approvals: tuple[Approval, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Deployment:
    """What the server serves for a model: the ``live`` version, an optional ``canary``
    with its share of the traffic, and an optional ``shadow`` scored on the same requests
    and logged but never returned. ``updated_at``/``updated_by`` tell who last set the
    share (None when it was never set)."""

    model: str
    live: int | None
    canary: int | None
    canary_share: float
    shadow: int | None
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class PredictionSegment:
    """One Parquet file of a model version's prediction log, kept in the ArtifactStore
    under ``artifact_digest``; ``first_at``..``last_at`` bound its predictions' times."""

    segment_id: int
    model: str
    version: int
    artifact_digest: str
    rows: int
    first_at: datetime
    last_at: datetime
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Feedback:
    """The true label of a served prediction, attached later by its request id and, for a
    batch request, the ``row`` of it the label is for (0, the first)."""

    feedback_id: int
    request_id: str
    label: Any  # a JSON scalar: str, int, float or bool
    at: datetime
    actor: str
    model: str | None = None
    row: int = 0


@dataclass(frozen=True)
class Alert:
    """Something monitoring found wrong with a live model. ``kind`` is ``drift``,
    ``prediction_drift`` or ``decay``; ``key`` names what is alerted on (``drift:mileage``):
    at most one alert per model and key is ``open`` at a time, refreshed (``last_seen_at``,
    ``message``, ``details``) while the problem lasts and ``cleared`` once it is gone.
    ``delivered_at`` is when a webhook receiver took it (None until then).

    An alert for a model with a webhook waits in the outbox until a receiver answers 2xx:
    ``delivery_id`` is sent with every attempt (receivers drop duplicates by it),
    ``delivery_due_at`` is when the next attempt is due (None once delivered, or when no
    delivery was asked for), ``delivery_error`` what the last attempt got."""

    alert_id: int
    model: str
    kind: str
    key: str
    status: str
    message: str
    details: dict[str, Any]
    opened_at: datetime
    last_seen_at: datetime
    cleared_at: datetime | None
    delivered_at: datetime | None
    delivery_attempts: int
    delivery_id: str | None = None
    delivery_due_at: datetime | None = None
    delivery_error: str | None = None

    @property
    def delivery(self) -> str:
        """``delivered``, ``pending`` (in the outbox: not yet attempted or answered 2xx)
        or ``""`` (no webhook delivery was asked for)."""
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.delivery_due_at is not None else ""


TRIGGER_VECTORS: dict[str, str] = {
    "code": "code",
    "new_data": "data",
    "schema": "schema",
    "drift": "drift",
    "decay": "decay",
    "schedule": "schedule",
    "config": "config",
    "manual": "manual",
}
"""The vector of change each trigger kind stands for: the pipeline's code, the data, the
data's contract (new data whose schema changed), drift, decay, a cron slot, the model's
gate and policy settings, a person."""


@dataclass(frozen=True)
class Trigger:
    """What starts a release of ``model`` and what became of it. ``kind`` is one of
    :data:`TRIGGER_VECTORS` (``new_data``, ``schema``, ``code``, ``drift``, ``decay``,
    ``schedule``, ``config``, ``manual``); ``dedupe_key`` makes creating one idempotent
    (``new_data:loans@4``, ``alert:17``). ``status`` goes ``pending`` → ``running``
    (claimed by the controller ``holder``) → ``done`` or ``failed``; ``run_id``,
    ``model_version`` and ``decision`` tell how far it got."""

    trigger_id: int
    model: str
    kind: str
    cause: str
    dedupe_key: str
    status: str
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
    holder: str | None
    run_id: str | None
    model_version: int | None
    decision: str
    error: str | None
    attempts: int
    next_attempt_at: datetime | None = None
    """When a pending trigger whose release failed is tried again (None: at once)."""

    @property
    def vector(self) -> str:
        """The vector of change that started it (see :data:`TRIGGER_VECTORS`)."""
        return TRIGGER_VECTORS.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        """Every field, and the :attr:`vector` (plain values; datetimes as they are)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["vector"] = self.vector
        return data


@dataclass(frozen=True)
class Lease:
    """A named lock held by ``holder`` until ``expires_at`` unless renewed.
    ``generation`` is its fencing token: it grows each time the lease passes to a
    holder, never on a renewal."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime
    generation: int = 1


@dataclass(frozen=True)
class MonitorWindowKey:
    """Where a stored monitor result lies in time, without its figures: what is read of
    many windows to choose the few a page shows."""

    result_id: int
    start: datetime
    end: datetime
    step_seconds: float


@dataclass(frozen=True)
class MonitorResult:
    """What ``monitor`` found in one window of ``model@version``: the live and canary
    ``rows`` in it, the ``labelled`` ones among them, the number of ``drifted`` features,
    ``summary`` (the figures per feature and the window's metric, plain JSON types; see
    :mod:`pathtolive.monitoring.stored`) and ``histograms`` (the reference and live
    histogram per feature; empty unless asked for). ``step_seconds`` is how far apart the
    look's windows were: its series' step, else the window's length."""

    model: str
    version: int
    start: datetime
    end: datetime
    step_seconds: float
    computed_at: datetime
    rows: int
    labelled: int
    drifted: int
    summary: dict[str, Any]
    histograms: dict[str, Any] = field(default_factory=dict)
    result_id: int = 0


@dataclass(frozen=True)
class BatchJob:
    """One run of ``pathtolive score``: ``model@version`` scored ``input_ref`` (a dataset
    version ``name@N``, or a file, folder or prefix) whose content hash is
    ``input_hash``, into ``output``. ``status`` is ``running``, ``succeeded`` or
    ``failed`` (with ``error``); a rerun under the same ``job_id`` updates it."""

    job_id: str
    model: str
    version: int
    input_ref: str
    input_hash: str | None
    output: str
    status: str
    partitions: int
    rows_in: int
    rows_out: int
    created_by: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def model_ref(self) -> str:
        return f"{self.model}@{self.version}"
