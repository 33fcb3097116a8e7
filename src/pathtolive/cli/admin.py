"""Workspace administration: ``init``, ``db``, ``audit``, ``tokens``, ``gc``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, table, when
from pathtolive.cli.state import open_context, options
from pathtolive.errors import VerificationFailedError
from pathtolive.redaction import mask_url
from pathtolive.store.artifacts.base import DEFAULT_GRACE_SECONDS

if TYPE_CHECKING:
    from pathtolive.config import Settings

__all__ = ["audit_app", "db_app", "gc", "init", "tokens_app"]

db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for principals and roles (admin).", no_args_is_help=True)


def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Folder to make a workspace of.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: folder name).")] = None,
    local_role: Annotated[
        str | None,
        typer.Option(
            help="Write [auth] local_role: the role of local users without a token (on a "
            "shared database they need a token unless this is set)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a workspace: pathtolive.toml and .pathtolive/ (SQLite + local objects)."""
    from pathtolive.service import tokens as token_service
    from pathtolive.service.workspace import init_workspace

    opts = options(ctx)
    service_ctx = init_workspace(
        path,
        name=name,
        metadata_url=opts.metadata_url,
        artifact_url=opts.artifact_url,
        local_role=local_role,
    )
    settings = service_ctx.settings
    first = None
    if settings.token is None and not settings.local_users_trusted:
        # A shared database trusts no local user: its maker gets the first admin token.
        first = token_service.first_admin_token(service_ctx)
    service_ctx.close()
    result: dict[str, object] = {
        "root": settings.root,
        "metadata": mask_url(settings.metadata_url),
        "artifacts": mask_url(settings.artifact_url),
    }
    if first is not None:
        result["admin_token"] = {"token_id": first.token.token_id, "secret": first.secret}

    def render() -> None:
        console.print(
            f"[green]Initialised[/] workspace in {settings.root}\n"
            f"  metadata  {mask_url(settings.metadata_url)}\n"
            f"  artifacts {mask_url(settings.artifact_url)}"
        )
        if first is not None:
            console.print(
                "The database is shared, so every command needs a token. The first admin "
                f"token, for {first.token.principal} (shown once; keep it secret):\n"
                f"  {first.secret}\n"
                "Set PATHTOLIVE_TOKEN to it, then: pathtolive tokens create --user NAME --role ROLE"
            )
        else:
            console.print("Next: pathtolive data add FILE --name NAME")

    emit(result, as_json, render)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Migrate the metadata database to this version of pathtolive."""
    from pathtolive.service.database import upgrade_database

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
    from pathtolive.service.database import database_status

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
    from pathtolive.config import load_settings

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
    from pathtolive.service import audit as audit_service

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
    """Check the hash chain and every signed checkpoint; say what that proves. Exit 1 and
    name the first event, row or checkpoint that does not hold."""
    from pathtolive.service import audit as audit_service

    report = audit_service.verify_audit(open_context(ctx))
    emit(
        report,
        as_json,
        lambda: console.print(
            f"[green]OK[/]: {escape(report.statement)}"
            if report.ok
            else f"[red]BROKEN[/] at event {report.first_bad_seq}: {escape(report.problem or '')}"
            if report.first_bad_seq is not None
            else f"[red]BROKEN[/]: {escape(report.problem or '')}",
            highlight=False,
        ),
    )
    if not report.ok:
        raise typer.Exit(VerificationFailedError.exit_code)


@audit_app.command("keygen")
def audit_keygen(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the private key (default: a file under ~/.config/pathtolive/keys)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Replace the workspace's key (the old one still verifies its checkpoints)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make the Ed25519 key pair that signs audit checkpoints (admin).

    The private key goes to a new file only its owner can read; keep it away from the
    database (or in a secret manager, handed over in PATHTOLIVE_AUDIT_SIGNING_KEY). The
    public key goes to [audit] of pathtolive.toml."""
    from pathtolive.service import audit as audit_service

    created = audit_service.create_signing_key(open_context(ctx), out=out, force=force)
    emit(
        created,
        as_json,
        lambda: console.print(
            f"Audit signing key {created.key_id} written to {created.path} (mode 600).\n"
            f"Public key in pathtolive.toml: {created.public_key}\n"
            "Keep the private key where the database's users cannot read it; "
            "next: pathtolive audit checkpoint",
            markup=False,
            highlight=False,
        ),
    )


@audit_app.command("checkpoint")
def audit_checkpoint(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Verify the chain, then sign its head into a new write-once checkpoint in the
    artifact store (run it after releases, or on a schedule)."""
    from pathtolive.service import audit as audit_service

    made = audit_service.make_checkpoint(open_context(ctx))
    emit(
        made,
        as_json,
        lambda: console.print(
            f"Checkpoint of event {made.seq} signed with key {made.key_id} at {made.time}: "
            f"{made.name}",
            markup=False,
            highlight=False,
        ),
    )


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(help="The principal the token speaks for.")],
    role: Annotated[str, typer.Option(help="viewer, scientist, approver or admin.")],
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a token. Its secret is printed once and never stored."""
    from pathtolive.service import tokens as token_service

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
    from pathtolive.service import tokens as token_service

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
    from pathtolive.service import tokens as token_service

    token = token_service.revoke_token(open_context(ctx), token_id)
    emit(token, as_json, lambda: console.print(f"Revoked {token.token_id} of {token.principal}"))


def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            help="Keep unreferenced objects written less than this many seconds ago "
            "(an add in flight publishes its object before its row commits).",
            min=0,
        ),
    ] = DEFAULT_GRACE_SECONDS,
    as_json: JsonOption = False,
) -> None:
    """Remove stored objects no metadata row refers to, and crashed writers' leftovers (admin)."""
    from pathtolive.service import gc as gc_service

    report = gc_service.collect_garbage(open_context(ctx), dry_run=dry_run, grace_seconds=grace)

    def render() -> None:
        verb = "Would remove" if dry_run else "Removed"
        console.print(
            f"{verb} {len(report.removed)} of {report.objects} objects "
            f"({report.removed_bytes:,} bytes); {report.referenced} referenced, "
            f"{report.kept_recent} unreferenced but newer than {report.grace_seconds:g} s kept; "
            f"{report.temporaries} leftover temporary files"
        )
        for digest in report.removed:
            console.print(f"  {digest}")

    emit(report.to_dict(), as_json, render)
