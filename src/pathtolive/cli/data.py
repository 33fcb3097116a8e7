"""``pathtolive data …``: versioned datasets with a contract."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, err_console, table, when
from pathtolive.cli.state import open_context, workspace_settings
from pathtolive.errors import InvalidInputError, VerificationFailedError
from pathtolive.format import significant

if TYPE_CHECKING:
    from pathtolive.data import (
        ColumnProfile,
        ColumnSchema,
        Profile,
        Schema,
        ValidationReport,
        Violation,
    )
    from pathtolive.entities import DatasetVersion, SchemaVersion

__all__ = ["app"]

app = typer.Typer(help="Add, inspect, compare and validate dataset versions.", no_args_is_help=True)
schema_app = typer.Typer(help="Show and evolve a dataset's contract.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


def _parse_tag_options(values: list[str]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for value in values:
        column, sep, tag = value.partition("=")
        if not sep or not column or not tag:
            raise InvalidInputError(f"--tag {value!r} must look like column=tag, e.g. email=pii")
        tags.setdefault(column, []).append(tag)
    return tags


@app.command("add")
def add(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON Lines file, or a folder.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Column tag, e.g. at_risk=target, email=pii.")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="strict (refuse violations) or warn (store and report).")
    ] = None,
    accept_schema: Annotated[
        bool, typer.Option("--accept-schema", help="Store under a new schema inferred from it.")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why the schema changes (with --accept-schema).")
    ] = "",
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or jsonl (default: by extension).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler (tcp://host:8786) to profile a folder of Parquet partitions "
            "on; default PATHTOLIVE_DASK_SCHEDULER or [compute] scheduler, else here."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a file as a new version of a dataset (validated against its contract).

    A folder of Parquet files is stored as its partitions, profiled one at a time, or in
    parallel on a Dask cluster."""
    from pathtolive.service.encryption import open_workspace_store
    from pathtolive.service.head_start import head_start

    tags = _parse_tag_options(tag or [])
    settings = workspace_settings(ctx)
    store = open_workspace_store(settings)
    # The file's copy and profile begin while the metadata store is imported and opened.
    with head_start(settings, store, source, name, fmt=fmt, tags=tags) as early:
        from pathtolive.service import datasets as service

        service_ctx = open_context(ctx, settings=settings, artifacts=store)
        # Its stages (reading, hashing and profiling, with bytes) go to stderr as progress.
        result = service.add_dataset(
            service_ctx,
            source,
            name,
            tags=tags,
            policy=policy,
            accept_schema=accept_schema,
            reason=reason,
            fmt=fmt,
            scheduler=scheduler,
            head_start=early,
        )
    version = result.version

    def render() -> None:
        if result.created:
            console.print(
                f"[green]Added[/] {version.ref}: {version.rows:,} rows, "
                f"{version.bytes:,} bytes, schema v{version.schema_version} "
                f"({version.validation_status})"
            )
        else:
            console.print(f"Unchanged: identical content is {version.ref} already")
        console.print(f"content hash {version.content_hash}")
        if result.schema_change is not None and result.schema_change.kind != "none":
            console.print(f"schema change: {result.schema_change.kind}")
            for change in result.schema_change.changes:
                console.print(f"  - {escape(change.description)}")
        report = result.validation
        if report is None or not report.violations:
            return
        if version.validation_status == "accepted":
            # What broke the old schema is what the new one was made to accept: no warning.
            console.print(
                f"schema v{version.schema_version} accepts what broke the previous one "
                f"({_tally(report)}):"
            )
            _print_violations(console, report.violations)
        elif not report.ok:
            err_console.print(
                f"[yellow]warning[/]: stored under --policy warn despite {_tally(report)}:"
            )
            _print_violations(err_console, report.violations)
        else:
            err_console.print(
                f"note: {_tally(report)}, reported and not refused (drift watches them):"
            )
            _print_violations(err_console, report.violations)

    emit(
        {
            "created": result.created,
            "version": _version_dict(version),
            "validation": result.validation,
            "schema_change": result.schema_change,
        },
        as_json,
        render,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A dataset: list its versions.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List datasets, or the versions of one dataset."""
    # The catalog alone: listing loads no data library.
    from pathtolive.service import dataset_catalog as service

    service_ctx = open_context(ctx)
    if name is None:
        datasets = service.list_datasets(service_ctx)
        emit(
            datasets,
            as_json,
            lambda: console.print(
                table(
                    "Datasets",
                    ["name", "latest", "schema", "created", "by"],
                    [
                        [
                            d.name,
                            d.latest_version,
                            d.schema_version,
                            when(d.created_at),
                            d.created_by,
                        ]
                        for d in datasets
                    ],
                )
                if datasets
                else "No datasets yet: 'pathtolive data add FILE --name NAME' adds one."
            ),
        )
        return
    versions = service.list_versions(service_ctx, name)
    emit(
        [_version_dict(v) for v in versions],
        as_json,
        lambda: console.print(
            table(
                f"Versions of {name}",
                ["version", "rows", "bytes", "schema", "validation", "author", "created", "hash"],
                [
                    [
                        v.version,
                        f"{v.rows:,}",
                        f"{v.bytes:,}",
                        v.schema_version,
                        "erased" if v.forgotten else v.validation_status,
                        v.author,
                        when(v.created_at),
                        v.content_hash[:12],
                    ]
                    for v in versions
                ],
            )
        ),
    )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@latest or NAME.")],
    as_json: JsonOption = False,
) -> None:
    """Show a version: provenance, schema and profile."""
    from pathtolive.data import Profile, Schema, ValidationReport
    from pathtolive.service import datasets as service

    service_ctx = open_context(ctx)
    version, schema = service.shown_version(service_ctx, ref)

    def render() -> None:
        console.print(f"[bold]{version.ref}[/]  {version.content_hash}")
        parent = "none" if version.parent_version is None else f"@{version.parent_version}"
        console.print(
            f"rows {version.rows:,}  bytes {version.bytes:,}  format {version.source_format}  "
            f"parent {parent}"
        )
        console.print(f"source {version.source}")
        console.print(f"author {version.author}  created {when(version.created_at)}")
        console.print(f"schema v{version.schema_version}  validation {version.validation_status}")
        if version.forgotten_at is not None:
            console.print(
                f"[bold red]erased[/] {when(version.forgotten_at)} by "
                f"{escape(str(version.forgotten_by))}: {escape(str(version.forgotten_reason))}"
            )
        _render_schema_and_profile(
            Schema.from_dict(schema.schema), Profile.from_dict(version.profile)
        )
        if version.validation:
            report = ValidationReport.from_dict(version.validation)
            if report.violations:
                console.print(f"validation report: {_tally(report)}")
                _print_violations(console, report.violations)

    emit(
        {
            **_version_dict(version),
            "profile": version.profile,
            "validation": version.validation,
            "schema": schema.schema,
        },
        as_json,
        render,
    )


def _render_schema_and_profile(schema: Schema, profile: Profile) -> None:
    rows = []
    for column in schema.columns:
        stats = profile.column(column.name) if column.name in profile.names else None
        summary = "" if stats is None else _profile_summary(stats)
        rows.append(
            [
                column.name,
                column.type,
                "yes" if column.nullable else "no",
                ", ".join(column.tags),
                _constraint(column),
                summary,
            ]
        )
    console.print(table(None, ["column", "type", "nulls ok", "tags", "contract", "profile"], rows))


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The earlier version, e.g. loans@1.")],
    new: Annotated[str, typer.Argument(help="The later version, e.g. loans@2.")],
    as_json: JsonOption = False,
) -> None:
    """Compare two versions: rows, columns, and how each column's distribution moved."""
    from pathtolive.service import datasets as service

    result = service.diff_versions(open_context(ctx), old, new)

    def render() -> None:
        console.print(f"[bold]{old} → {new}[/]")
        for line in result.lines():
            console.print(line)

    emit(result, as_json, render)


@app.command("validate")
def validate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset whose contract to check against.")],
    source: Annotated[Path, typer.Argument(help="The file to check.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, parquet or jsonl.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a file against a dataset's current schema without storing it (exit 1 if it
    breaks the contract)."""
    from pathtolive.service import datasets as service

    result = service.validate_source(open_context(ctx), name, source, fmt=fmt)
    report = result.report

    def render() -> None:
        if report.ok:
            console.print(
                f"[green]OK[/]: {escape(str(source))} meets {name}'s schema "
                f"v{result.schema_version} ({report.rows_checked:,} rows)"
            )
            if report.soft:
                console.print(f"{_tally(report)}, reported and not refused:")
                _print_violations(console, report.soft)
        else:
            console.print(
                f"[red]FAILED[/]: {escape(str(source))} breaks {name}'s schema "
                f"v{result.schema_version} ({report.rows_checked:,} rows): {_tally(report)}"
            )
            _print_violations(console, report.violations)

    emit(
        {"dataset": name, "schema_version": result.schema_version, "report": report},
        as_json,
        render,
    )
    if not report.ok:
        raise typer.Exit(VerificationFailedError.exit_code)


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    dest: Annotated[Path, typer.Argument(help="Output file or folder.")],
    as_json: JsonOption = False,
) -> None:
    """Write a version's data as Parquet (its bytes verified against its hash)."""
    from pathtolive.service import datasets as service

    path = service.export_version(open_context(ctx), ref, dest)
    emit({"path": path}, as_json, lambda: console.print(f"Wrote {path}"))


@app.command("forget")
def forget(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (an exact version).")],
    reason: Annotated[str, typer.Option(help="Why the data is erased (kept in the audit).")],
    as_json: JsonOption = False,
) -> None:
    """Erase a version's rows (admin): its bytes leave the store; its metadata, contract,
    profile and audit trail stay as a tombstone, and the model versions trained on it are
    marked."""
    from pathtolive.service.erasure import forget_version

    result = forget_version(open_context(ctx), ref, reason=reason)

    def render() -> None:
        kept = "" if result.bytes_deleted else " (its bytes stay: a kept version shares them)"
        console.print(f"Erased {result.version.ref}{kept}")
        if result.derived_deleted:
            console.print(f"removed {result.derived_deleted} stored step outputs made from it")
        if result.model_versions:
            console.print("trained on it, now marked: " + escape(", ".join(result.model_versions)))

    emit(
        {
            **_version_dict(result.version),
            "bytes_deleted": result.bytes_deleted,
            "derived_outputs_deleted": result.derived_deleted,
            "runs": list(result.runs),
            "model_versions": list(result.model_versions),
        },
        as_json,
        render,
    )


@app.command("access")
def access(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Who read a version's rows, when and why (newest first), and its erasure."""
    from pathtolive.service.erasure import dataset_access

    events = dataset_access(open_context(ctx), ref, limit=limit)
    rows = [
        {
            "seq": event.seq,
            "time": event.time,
            "actor": event.actor,
            "action": event.action,
            "purpose": event.details.get("purpose") or event.details.get("reason", ""),
            "role": event.details.get("role"),
            "columns": event.details.get("columns"),
        }
        for event in events
    ]

    def render() -> None:
        if not rows:
            console.print(f"No recorded reads of {escape(ref)}.")
            return
        console.print(
            table(
                f"Access to {escape(ref)}",
                ["seq", "when", "who", "role", "what", "why"],
                [
                    [
                        row["seq"],
                        row["time"],
                        escape(str(row["actor"])),
                        row["role"],
                        "read" if row["action"] == "dataset.read" else "erased",
                        escape(str(row["purpose"])),
                    ]
                    for row in rows
                ],
            )
        )

    emit(rows, as_json, render)


@schema_app.command("show")
def schema_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[int | None, typer.Option(help="Schema version (default: current).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a dataset's schema."""
    from pathtolive.data import Schema
    from pathtolive.service import datasets as service

    schema = service.dataset_schema(open_context(ctx), name, version)

    def render() -> None:
        console.print(
            f"[bold]{name}[/] schema v{schema.version} ({schema.change_kind}) by "
            f"{schema.created_by}, {when(schema.created_at)}"
        )
        parsed = Schema.from_dict(schema.schema)
        console.print(
            table(
                None,
                ["column", "type", "nulls ok", "tags", "contract"],
                [
                    [
                        c.name,
                        c.type,
                        "yes" if c.nullable else "no",
                        ", ".join(c.tags),
                        _constraint(c),
                    ]
                    for c in parsed.columns
                ],
            )
        )

    emit(_schema_dict(schema), as_json, render)


@schema_app.command("history")
def schema_history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    as_json: JsonOption = False,
) -> None:
    """List a dataset's schema versions and how each changed."""
    from pathtolive.service import datasets as service

    schemas = service.schema_history(open_context(ctx), name)

    def render() -> None:
        for schema in schemas:
            console.print(
                f"[bold]v{schema.version}[/] {schema.change_kind} by {schema.created_by}, "
                f"{when(schema.created_at)} {schema.reason}"
            )
            for change in schema.changes:
                mark = "breaking" if change.get("breaking") else "compatible"
                console.print(f"  - {change.get('column')}: {change.get('description')} ({mark})")

    emit([_schema_dict(s) for s in schemas], as_json, render)


@schema_app.command("accept")
def schema_accept(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="A stored version whose data defines the new schema.")],
    reason: Annotated[str, typer.Option(help="Why the contract changes (recorded).")],
    as_json: JsonOption = False,
) -> None:
    """Make a new schema version from a stored version's data, explicitly."""
    from pathtolive.service import datasets as service

    schema = service.accept_schema(open_context(ctx), ref, reason=reason)

    def render() -> None:
        console.print(f"[green]Accepted[/] schema v{schema.version} ({schema.change_kind})")
        for change in schema.changes:
            console.print(f"  - {change.get('column')}: {change.get('description')}")

    emit(_schema_dict(schema), as_json, render)


@schema_app.command("soften")
def schema_soften(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    reason: Annotated[str, typer.Option(help="Why the contract changes (recorded).")],
    column: Annotated[
        list[str] | None,
        typer.Option("--column", "-c", help="Only this column (repeatable; default: all)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a schema's ranges soft: values beyond them are reported, not refused (for
    contracts inferred when ranges were hard)."""
    from pathtolive.service import datasets as service

    schema = service.soften_schema(open_context(ctx), name, columns=column or (), reason=reason)
    _print_edit(schema, as_json)


@schema_app.command("set")
def schema_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    column: Annotated[str, typer.Option("--column", "-c", help="The numeric column to bound.")],
    reason: Annotated[str, typer.Option(help="Why the contract changes (recorded).")],
    minimum: Annotated[float | None, typer.Option("--min", help="Smallest allowed value.")] = None,
    maximum: Annotated[float | None, typer.Option("--max", help="Largest allowed value.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Declare hard bounds on a column: a value beyond them refuses a version."""
    from pathtolive.service import datasets as service

    schema = service.set_bounds(
        open_context(ctx), name, column, minimum=minimum, maximum=maximum, reason=reason
    )
    _print_edit(schema, as_json)


def _print_edit(schema: SchemaVersion, as_json: bool) -> None:
    def render() -> None:
        console.print(f"[green]Stored[/] schema v{schema.version} ({schema.change_kind})")
        for change in schema.changes:
            console.print(f"  - {escape(str(change.get('description')))}")

    emit(_schema_dict(schema), as_json, render)


def _constraint(column: ColumnSchema) -> str:
    if column.categories is not None:
        shown = ", ".join(column.categories[:6])
        more = f" (+{len(column.categories) - 6})" if len(column.categories) > 6 else ""
        return escape(f"one of {shown}{more}")
    from pathtolive.data.schema import range_text

    return escape(range_text(column, lambda bound: significant(bound, 6)))


def _tally(report: ValidationReport) -> str:
    """``2 hard violations, 1 soft finding``: what a report holds, by strength."""
    hard, soft = len(report.hard), len(report.soft)
    parts = []
    if hard:
        parts.append(f"{hard} hard violation{'s' if hard != 1 else ''}")
    if soft:
        parts.append(f"{soft} soft finding{'s' if soft != 1 else ''}")
    return ", ".join(parts) or "no violation"


def _print_violations(out: Console, violations: Sequence[Violation]) -> None:
    """Each violation once, with its strength: hard ones refuse, soft ones report."""
    for violation in violations:
        colour = "red" if violation.hard else "yellow"
        out.print(f"  - [{colour}]{violation.check}[/] {escape(violation.message)}")


def _profile_summary(stats: ColumnProfile) -> str:
    nulls = f"nulls {stats.nulls:,}" if stats.nulls else ""
    if stats.numeric is not None and stats.numeric.mean is not None:
        numeric = stats.numeric
        quantiles = numeric.quantiles
        median = f" p50 {significant(quantiles[len(quantiles) // 2], 6)}" if quantiles else ""
        text = f"mean {significant(numeric.mean, 6)} sd {significant(numeric.std, 6)}{median}"
    elif stats.categorical is not None:
        top = ", ".join(f"{value} {count:,}" for value, count in stats.categorical.categories[:3])
        text = f"{stats.categorical.distinct:,} distinct; {top}"
    elif stats.datetime is not None:
        text = f"{stats.datetime.minimum} … {stats.datetime.maximum}"
    else:
        text = ""
    return "; ".join(part for part in (text, nulls) if part)


def _version_dict(version: DatasetVersion) -> dict[str, Any]:
    return {
        "dataset": version.dataset,
        "version": version.version,
        "ref": version.ref,
        "content_hash": version.content_hash,
        "parent_version": version.parent_version,
        "schema_version": version.schema_version,
        "source": version.source,
        "source_format": version.source_format,
        "author": version.author,
        "created_at": version.created_at,
        "rows": version.rows,
        "bytes": version.bytes,
        "validation_status": version.validation_status,
        "forgotten_at": version.forgotten_at,
        "forgotten_by": version.forgotten_by,
        "forgotten_reason": version.forgotten_reason,
    }


def _schema_dict(schema: SchemaVersion) -> dict[str, Any]:
    return {
        "dataset": schema.dataset,
        "version": schema.version,
        "change_kind": schema.change_kind,
        "changes": schema.changes,
        "reason": schema.reason,
        "created_at": schema.created_at,
        "created_by": schema.created_by,
        "schema": schema.schema,
    }
