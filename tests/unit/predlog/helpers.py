"""A sink that keeps segments in memory, and prediction records of loan applications."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pathtolive.predlog import PredictionRecord, read_predictions

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@dataclass
class Segment:
    model: str
    version: int
    parquet: bytes
    rows: int
    first_at: datetime
    last_at: datetime


@dataclass
class CollectingSink:
    """Keeps every segment; fails the first ``failures`` writes."""

    failures: int = 0
    segments: list[Segment] = field(default_factory=list)
    calls: int = 0
    written: threading.Event = field(default_factory=threading.Event)
    during_write: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(
        self,
        model: str,
        version: int,
        parquet: bytes,
        rows: int,
        first_at: datetime,
        last_at: datetime,
    ) -> None:
        with self._lock:
            self.calls += 1
            failing = self.failures > 0
            if failing:
                self.failures -= 1
        if self.during_write is not None:
            self.during_write()
        if failing:
            raise OSError("disk full")
        with self._lock:
            self.segments.append(Segment(model, version, parquet, rows, first_at, last_at))
        self.written.set()

    def frame(self) -> pd.DataFrame:
        return read_predictions(segment.parquet for segment in self.segments)

    @property
    def rows(self) -> int:
        return sum(segment.rows for segment in self.segments)


def loans(rows: int, start: int = 0) -> pd.DataFrame:
    """Loan applications with a numeric, an integer, a text and a PII column."""
    index = np.arange(start, start + rows)
    return pd.DataFrame(
        {
            "amount": 1000.0 + index * 12.5,
            "term": (12 * (1 + index % 5)).astype(np.int64),
            "purpose": np.where(index % 2 == 0, "car", "home"),
            "email": [f"user{i}@example.com" for i in index],
        }
    )


def record(
    request_id: str,
    rows: int = 1,
    *,
    model: str = "risk",
    version: int = 1,
    at: datetime = T0,
    outputs: list[Any] | None = None,
    inputs: pd.DataFrame | None = None,
    role: str = "live",
) -> PredictionRecord:
    frame = loans(rows) if inputs is None else inputs
    return PredictionRecord(
        request_id=request_id,
        at=at,
        model=model,
        version=version,
        trained_on=("loans@3", "regions@1"),
        protocol="v1",
        role=role,
        latency_ms=2.5,
        inputs=frame,
        outputs=[[0.25, 0.75]] * len(frame) if outputs is None else outputs,
    )
