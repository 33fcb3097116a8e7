"""Domain entities shared by the service layer and the faces.

Frozen dataclasses, separate from database rows (those stay in ``pathtolive.store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AuditEvent",
    "Dataset",
    "DatasetVersion",
    "SchemaVersion",
    "Token",
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
class DatasetVersion:
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

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


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
