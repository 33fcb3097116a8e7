"""The append-only, hash-chained audit trail (domain logic)."""

from pathtolive.audit.chain import GENESIS_HASH, ChainReport, event_hash, seal, verify_chain

__all__ = ["GENESIS_HASH", "ChainReport", "event_hash", "seal", "verify_chain"]
