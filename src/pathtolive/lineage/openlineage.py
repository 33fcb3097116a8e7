"""OpenLineage run events (https://openlineage.io/spec) for users who run a lineage server.

Each pathtolive run becomes a START and a COMPLETE (or FAIL / ABORT) event whose inputs are
the dataset versions it read and whose outputs are the model versions it registered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pathtolive.entities import ModelVersion, Run

__all__ = ["PRODUCER", "SCHEMA_URL", "run_events"]

PRODUCER = "https://github.com/pathtolive/pathtolive"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_VERSION_FACET_URL = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
_END = {"succeeded": "COMPLETE", "failed": "FAIL", "cancelled": "ABORT"}


def _facet(schema_url: str, **fields: Any) -> dict[str, Any]:
    """A facet: who produced it, the schema it follows, then its own fields."""
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **fields}


def _run_uuid(run_id: str) -> str:
    # OpenLineage wants a UUID; pathtolive run ids are 32 hex digits, i.e. one already.
    try:
        return str(uuid.UUID(hex=run_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pathtolive:run:{run_id}"))


def run_events(
    run: Run,
    *,
    namespace: str,
    dataset_hashes: dict[str, str],
    outputs: Sequence[ModelVersion] = (),
) -> list[dict[str, Any]]:
    """The START and end events of ``run``. ``dataset_hashes`` maps each input ref
    (``loans@2``) to its content hash, recorded as a dataset version facet."""
    job = {"namespace": namespace, "name": run.pipeline or f"{run.kind}-run"}
    inputs = [
        {
            "namespace": namespace,
            "name": ref.partition("@")[0],
            "facets": {
                "version": _facet(_VERSION_FACET_URL, datasetVersion=ref.partition("@")[2]),
                "pathtolive": _facet(
                    SCHEMA_URL, contentHash=dataset_hashes.get(ref), parameter=parameter
                ),
            },
        }
        for parameter, ref in sorted(run.inputs.items())
    ]
    run_facets: dict[str, Any] = {
        "pathtolive": _facet(
            SCHEMA_URL,
            runId=run.run_id,
            kind=run.kind,
            actor=run.actor,
            params=run.params,
            codeCommit=run.code_commit,
            codeDirty=run.code_dirty,
            environment=run.environment_digest,
        )
    }
    base = {"producer": PRODUCER, "schemaURL": SCHEMA_URL, "job": job}
    start = {
        **base,
        "eventType": "START",
        "eventTime": run.started_at.isoformat(),
        "run": {"runId": _run_uuid(run.run_id), "facets": run_facets},
        "inputs": inputs,
        "outputs": [],
    }
    events = [start]
    if run.status in _END and run.finished_at is not None:
        events.append(
            {
                **base,
                "eventType": _END[run.status],
                "eventTime": run.finished_at.isoformat(),
                "run": {"runId": _run_uuid(run.run_id), "facets": run_facets},
                "inputs": inputs,
                "outputs": [
                    {
                        "namespace": namespace,
                        "name": f"model/{version.model}",
                        "facets": {
                            "version": _facet(
                                _VERSION_FACET_URL, datasetVersion=str(version.version)
                            )
                        },
                    }
                    for version in outputs
                ],
            }
        )
    return events
