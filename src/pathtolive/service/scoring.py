"""Batch scoring: ``pathtolive score MODEL INPUT --out OUTPUT``.

A job scores every row of its input (a dataset version, a Parquet or CSV file, or a
folder or prefix of them) with one model version, into a Parquet folder. The input is
cut into partitions (a file each, or a Parquet file's row groups); each is scored by
:func:`~pathtolive.service.scoring_parts.score_partition`, here one after the other in
Arrow batches (memory flat in the input's size), or on a Dask cluster's workers when a
scheduler is named.

The output is committed only when complete: parts are written under the job's temporary
prefix ``OUTPUT/_tmp-<job>/``, each renamed into place when whole and noted beside it
once its log segments are recorded; when every partition is done the parts move to
``OUTPUT/`` and ``_manifest.json`` (parts, rows, digests) is written last. Readers that
skip names starting with ``_`` (pyarrow, pandas, Spark) never see a temporary part. A
rerun under the same ``--job-id`` skips the partitions already noted.

A job is an entity (``batch_jobs``): its model version, its input (a dataset version, or
the content hash of the files read), its output, its row counts, who ran it and when;
audited as ``score.started`` and ``score.finished`` or ``score.failed``.

Scored rows go to the prediction log with the role ``batch``, sampled by ``[serve]
log_sample`` and with PII hashed or redacted by ``[serve] pii`` as online. A batch row's
request id is its id column's value (several id columns joined by ``:``), so feedback
names a row by its id (``pathtolive feedback garage-17 1``) and joins every batch
prediction of that id in the monitored window; without ``--id-column`` it is
``<job>:<partition>:<row>``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pathtolive import env
from pathtolive import progress as progress_events
from pathtolive.auth import Permission
from pathtolive.entities import BatchJob
from pathtolive.errors import InvalidInputError, NotFoundError, PathToLiveError
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.scoring_parts import (
    LogSettings,
    Partition,
    PartResult,
    ScoringSpec,
    SegmentWritten,
    StoreAddress,
    filesystem,
    part_name,
    score_partition,
)

__all__ = [
    "MANIFEST",
    "ScoreResult",
    "batch_job",
    "batch_jobs",
    "job_dict",
    "published_result",
    "score",
]

MANIFEST = "_manifest.json"
"""Written last into the output folder: the job is complete when it is there."""
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATA_SUFFIXES = (".parquet", ".pq", ".csv")


@dataclass(frozen=True)
class ScoreResult:
    job: BatchJob
    parts: int
    skipped: int
    """Partitions a previous run of the same job had finished."""
    manifest: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **job_dict(self.job),
            "parts": self.parts,
            "skipped": self.skipped,
            "manifest": self.manifest,
        }


def score(
    ctx: ServiceContext,
    model: str,
    source: str,
    out: str,
    *,
    id_columns: Sequence[str] = (),
    scheduler: str | None = None,
    job_id: str | None = None,
    fail_once_marker: str | None = None,
) -> ScoreResult:
    """Score every row of ``source`` with ``model`` (``name``, ``name@alias`` or
    ``name@N``) into the Parquet folder ``out`` (see the module)."""
    from pathtolive.service.privacy import configured_pii_columns
    from pathtolive.service.scoring_parts import keep_loaded
    from pathtolive.service.servables import load_servable

    actor = ctx.require(Permission.WRITE, "run batch-scoring jobs")
    source, out = _absolute(source), _absolute(out)
    job_id = _check_job_id(job_id) if job_id else _new_job_id()
    ids = tuple(dict.fromkeys(id_columns))
    from pathtolive.service.models import model_version

    version = model_version(ctx, model)
    servable = load_servable(
        ctx, version.model, version.version, extra_pii=configured_pii_columns(ctx)
    )
    # The local path reuses the model just loaded (and checked); workers load their own.
    keep_loaded(version.artifact_digest, servable.model)
    fs, out_path = filesystem(out, ctx.settings.environ)
    staging = f"{out_path}/_tmp-{job_id}"
    published = _published(fs, out_path, job_id)
    if published is not None:
        return published_result(ctx, job_id, published, out)
    input_ref, input_hash, partitions = _partitions(ctx, source)
    spec = ScoringSpec(
        job_id=job_id,
        version=version,
        trained_on=servable.trained_on,
        id_columns=ids,
        staging=_url(out, staging),
        store=StoreAddress(
            str(ctx.settings.root), ctx.settings.artifact_url, dict(ctx.settings.document)
        ),
        log=_log_settings(ctx, servable.pii_columns),
        fail_once_marker=fail_once_marker,
    )
    fs.makedirs(staging, exist_ok=True)
    done = _finished_parts(fs, staging, partitions)
    started = datetime.now(UTC)
    job = BatchJob(
        job_id=job_id,
        model=version.model,
        version=version.version,
        input_ref=input_ref,
        input_hash=input_hash,
        output=out,
        status="running",
        partitions=len(partitions),
        rows_in=0,
        rows_out=0,
        created_by=actor.name,
        started_at=started,
    )
    with ctx.metadata.write() as session:
        session.start_batch_job(job)
        record(session, actor, "score.started", f"job:{job_id}", _event(job, len(done)))
    pending = [p for p in partitions if p.index not in done]
    results = dict(done)
    total = sum(p.rows or 0 for p in partitions)
    progress_events.stage(
        f"scoring: {len(done)} of {len(partitions)} partitions",
        total=total or None,
    )
    progress_events.advance(sum(r.rows for r in done.values()))
    clock = time.monotonic()
    scored = 0

    def finished(result: PartResult) -> None:
        nonlocal scored
        if result.error is not None:
            raise InvalidInputError(result.error, details={"partition": result.index})
        _record_segments(ctx, version.model, version.version, result.segments)
        _note_part(fs, staging, result)
        results[result.index] = result
        scored += result.rows
        rate = scored / max(time.monotonic() - clock, 1e-6)
        progress_events.note(
            f"scoring: {len(results)} of {len(partitions)} partitions, {rate:,.0f} rows/s"
        )
        progress_events.advance(result.rows)

    from pathtolive.compute import scheduler_address

    address = scheduler_address(scheduler, ctx.settings.document, ctx.settings.environ)
    try:
        if address is None:
            for partition in pending:
                finished(score_partition(spec, partition))
        else:
            _on_cluster(address, spec, pending, finished)
        manifest = _publish(fs, out_path, staging, job, [results[p.index] for p in partitions])
    except BaseException as exc:
        rows = sum(r.rows for r in results.values())
        message = str(exc) if isinstance(exc, PathToLiveError) else type(exc).__name__
        with ctx.metadata.write() as session:
            session.finish_batch_job(
                job_id,
                status="failed",
                rows_in=rows,
                rows_out=rows,
                finished_at=datetime.now(UTC),
                error=message,
            )
            record(session, actor, "score.failed", f"job:{job_id}", {"error": message})
        raise
    rows = sum(r.rows for r in results.values())
    finished_at = datetime.now(UTC)
    with ctx.metadata.write() as session:
        session.finish_batch_job(
            job_id, status="succeeded", rows_in=rows, rows_out=rows, finished_at=finished_at
        )
        record(
            session,
            actor,
            "score.finished",
            f"job:{job_id}",
            {"rows": rows, "parts": len(partitions), "output": out},
        )
        stored = session.get_batch_job(job_id)
    assert stored is not None
    return ScoreResult(stored, len(partitions), len(done), _url(out, manifest))


def published_result(ctx: ServiceContext, job_id: str, manifest: str, out: str) -> ScoreResult:
    job = batch_job(ctx, job_id)
    return ScoreResult(job, job.partitions, job.partitions, _url(out, manifest))


def batch_job(ctx: ServiceContext, job_id: str) -> BatchJob:
    ctx.require(Permission.READ, "read batch jobs")
    with ctx.metadata.read() as session:
        job = session.get_batch_job(job_id)
    if job is None:
        raise NotFoundError(f"no batch job {job_id!r}; see `pathtolive score list`")
    return job


def batch_jobs(
    ctx: ServiceContext,
    *,
    model: str | None = None,
    source: str | None = None,
    limit: int = 100,
) -> list[BatchJob]:
    """Jobs newest first: of ``model`` (``name`` or ``name@N``), or that read ``source``
    (a dataset version, a content hash, or a file or folder, hashed here)."""
    from pathtolive.hashing import is_digest

    ctx.require(Permission.READ, "read batch jobs")
    name, version = None, None
    if model is not None:
        name, _, number = model.partition("@")
        version = int(number) if number.isdigit() else None
    by_hash, by_ref = None, None
    if source is not None:
        if is_digest(source):
            by_hash = source
        elif _looks_like_dataset(source):
            by_ref = source
        else:
            fs, path = filesystem(_absolute(source), ctx.settings.environ)
            if not fs.exists(path):
                raise NotFoundError(f"{source} does not exist; give a file, folder or hash")
            by_hash = _content_hash(fs, path, _data_files(fs, path, source))
    with ctx.metadata.read() as session:
        return session.list_batch_jobs(
            model=name, version=version, input_ref=by_ref, input_hash=by_hash, limit=limit
        )


def job_dict(job: BatchJob) -> dict[str, Any]:
    data = asdict(job)
    data["model_ref"] = job.model_ref
    for key in ("started_at", "finished_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _event(job: BatchJob, skipped: int) -> dict[str, Any]:
    return {
        "model": job.model_ref,
        "input": job.input_ref,
        "input_hash": job.input_hash,
        "output": job.output,
        "partitions": job.partitions,
        "skipped": skipped,
    }


def _check_job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise InvalidInputError(
            f"--job-id {job_id!r}: use up to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return job_id


def _new_job_id() -> str:
    return f"score-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _log_settings(ctx: ServiceContext, pii: frozenset[str]) -> LogSettings:
    serve = ctx.settings.document.get("serve", {})
    serve = serve if isinstance(serve, dict) else {}
    sample = serve.get("log_sample", 1.0)
    if not serve.get("log_predictions", True):
        sample = 0.0
    mode = serve.get("pii", "hash")
    salt = ctx.settings.environ.get(env.PII_SALT)
    return LogSettings(
        sample=float(sample),
        pii_columns=pii,
        pii_mode="redact" if mode == "redact" else "hash",
        salt=salt.encode() if salt else os.urandom(16),
    )


# -- the input ------------------------------------------------------------------------------


def _url(original: str, path: str) -> str:
    """``path`` on the filesystem of ``original`` written as the user would."""
    if "://" in original:
        return f"{original.split('://', 1)[0]}://{path}"
    return path


def _absolute(location: str) -> str:
    """A local path made absolute (the job records where it read and wrote); a URL or a
    dataset version as given."""
    if "://" in location or _looks_like_dataset(location):
        return location
    return os.path.abspath(location)


def _looks_like_dataset(source: str) -> bool:
    return (
        "@" in source and "/" not in source and "://" not in source and not os.path.exists(source)
    )


def _partitions(ctx: ServiceContext, source: str) -> tuple[str, str | None, list[Partition]]:
    """(the input as recorded, its content hash, its partitions)."""
    import pyarrow.parquet as pq

    if _looks_like_dataset(source):
        from pathtolive.data import partitions as stored_partitions
        from pathtolive.service.datasets import check_readable, get_version, record_read

        version = check_readable(get_version(ctx, source))
        if version.source_format == stored_partitions.PARTITIONED_FORMAT:
            # A partitioned version: each of its stored partitions is one partition here.
            entries = stored_partitions.read_manifest(ctx.artifacts.get_bytes(version.content_hash))
            partitions = [
                Partition(
                    index=index,
                    name=f"{version.ref} partition {index}",
                    format="parquet",
                    rows=entry.rows,
                    digest=entry.digest,
                )
                for index, entry in enumerate(entries)
            ]
            record_read(ctx, version, "score")
            return version.ref, version.content_hash, partitions
        local = ctx.artifacts.local_path(version.content_hash)
        metadata = pq.ParquetFile(local).metadata
        partitions = [
            Partition(
                index=group,
                name=f"{version.ref} row group {group}",
                format="parquet",
                rows=metadata.row_group(group).num_rows,
                digest=version.content_hash,
                row_groups=(group,),
            )
            for group in range(metadata.num_row_groups)
        ]
        record_read(ctx, version, "score")
        return version.ref, version.content_hash, partitions
    fs, path = filesystem(source, ctx.settings.environ)
    if not fs.exists(path):
        raise NotFoundError(
            f"{source} is neither a file, a folder nor a dataset version (name@N); check the path"
        )
    files = _data_files(fs, path, source)
    partitions = []
    for file in files:
        url = _url(source, file)
        name = file[len(path) + 1 :] if file != path else os.path.basename(file)
        if file.endswith(".csv"):
            partitions.append(Partition(len(partitions), name, "csv", None, path=url))
            continue
        with fs.open(file, "rb") as handle:
            metadata = pq.ParquetFile(handle).metadata
        groups = range(metadata.num_row_groups) if len(files) == 1 else [None]
        for group in groups:
            partitions.append(
                Partition(
                    len(partitions),
                    name if group is None else f"{name} row group {group}",
                    "parquet",
                    metadata.num_rows if group is None else metadata.row_group(group).num_rows,
                    path=url,
                    row_groups=None if group is None else (group,),
                )
            )
    return source, _content_hash(fs, path, files), partitions


def _data_files(fs: Any, path: str, source: str) -> list[str]:
    if not fs.isdir(path):
        if not path.endswith(_DATA_SUFFIXES):
            raise InvalidInputError(f"{source} is not a .parquet or .csv file")
        return [path]
    files = sorted(
        str(name)
        for name in fs.find(path)
        if str(name).endswith(_DATA_SUFFIXES)
        and not any(part.startswith(("_", ".")) for part in str(name)[len(path) :].split("/"))
    )
    if not files:
        raise InvalidInputError(f"{source} holds no .parquet or .csv files")
    return files


def _content_hash(fs: Any, path: str, files: Sequence[str]) -> str:
    """The input's content hash: a single file's own BLAKE3; for a folder, BLAKE3 over
    each file's relative name and hash, so renaming or changing any file changes it."""
    from pathtolive.hashing import new_hasher

    def file_hash(file: str) -> str:
        hasher = new_hasher()
        with fs.open(file, "rb") as handle:
            for block in iter(lambda: handle.read(8 << 20), b""):
                hasher.update(block)
        return str(hasher.hexdigest())

    if not fs.isdir(path):
        return file_hash(path)
    combined = new_hasher()
    for file in files:
        combined.update(f"{file[len(path) + 1 :]}\0{file_hash(file)}\n".encode())
    return str(combined.hexdigest())


# -- running -------------------------------------------------------------------------------


def _on_cluster(
    address: str,
    spec: ScoringSpec,
    pending: Iterable[Partition],
    finished: Callable[[PartResult], None],
) -> None:
    from distributed import as_completed

    from pathtolive.compute import connect

    with connect(address) as client:
        futures = [
            client.submit(
                score_partition,
                spec,
                partition,
                key=f"score-{spec.job_id}-{partition.index}",
                pure=False,
                retries=2,
            )
            for partition in pending
        ]
        try:
            for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
                finished(future.result())
        finally:
            client.cancel(futures)  # type: ignore[no-untyped-call]


def _record_segments(
    ctx: ServiceContext, model: str, version: int, segments: Sequence[SegmentWritten]
) -> None:
    if not segments:
        return
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        for segment in segments:
            session.insert_prediction_segment(
                model,
                version,
                digest=segment.digest,
                rows=segment.rows,
                first_at=segment.first_at,
                last_at=segment.last_at,
                created_at=now,
            )


def _note_part(fs: Any, staging: str, result: PartResult) -> None:
    """Mark a part finished (its log segments recorded): a rerun skips it."""
    note = {
        "index": result.index,
        "rows": result.rows,
        "part": result.part,
        "digest": result.digest,
    }
    with fs.open(f"{staging}/{result.part}.json", "w") as handle:
        handle.write(json.dumps(note))


def _finished_parts(
    fs: Any, staging: str, partitions: Sequence[Partition]
) -> dict[int, PartResult]:
    done: dict[int, PartResult] = {}
    for partition in partitions:
        part = f"{staging}/{part_name(partition.index)}"
        if fs.exists(f"{part}.json") and fs.exists(part):
            with fs.open(f"{part}.json", "r") as handle:
                note = json.loads(handle.read())
            done[partition.index] = PartResult(
                partition.index, int(note["rows"]), note["part"], note["digest"]
            )
    return done


def _published(fs: Any, out: str, job_id: str) -> str | None:
    """The manifest of ``job_id`` if it was published to ``out`` already; refuses an
    output folder that holds anything else but this job's temporary prefix."""
    manifest = f"{out}/{MANIFEST}"
    if fs.exists(manifest):
        with fs.open(manifest, "r") as handle:
            published = json.loads(handle.read()).get("job_id")
        if published == job_id:
            return manifest
        raise InvalidInputError(
            f"{out} already holds the scores of job {published}; give an empty or new --out"
        )
    if fs.exists(out) and fs.isdir(out):
        others = [
            name
            for name in fs.ls(out, detail=False)
            if not str(name).rstrip("/").rsplit("/", 1)[-1].startswith(f"_tmp-{job_id}")
        ]
        if others:
            raise InvalidInputError(
                f"{out} is not empty; give an empty or new --out (or the --job-id of the "
                "job that was writing there, to finish it)"
            )
    elif fs.exists(out):
        raise InvalidInputError(f"{out} is a file; --out names a folder")
    return None


def _publish(fs: Any, out: str, staging: str, job: BatchJob, results: Sequence[PartResult]) -> str:
    """Move the parts into place and write the manifest last: the commit point."""
    for result in results:
        fs.mv(f"{staging}/{result.part}", f"{out}/{result.part}")
    manifest = {
        "job_id": job.job_id,
        "model": job.model,
        "version": job.version,
        "input": job.input_ref,
        "input_hash": job.input_hash,
        "rows": sum(r.rows for r in results),
        "parts": [
            {"part": r.part, "partition": r.index, "rows": r.rows, "digest": r.digest}
            for r in results
        ],
        "created_at": datetime.now(UTC).isoformat(),
    }
    path = f"{out}/{MANIFEST}"
    with fs.open(f"{staging}/{MANIFEST}", "w") as handle:
        handle.write(json.dumps(manifest, indent=2))
    fs.mv(f"{staging}/{MANIFEST}", path)
    fs.rm(staging, recursive=True)
    return path
