"""The append-only, hash-chained audit trail (domain logic), and the signed checkpoints
that anchor it outside the database (:mod:`pathtolive.audit.checkpoint`, imported where
it is used: it loads ``cryptography``, which most commands never need)."""

from pathtolive.audit.chain import (
    GENESIS_HASH,
    ChainReport,
    CorruptEvent,
    event_from_row,
    event_hash,
    seal,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "CorruptEvent",
    "event_from_row",
    "event_hash",
    "seal",
    "verify_chain",
]
