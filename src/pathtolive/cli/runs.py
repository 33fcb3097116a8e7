"""``pathtolive run`` and ``pathtolive runs …``: pipelines as tracked runs."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, err_console, table, when
from pathtolive.cli.progress import finish as finish_progress
from pathtolive.cli.state import open_context
from pathtolive.errors import InvalidInputError, VerificationFailedError
from pathtolive.service.run_limits import MAX_COMPARED, MAX_PAGE

if TYPE_CHECKING:
    from pathtolive.entities import Run
    from pathtolive.pipelines import StepRecord
    from pathtolive.service.runs import RunTable

__all__ = ["run", "runs_app"]

runs_app = typer.Typer(help="Inspect and reproduce tracked runs.", no_args_is_help=True)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{option} {value!r} must look like key=value")
        pairs[key] = text
    return pairs


def _data_option(values: list[str]) -> dict[str, str] | str | None:
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    return _pairs(values, "--data")


def run(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (a @pipeline in pipelines/).")],
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="DATASET@VERSION, or PARAM=DATASET@VERSION per data input."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="A parameter, as name=value.")
    ] = None,
    register: Annotated[
        str | None, typer.Option(help="Register the returned model under this name.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rerun every step.")] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help='Dask scheduler (tcp://HOST:8786) for steps with compute="dask".',
        ),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="A type the registered model may refer to (audited)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline on dataset versions; record code, params, environment and data."""
    from pathtolive.service import runs as service

    def progress(step: StepRecord) -> None:
        finish_progress()  # the step's line replaces its progress line
        if not as_json:
            mark = "cached" if step.cached else f"{step.seconds:.2f} s"
            colour = "green" if step.status == "succeeded" else "red"
            console.print(f"  [{colour}]{step.status}[/] {escape(step.name)} ({mark})")

    result = service.run_pipeline(
        open_context(ctx),
        pipeline,
        data=_data_option(data or []),
        params=_pairs(param or [], "--param"),
        register=register,
        use_cache=not no_cache,
        on_step=progress,
        trusted=trust or [],
        scheduler=scheduler,
    )

    def render() -> None:
        console.print(f"[green]Run {result.run.run_id[:12]} succeeded[/] ({pipeline})")
        if result.metrics:
            console.print(
                "metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()))
            )
        if result.cached:
            console.print(f"cached steps: {', '.join(result.cached)}")
        if result.model_version is not None:
            console.print(f"registered {result.model_version.ref}")

    emit(
        {
            "run": result.run,
            "executed": result.executed,
            "cached": result.cached,
            "metrics": result.metrics,
            "model_version": result.model_version,
        },
        as_json,
        render,
    )


_DEFAULT_COLUMNS = 8
"""Metric and param columns ``runs list`` shows when ``--columns`` is not given."""


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this pipeline.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only runs with this status: running, succeeded, failed or cancelled."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Only runs with this param value, as KEY=VALUE (repeatable)."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="Only runs whose final metric passes, e.g. 'roc_auc>0.8' (< <= = != >= >; "
            "repeatable).",
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="started, pipeline, status or a metric name; a leading - for descending "
            "(-roc_auc: best first). Runs without the metric come last."
        ),
    ] = "-started",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated metric and param columns to show (default: the metrics, "
            "then the params, up to 8); params.NAME or metrics.NAME when a name is both."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help=f"How many (1 to {MAX_PAGE}).")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many matching runs first.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List runs with their metric and param columns, filtered and sorted (newest first)."""
    from pathtolive.service import runs as service

    page = service.run_table(
        open_context(ctx),
        pipeline=pipeline,
        status=status,
        params=param or [],
        metrics=metric or [],
        sort=sort,
        offset=offset,
        limit=limit,
    )
    shown = _columns(page, columns)

    def render() -> None:
        if not page.rows:
            filtered = pipeline or status or param or metric or offset
            console.print(
                "No runs match these filters."
                if filtered
                else "No runs yet: 'pathtolive run PIPELINE --data DATASET@latest' makes one."
            )
            return
        console.print(
            table(
                f"Runs {offset + 1}-{offset + len(page.rows)} of {page.total}",
                [
                    "run",
                    "pipeline",
                    "status",
                    "started",
                    "data",
                    *(escape(name) for name, _ in shown),
                ],
                [
                    [
                        row.run_id[:12],
                        row.pipeline or row.kind,
                        row.status,
                        when(row.started_at),
                        ", ".join(row.inputs.values()),
                        *(_cell(row, column) for _, column in shown),
                    ]
                    for row in page.rows
                ],
            )
        )
        if page.has_next:
            console.print(f"more: --offset {offset + len(page.rows)}")

    emit(page.rows, as_json, render)


def _columns(page: RunTable, wanted: str | None) -> list[tuple[str, tuple[str, str]]]:
    """(header, (kind, key)) per metric or param column to show."""
    if wanted is None:
        chosen = [("metrics", key) for key in page.metric_keys]
        chosen += [("params", key) for key in page.param_keys]
        return [(key, (kind, key)) for kind, key in chosen[:_DEFAULT_COLUMNS]]
    shown: list[tuple[str, tuple[str, str]]] = []
    for name in (part.strip() for part in wanted.split(",")):
        if not name:
            continue
        kind, dot, key = name.partition(".")
        if dot and kind in ("metrics", "params"):
            shown.append((name, (kind, key)))
        elif name in page.metric_keys or name not in page.param_keys:
            if page.rows and name not in page.metric_keys:
                known = [*page.metric_keys, *page.param_keys]
                nearest = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {nearest[0]}?)" if nearest else ""
                raise InvalidInputError(
                    f"no listed run has a metric or param {name!r}{hint}; known here: "
                    + ", ".join(known)
                )
            shown.append((name, ("metrics", name)))
        else:
            shown.append((name, ("params", name)))
    return shown


def _cell(row: Any, column: tuple[str, str]) -> str:
    kind, key = column
    values = row.metrics if kind == "metrics" else row.params
    if key not in values:
        return ""
    value = values[key]
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


@runs_app.command("compare")
def runs_compare(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str],
        typer.Argument(help=f"2 to {MAX_COMPARED} run ids (or their first characters)."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side: params (differing ones marked *), metrics, data versions,
    code, step timings and the model versions each registered."""
    from pathtolive.service import runs as service

    comparison = service.compare_runs(open_context(ctx), run_ids)
    labels = [run.run_id[:12] for run in comparison.runs]

    def render() -> None:
        runs = comparison.runs
        console.print(
            table(
                "Runs",
                ["", *labels],
                [
                    ["pipeline", *(run.pipeline or run.kind for run in runs)],
                    ["status", *(run.status for run in runs)],
                    ["started", *(when(run.started_at) for run in runs)],
                    ["code", *(_code(run) for run in runs)],
                    ["model versions", *(", ".join(refs) or "-" for refs in comparison.models)],
                ],
            )
        )
        for title, compared in (
            ("Params", comparison.params),
            ("Metrics", comparison.metrics),
            ("Data versions", comparison.inputs),
        ):
            if compared:
                console.print(
                    table(
                        f"{title} (* differs)",
                        ["", *labels],
                        [
                            [
                                f"* {escape(item.key)}"
                                if item.differs
                                else f"  {escape(item.key)}",
                                *(_compared(value) for value in item.values),
                            ]
                            for item in compared
                        ],
                    )
                )
        if comparison.steps:
            console.print(
                table(
                    "Step seconds",
                    ["", *labels],
                    [
                        [
                            step.name,
                            *(
                                _seconds(s, c)
                                for s, c in zip(step.seconds, step.cached, strict=True)
                            ),
                        ]
                        for step in comparison.steps
                    ],
                )
            )

    emit(comparison, as_json, render)


def _code(run: Run) -> str:
    if not run.code_commit:
        return "no git commit"
    return run.code_commit[:12] + (" (uncommitted changes)" if run.code_dirty else "")


def _compared(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


def _seconds(seconds: float | None, cached: bool | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" + (" (cached)" if cached else "")


@runs_app.command("show")
def runs_show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (or its first characters).")],
    as_json: JsonOption = False,
) -> None:
    """Show a run: code, params, data, environment, steps with timings, metrics, model."""
    from pathtolive.pipelines import RunGraph
    from pathtolive.service import runs as service

    details = service.run_details(open_context(ctx), run_id)
    run_ = details.run

    def render() -> None:
        _render_run(run_)
        if details.environment:
            env = details.environment
            console.print(
                f"environment {env['digest'][:12]}: Python {env['python']}, {env['platform']}, "
                f"{len(env['packages'])} packages"
            )
        if details.steps:
            console.print(
                table(
                    "Steps",
                    ["#", "step", "status", "seconds", "cached", "output"],
                    [
                        [
                            s.position,
                            s.name,
                            s.status,
                            f"{s.seconds:.3f}",
                            "yes" if s.cached else "no",
                            (s.output_digest or "")[:12],
                        ]
                        for s in details.steps
                    ],
                )
            )
        if run_.graph:
            console.print("graph:")
            for line in RunGraph.from_dict(run_.graph).describe():
                console.print(f"  {escape(line)}")
        latest: dict[str, float] = {}
        for metric in details.metrics:
            latest[metric.key] = metric.value
        if latest:
            console.print(
                "metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(latest.items()))
            )
        for version in details.model_versions:
            console.print(f"registered {version.ref}")
        if run_.error:
            err_console.print(escape(run_.error))

    payload: dict[str, Any] = {
        "run": run_,
        "steps": details.steps,
        "metrics": details.metrics,
        "params": details.params,
        "environment": details.environment,
        "model_versions": details.model_versions,
    }
    emit(payload, as_json, render)


def _render_run(run_: Run) -> None:
    console.print(f"[bold]run {run_.run_id}[/] {run_.kind} {run_.pipeline or ''} — {run_.status}")
    finished = when(run_.finished_at) if run_.finished_at else "-"
    console.print(f"by {run_.actor}, started {when(run_.started_at)}, finished {finished}")
    code = run_.code_commit[:12] if run_.code_commit else "no git commit"
    if run_.code_dirty:
        code += f" + uncommitted changes {(run_.code_diff_hash or '')[:8]}"
    console.print(f"code {code}")
    if run_.inputs:
        console.print("data " + ", ".join(f"{k}={v}" for k, v in run_.inputs.items()))
    if run_.params:
        console.print("params " + ", ".join(f"{k}={v}" for k, v in sorted(run_.params.items())))
    if run_.reproduces:
        console.print(f"reproduces {run_.reproduces[:12]}")


@runs_app.command("reproduce")
def runs_reproduce(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to rebuild.")],
    as_json: JsonOption = False,
) -> None:
    """Rerun with the same data versions, params and code; exit 1 unless the model bytes
    and metrics match."""
    from pathtolive.service import runs as service

    report = service.reproduce_run(open_context(ctx), run_id)

    def render() -> None:
        verdict = "[green]MATCHES[/]" if report.matches else "[red]DIFFERS[/]"
        console.print(
            f"{verdict}: run {report.rerun.run.run_id[:12]} reproduces "
            f"{report.original.run_id[:12]}"
        )
        console.print(f"model bytes {'identical' if report.model_matches else 'different'}")
        console.print(f"metrics {'identical' if report.metrics_match else 'different'}")
        for difference in report.differences:
            console.print(f"  - {escape(difference)}")

    emit(
        {
            "original": report.original.run_id,
            "rerun": report.rerun.run.run_id,
            "matches": report.matches,
            "model_matches": report.model_matches,
            "metrics_match": report.metrics_match,
            "differences": report.differences,
        },
        as_json,
        render,
    )
    if not report.matches:
        raise typer.Exit(VerificationFailedError.exit_code)
