"""In-memory fakes for the seams the service owns (artifact store, step cache, metric
sink), and a helper that writes workspace files."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from pathtolive.errors import NotFoundError
from pathtolive.hashing import hash_bytes
from pathtolive.pipelines import (
    Compute,
    Dataset,
    Metric,
    ObjectStore,
    Pipeline,
    RemoteSteps,
    RunOutcome,
    StepRecord,
    StepReply,
    StepTask,
    execute,
    run_step_task,
)
from pathtolive.store.artifacts.base import ObjectInfo
from pathtolive.store.artifacts.local import LocalArtifactStore


class MemoryStore:
    """Content-addressed bytes in a dict, like the artifact store."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, data: bytes) -> ObjectInfo:
        digest = hash_bytes(data)
        created = digest not in self.objects
        self.objects[digest] = data
        return ObjectInfo(digest, len(data), created)

    def get_bytes(self, digest: str) -> bytes:
        if digest not in self.objects:
            raise NotFoundError(f"object {digest} is not in the store")
        return self.objects[digest]


class MemoryCache:
    """Cache key → (step name, output digest)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str]] = {}

    def lookup(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def remember(self, key: str, step_name: str, digest: str) -> None:
        self.entries[key] = (step_name, digest)


class MemorySink:
    """Metrics and params as the service would persist them, with the flush count."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: dict[str, Any] = {}
        self.flushes = 0

    def add_metrics(self, metrics: Sequence[Metric]) -> None:
        self.metrics.extend(metrics)

    def add_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def flush(self) -> None:
        self.flushes += 1


@dataclass(frozen=True)
class FolderOpener:
    """Opens the local artifact store in ``path``, as a worker would."""

    path: Path

    def open(self) -> LocalArtifactStore:
        return LocalArtifactStore(self.path)


class InProcessRemote:
    """Runs step tasks as a Dask worker does (the task pickled with cloudpickle and
    loaded again, the store opened afresh), in this process; keeps the tasks it got."""

    def __init__(self, opener: FolderOpener) -> None:
        self.opener = opener
        self.tasks: list[StepTask] = []

    def run(self, task: StepTask) -> StepReply:
        self.tasks.append(task)
        travelled: StepTask = cloudpickle.loads(cloudpickle.dumps(task))
        return run_step_task(travelled, self.opener)


@dataclass
class Runs:
    """One workspace's stores, shared by the runs of a test."""

    store: ObjectStore = field(default_factory=MemoryStore)
    cache: MemoryCache = field(default_factory=MemoryCache)
    sink: MemorySink = field(default_factory=MemorySink)
    records: list[StepRecord] = field(default_factory=list)

    def run(
        self,
        pipeline: Pipeline[..., Any],
        data: Mapping[str, Dataset] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        use_cache: bool = True,
        code_digest: str | None = None,
        compute: Compute = "local",
        remote: RemoteSteps | None = None,
    ) -> RunOutcome:
        return execute(
            pipeline,
            data=data or {},
            params=params or {},
            store=self.store,
            cache=self.cache,
            sink=self.sink,
            use_cache=use_cache,
            on_step=self.records.append,
            code_digest=code_digest,
            compute=compute,
            remote=remote,
        )


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (relative path → source, dedented) under ``root``; return root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root
