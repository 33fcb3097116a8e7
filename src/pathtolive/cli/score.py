"""``pathtolive score``: batch scoring jobs, and the jobs that ran."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from pathtolive.cli.output import JsonOption, console, emit, table
from pathtolive.cli.state import open_context

if TYPE_CHECKING:
    from pathtolive.entities import BatchJob

__all__ = ["score_app"]


class _RunByDefault(TyperGroup):
    """``pathtolive score MODEL INPUT …`` is ``pathtolive score run MODEL INPUT …``: the
    job is the group's everyday use, ``list`` and ``show`` read what ran."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


score_app = typer.Typer(
    cls=_RunByDefault,
    help="Score a dataset version, file or folder with a model version into a Parquet "
    "folder (pathtolive score MODEL INPUT --out OUTPUT), and list the jobs that ran.",
    no_args_is_help=True,
)


@score_app.command("run")
def run(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(metavar="MODEL", help="The model version: name, name@alias or name@N."),
    ],
    source: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="A dataset version (garages@7), a Parquet or CSV file, or a folder or "
            "prefix (s3://bucket/prefix) of them.",
        ),
    ],
    out: Annotated[
        str, typer.Option("--out", help="The Parquet folder to write (local or s3://…).")
    ],
    id_column: Annotated[
        list[str] | None,
        typer.Option(
            "--id-column",
            help="A column naming each row, kept in the output and used as the request id "
            "in the prediction log (repeat for several).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="A Dask scheduler (tcp://host:8786) to score on (default: "
            "PATHTOLIVE_DASK_SCHEDULER or [compute] scheduler; else here)."
        ),
    ] = None,
    job_id: Annotated[
        str | None,
        typer.Option(help="The job's id; run again with the same id to finish a job."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score every row of INPUT with MODEL into a Parquet folder, committed only when
    complete (a manifest is written last); predictions go to the prediction log as role
    batch."""
    from pathtolive.service.scoring import score

    result = score(
        open_context(ctx),
        model,
        source,
        out,
        id_columns=id_column or (),
        scheduler=scheduler,
        job_id=job_id,
    )

    def render() -> None:
        job = result.job
        skipped = f", {result.skipped} done before" if result.skipped else ""
        console.print(
            f"job {escape(job.job_id)}: {job.model_ref} scored {job.rows_out} rows of "
            f"{escape(job.input_ref)} in {result.parts} parts{skipped}"
        )
        console.print(f"manifest: {escape(result.manifest)}")

    emit(result.to_dict(), as_json, render)


@score_app.command("list")
def list_jobs(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Only jobs of this model (name or name@N).")
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Only jobs that read this input: a dataset version, a file or folder "
            "(hashed here) or a content hash.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Batch jobs, newest first: which jobs used a model, which model scored an input."""
    from pathtolive.service.scoring import batch_jobs

    jobs = batch_jobs(open_context(ctx), model=model, source=input_, limit=limit)
    emit([_job_dict(job) for job in jobs], as_json, lambda: _render(jobs))


@score_app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    as_json: JsonOption = False,
) -> None:
    """One batch job: its model version, input, output, rows and status."""
    from pathtolive.service.scoring import batch_job

    job = batch_job(open_context(ctx), job_id)
    data = _job_dict(job)

    def render() -> None:
        for key, value in data.items():
            console.print(f"{key}: {escape('' if value is None else str(value))}")

    emit(data, as_json, render)


def _job_dict(job: BatchJob) -> dict[str, Any]:
    from pathtolive.service.scoring import job_dict

    return job_dict(job)


def _render(jobs: list[BatchJob]) -> None:
    console.print(
        table(
            None,
            ["job", "model", "input", "rows", "status", "by", "started"],
            [
                (
                    j.job_id,
                    j.model_ref,
                    j.input_ref,
                    j.rows_out,
                    j.status,
                    j.created_by,
                    j.started_at.isoformat(timespec="seconds"),
                )
                for j in jobs
            ],
        )
    )
