"""Lineage answers, both ways: a model version back to its run, code, params, environment
and data; a dataset version forward to the runs and model versions it fed."""

from __future__ import annotations

from typing import Any

from pathtolive.auth import Permission
from pathtolive.entities import BatchJob, DatasetVersion, Run, StoredGateReport
from pathtolive.errors import InvalidInputError
from pathtolive.faces import spelled
from pathtolive.lineage import LineageNode, run_events
from pathtolive.refs import NAME_PATTERN
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.named_holdout import holdout_record

__all__ = ["dataset_lineage", "lineage", "model_lineage", "openlineage_events"]


def lineage(ctx: ServiceContext, ref: str, *, reverse: bool = False) -> LineageNode:
    """``ref`` names a model version (forward) or, with ``reverse``, a dataset version."""
    if reverse:
        return dataset_lineage(ctx, ref)
    name = ref.partition("@")[0]
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(f"{ref!r} is not a model or dataset reference")
    with ctx.metadata.read() as session:
        is_model = session.model_id(name) is not None
        is_dataset = session.dataset_id(name) is not None
    if not is_model and is_dataset:
        raise InvalidInputError(
            f"{name!r} is a dataset: its lineage runs forward, use "
            + spelled(f"--reverse (pathtolive lineage {ref} --reverse)", "reverse=True")
        )
    return model_lineage(ctx, ref)


def model_lineage(ctx: ServiceContext, ref: str, *, parents: int | None = None) -> LineageNode:
    """Model version ``ref`` back to its run and data; with ``parents``, each dataset
    version's ancestry stops after that many parents (a page shows the nearest ones; a
    dataset of many versions would otherwise cost a read per version)."""
    version = model_service.model_version(ctx, ref)
    with ctx.metadata.read() as session:
        run = session.get_run(version.run_id)
        environment = (
            None
            if run is None or run.environment_digest is None
            else session.environment(run.environment_digest)
        )
    assert run is not None
    model_node_attributes: dict[str, Any] = {
        "flavor": version.flavor,
        "artifact": version.artifact_digest[:12],
        "source": version.source,
        "aliases": ", ".join(version.aliases),
        "metrics": _metrics_text(version.metrics),
        "by": version.created_by,
    }
    with ctx.metadata.read() as session:
        jobs = session.list_batch_jobs(
            model=version.model, version=version.version, limit=SHOWN_BATCH_JOBS
        )
        report = session.latest_gate_report(version.model, version.version)
    judged = () if report is None else _judged_node(report)
    return LineageNode(
        "model",
        version.ref,
        model_node_attributes,
        (_run_node(ctx, run, environment, parents), *judged, *map(_batch_job_node, jobs)),
    )


def _judged_node(report: StoredGateReport) -> tuple[LineageNode, ...]:
    """The dataset version the latest gates judged the model on, and who chose it."""
    judged = holdout_record(report.report)
    if not judged.get("dataset"):
        return ()
    return (
        LineageNode(
            "judged-on",
            str(judged["dataset"]),
            {
                "holdout": "the run's own test split"
                if judged.get("named") is None
                else f"named as {judged['named']}",
                "chosen by": judged.get("chosen_by"),
                "rows": judged.get("rows"),
                "training data": ", ".join(judged.get("training") or ()) or "unknown",
                "checked by": report.created_by,
                "at": report.created_at.isoformat(timespec="seconds"),
                "passed": report.passed,
            },
        ),
    )


SHOWN_BATCH_JOBS = 20
"""The newest batch jobs a lineage shows of a model version or dataset version (``score
list`` shows them all)."""


def _batch_job_node(job: BatchJob) -> LineageNode:
    """A batch-scoring job: which model scored which input into which output."""
    return LineageNode(
        "batch-job",
        job.job_id,
        {
            "model": job.model_ref,
            "input": job.input_ref,
            "input_hash": (job.input_hash or "")[:12],
            "output": job.output,
            "rows": job.rows_out,
            "status": job.status,
            "by": job.created_by,
            "at": job.started_at.isoformat(timespec="seconds"),
        },
    )


def _run_node(
    ctx: ServiceContext, run: Run, environment: dict[str, Any] | None, parents: int | None
) -> LineageNode:
    children: list[LineageNode] = []
    if run.kind == "imported":
        mlflow = run.params.get("mlflow", {})
        children.append(
            LineageNode(
                "imported",
                "from an MLflow model folder" if "mlflow" in run.params else "from a file",
                {
                    "folder": run.params.get("folder"),
                    "file": run.params.get("file"),
                    "mlflow run": mlflow.get("run_id") if isinstance(mlflow, dict) else None,
                    "mlflow": mlflow.get("mlflow_version") if isinstance(mlflow, dict) else None,
                },
            )
        )
    else:
        code = "no git commit" if run.code_commit is None else run.code_commit[:12]
        if run.code_dirty and run.code_diff_hash:
            code += f" + changes {run.code_diff_hash[:8]}"
        children.append(
            LineageNode(
                "code",
                code,
                {
                    "dirty": run.code_dirty,
                    "pipelines": None if run.pipelines_hash is None else run.pipelines_hash[:12],
                },
            )
        )
    if run.params:
        children.append(
            LineageNode("params", ", ".join(f"{k}={v}" for k, v in sorted(run.params.items())))
        )
    if environment is not None:
        children.append(
            LineageNode(
                "environment",
                environment["digest"][:12],
                {
                    "python": environment["python"],
                    "platform": environment["platform"],
                    "packages": len(environment["packages"]),
                },
            )
        )
    for parameter, ref in sorted(run.inputs.items()):
        version = dataset_service.get_version(ctx, ref)
        children.append(_dataset_node(ctx, version, parameter, parents))
    label = run.run_id[:12]
    return LineageNode(
        "run",
        label,
        {
            "kind": run.kind,
            "pipeline": run.pipeline,
            "status": run.status,
            "by": run.actor,
            "started": run.started_at.isoformat(timespec="seconds"),
        },
        tuple(children),
    )


def _dataset_node(
    ctx: ServiceContext, version: DatasetVersion, parameter: str, parents: int | None
) -> LineageNode:
    chain: list[LineageNode] = []
    parent = version.parent_version
    while parent is not None:
        if parents is not None and len(chain) >= parents:
            chain.append(
                LineageNode(
                    "parent",
                    f"{version.dataset}@{parent}",
                    {"and earlier": "its ancestors are on the dataset's page"},
                )
            )
            break
        earlier = dataset_service.get_version(ctx, f"{version.dataset}@{parent}")
        chain.append(
            LineageNode("parent", earlier.ref, {"source": earlier.source, "by": earlier.author})
        )
        parent = earlier.parent_version
    return LineageNode(
        "data",
        version.ref,
        {
            "parameter": parameter,
            "hash": version.content_hash[:12],
            "rows": version.rows,
            "source": version.source,
            "by": version.author,
            "schema": f"v{version.schema_version}",
            "validation": version.validation_status,
            **_erasure(version),
        },
        tuple(chain),
    )


def _erasure(version: DatasetVersion) -> dict[str, Any]:
    """The tombstone of an erased version, as lineage shows it (nothing for a kept one)."""
    if version.forgotten_at is None:
        return {}
    return {
        "erased": version.forgotten_at.isoformat(timespec="seconds"),
        "erased_by": version.forgotten_by,
        "erased_reason": version.forgotten_reason,
    }


def dataset_lineage(ctx: ServiceContext, ref: str) -> LineageNode:
    """Every run that read this dataset version and every model version those runs made."""
    version = dataset_service.get_version(ctx, ref)
    ctx.require(Permission.READ, "read lineage")
    with ctx.metadata.read() as session:
        runs = session.runs_using_dataset(version.dataset, version.version)
        models = {run.run_id: session.model_versions_of_run(run.run_id) for run in runs}
        jobs = session.list_batch_jobs(input_ref=version.ref, limit=SHOWN_BATCH_JOBS)
    run_nodes = tuple(
        LineageNode(
            "run",
            run.run_id[:12],
            {"kind": run.kind, "pipeline": run.pipeline, "status": run.status, "by": run.actor},
            tuple(
                LineageNode(
                    "model",
                    mv.ref,
                    {
                        "aliases": ", ".join(mv.aliases),
                        "metrics": _metrics_text(mv.metrics),
                        **(
                            {"trained_on_erased_data": version.ref}
                            if version.forgotten_at is not None
                            else {}
                        ),
                    },
                )
                for mv in models[run.run_id]
            ),
        )
        for run in runs
    )
    return LineageNode(
        "data",
        version.ref,
        {"hash": version.content_hash[:12], "rows": version.rows, **_erasure(version)},
        (*run_nodes, *map(_batch_job_node, jobs)),
    )


def openlineage_events(ctx: ServiceContext, node: LineageNode) -> list[dict[str, Any]]:
    """OpenLineage RunEvents for every run in a lineage tree."""
    namespace = f"pathtolive://{ctx.settings.root.name}"
    events: list[dict[str, Any]] = []
    with ctx.metadata.read() as session:
        run_ids = [
            run.run_id
            for run in session.list_runs(limit=100_000)
            if any(n.kind == "run" and run.run_id.startswith(n.label) for n in node.walk())
        ]
        for run_id in run_ids:
            run = session.get_run(run_id)
            assert run is not None
            hashes = {}
            for ref in run.inputs.values():
                name, _, number = ref.partition("@")
                dataset_version = session.get_version(name, int(number))
                if dataset_version is not None:
                    hashes[ref] = dataset_version.content_hash
            events.extend(
                run_events(
                    run,
                    namespace=namespace,
                    dataset_hashes=hashes,
                    outputs=session.model_versions_of_run(run_id),
                )
            )
    return events


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.4g}" for key, value in sorted(metrics.items())[:4])
