"""Workspace administration: ``init``, ``db``, ``audit``, ``tokens``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathtolive.cli.output import JsonOption, console, emit, table, when
from pathtolive.cli.state import open_context, options
from pathtolive.config import Settings, load_settings
from pathtolive.errors import VerificationFailedError
from pathtolive.redaction import mask_url
from pathtolive.service import audit as audit_service
from pathtolive.service import tokens as token_service
from pathtolive.service.database import database_status, upgrade_database
from pathtolive.service.workspace import init_workspace

__all__ = ["audit_app", "db_app", "init", "tokens_app"]

db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for principals and roles (admin).", no_args_is_help=True)


def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: folder name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a workspace: pathtolive.toml and .pathtolive/ (SQLite + local objects)."""
    opts = options(ctx)
    service_ctx = init_workspace(
        path, name=name, metadata_url=opts.metadata_url, artifact_url=opts.artifact_url
    )
    settings = service_ctx.settings
    service_ctx.close()
    emit(
        {
            "root": settings.root,
            "metadata": mask_url(settings.metadata_url),
            "artifacts": mask_url(settings.artifact_url),
        },
        as_json,
        lambda: console.print(
            f"[green]Initialised[/] workspace in {settings.root}\n"
            f"  metadata  {mask_url(settings.metadata_url)}\n"
            f"  artifacts {mask_url(settings.artifact_url)}\n"
            "Next: pathtolive data add FILE --name NAME"
        ),
    )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Migrate the metadata database to this version of pathtolive."""
    result = upgrade_database(_settings(ctx))
    emit(
        {"before": result.before, "after": result.after, "changed": result.changed},
        as_json,
        lambda: console.print(
            f"Upgraded the database from {result.before or 'empty'} to {result.after}"
            if result.changed
            else f"The database is up to date ({result.after})"
        ),
    )


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the database's revision and the one this pathtolive needs."""
    status = database_status(_settings(ctx))
    emit(
        {
            "backend": status.backend,
            "current": status.current,
            "head": status.head,
            "up_to_date": status.up_to_date,
        },
        as_json,
        lambda: console.print(
            f"{status.backend}: revision {status.current or 'empty'}, needs {status.head}"
            + ("" if status.up_to_date else " — run 'pathtolive db upgrade'")
        ),
    )


def _settings(ctx: typer.Context) -> Settings:
    # The db commands open a database of any revision, so they start from the settings
    # rather than from an opened workspace (which checks the revision).
    opts = options(ctx)
    return load_settings(
        opts.workspace, metadata_url=opts.metadata_url, artifact_url=opts.artifact_url
    )


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option(help="Only subjects starting with this.")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    limit: Annotated[int, typer.Option(help="How many events, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show the audit trail, newest first."""
    events = audit_service.audit_log(
        open_context(ctx), subject=subject, action=action, actor=actor, limit=limit
    )
    emit(
        events,
        as_json,
        lambda: console.print(
            table(
                "Audit log",
                ["#", "time", "actor", "action", "subject"],
                [
                    [e.seq, e.time[:19].replace("T", " "), e.actor, e.action, e.subject]
                    for e in events
                ],
            )
        ),
    )


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Walk the hash chain; exit 1 and name the first event edited, deleted or reordered."""
    report = audit_service.verify_audit(open_context(ctx))
    emit(
        report,
        as_json,
        lambda: console.print(
            f"[green]OK[/]: {report.checked} events, chain intact"
            if report.ok
            else f"[red]BROKEN[/] at event {report.first_bad_seq}: {report.problem}"
        ),
    )
    if not report.ok:
        raise typer.Exit(VerificationFailedError.exit_code)


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="The principal the token speaks for.")],
    role: Annotated[str, typer.Option(help="viewer, scientist, approver or admin.")],
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a token. Its secret is printed once and never stored."""
    created = token_service.create_token(
        open_context(ctx), principal=user, role=role, description=description
    )
    emit(
        {"token": created.token, "secret": created.secret},
        as_json,
        lambda: console.print(
            f"Token {created.token.token_id} for {user} ({role}):\n{created.secret}\n"
            "Store it now: it is not shown again."
        ),
    )


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List tokens (never their secrets)."""
    tokens = token_service.list_tokens(open_context(ctx))
    emit(
        tokens,
        as_json,
        lambda: console.print(
            table(
                "Tokens",
                ["id", "user", "role", "created", "by", "state", "description"],
                [
                    [
                        t.token_id,
                        t.principal,
                        t.role,
                        when(t.created_at),
                        t.created_by,
                        "active"
                        if t.active
                        else f"revoked {when(t.revoked_at)}"
                        if t.revoked_at
                        else "revoked",
                        t.description,
                    ]
                    for t in tokens
                ],
            )
        ),
    )


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_…).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a token; it stops working at once."""
    token = token_service.revoke_token(open_context(ctx), token_id)
    emit(token, as_json, lambda: console.print(f"Revoked {token.token_id} of {token.principal}"))
