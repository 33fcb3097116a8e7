"""What the step cache points at: a step's output digest and what the step logged.

A cached step is not run, yet a run that loads it must report the same metrics as the run
that computed it. So the cache key leads to a small JSON object, kept in the artifact
store next to the output, that names the output by digest and lists the metrics and
params the step logged (without times: they are stamped again when replayed). The output
itself stays a plain step output whose digest depends on its value alone, so a step with
a byte-identical output still leaves the steps after it cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pathtolive.errors import InvalidInputError
from pathtolive.hashing import is_digest
from pathtolive.pipelines.canonical import canonical_json

__all__ = ["StepResult"]

_FORMAT = "pathtolive.step-result"
_VERSION = 1


@dataclass(frozen=True)
class StepResult:
    """A step's output digest, and the metrics (key, value, iteration) and params it
    logged, in order."""

    output_digest: str
    metrics: tuple[tuple[str, float, int | None], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same result always gives the same bytes."""
        return canonical_json(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "output": self.output_digest,
                "metrics": [list(metric) for metric in self.metrics],
                "params": dict(self.params),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> StepResult:
        """Inverse of :meth:`to_bytes`; ``InvalidInputError`` for anything else."""
        try:
            body = json.loads(data)
            if body["format"] != _FORMAT or body["version"] != _VERSION:
                raise ValueError(f"format {body['format']!r} version {body['version']!r}")
            output = body["output"]
            if not isinstance(output, str) or not is_digest(output):
                raise ValueError(f"bad output digest {output!r}")
            metrics = tuple(
                (str(key), float(value), None if step is None else int(step))
                for key, value, step in body["metrics"]
            )
            params = dict(body["params"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"not a pathtolive step result: {exc}") from exc
        return cls(output, metrics, params)
