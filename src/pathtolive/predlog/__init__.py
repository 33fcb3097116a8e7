"""The prediction log: every served prediction, with its request id, time, inputs (PII
hashed or redacted), output, model version and lineage, kept as Parquet segments.

- :mod:`~pathtolive.predlog.segment`: the segment columns, :func:`encode_segment` and
  :func:`read_predictions`;
- :mod:`~pathtolive.predlog.logger`: :class:`PredictionLogger`, which queues records
  without blocking and writes them in segments from one background thread;
- :mod:`~pathtolive.predlog.journal`: the crash journal, one line per request on disk
  before the server answers;
- :mod:`~pathtolive.predlog.replay`: recovery, the journals of stopped processes written
  to the log exactly once.

The service layer stores the segments (:class:`SegmentSink`) and reads them back.
"""

from __future__ import annotations

from pathtolive.predlog.journal import JOURNAL_SUFFIX, prune_journals
from pathtolive.predlog.logger import LoggerStats, PiiColumns, PredictionLogger
from pathtolive.predlog.replay import LoggedRows, Recovery
from pathtolive.predlog.segment import (
    FIXED_COLUMNS,
    INPUT_PREFIX,
    PiiMode,
    PredictionRecord,
    SegmentSink,
    encode_segment,
    read_predictions,
)

__all__ = [
    "FIXED_COLUMNS",
    "INPUT_PREFIX",
    "JOURNAL_SUFFIX",
    "LoggedRows",
    "LoggerStats",
    "PiiColumns",
    "PiiMode",
    "PredictionLogger",
    "PredictionRecord",
    "Recovery",
    "SegmentSink",
    "encode_segment",
    "prune_journals",
    "read_predictions",
]
