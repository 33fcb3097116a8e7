"""``pathtolive serve`` and ``pathtolive deploy``."""

from __future__ import annotations

from typing import Annotated

import typer

from pathtolive.cli.output import JsonOption, console, emit, err_console
from pathtolive.cli.state import open_context
from pathtolive.errors import InvalidInputError, MissingExtraError

__all__ = ["deploy", "serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (default 1, or [serve] workers).")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Serve only this model (repeatable)."),
    ] = None,
    poll_interval: Annotated[
        float | None, typer.Option(help="Seconds between reads of the registry (default 2).")
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require a bearer token on every endpoint but health (default: only when "
            "listening beyond loopback).",
        ),
    ] = None,
    public_docs: Annotated[
        bool | None,
        typer.Option(
            "--public-docs",
            help="With a token required: still answer /docs, /redoc, /openapi.json and "
            "/version without one.",
        ),
    ] = None,
    batching: Annotated[
        bool | None, typer.Option("--batching/--no-batching", help="Micro-batch requests.")
    ] = None,
    log_predictions: Annotated[
        bool | None,
        typer.Option("--log/--no-log", help="Keep the prediction log (default on)."),
    ] = None,
    ui: Annotated[
        bool | None,
        typer.Option(
            "--ui",
            help="Also serve the web console under /ui (its visitors sign in as with "
            "'pathtolive ui'; one worker only).",
        ),
    ] = None,
) -> None:
    """Serve the registry's live models over KServe V1, MLflow scoring and Open Inference
    V2, following alias moves without a restart."""
    try:
        from pathtolive.serving.server import run_server
        from pathtolive.serving.settings import serve_settings
    except ImportError as exc:
        raise MissingExtraError(
            f"serving needs the 'serve' extra ({exc.name} is missing): "
            "pip install 'pathtolive[serve]'"
        ) from None
    service = open_context(ctx)
    # Open the store now: a missing encryption key fails before the banner says "serving".
    _ = service.artifacts
    settings = serve_settings(
        service.settings.document,
        host=host,
        port=port,
        workers=workers,
        models=tuple(model) if model else None,
        poll_interval=poll_interval,
        auth=auth,
        public_docs=public_docs,
        batching=batching,
        log_predictions=log_predictions,
        ui=ui,
    )
    if not settings.auth_required:
        note = "no token needed (loopback)" if auth is None else "no token needed (--no-auth)"
    else:
        note = "bearer token required"
    console_note = f"; console at http://{settings.host}:{settings.port}/ui" if settings.ui else ""
    err_console.print(
        f"pathtolive serving on http://{settings.host}:{settings.port} ({note}){console_note}; "
        "Ctrl-C stops it"
    )
    run_server(service, settings)


def deploy(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model to change.")],
    canary: Annotated[
        str | None,
        typer.Option(help="Version to send a share of the traffic to: @5, 5 or NAME@5."),
    ] = None,
    share: Annotated[
        float | None, typer.Option(help="The canary's share of requests, between 0 and 1.")
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(help="Version scored on every request and logged, never returned."),
    ] = None,
    no_canary: Annotated[bool, typer.Option("--no-canary", help="Stop the canary.")] = False,
    no_shadow: Annotated[bool, typer.Option("--no-shadow", help="Stop the shadow.")] = False,
    override: Annotated[
        str | None,
        typer.Option(
            help="Admins: deploy despite failing gates or a share above canary_max_share, "
            "saying why."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set up a canary (a share of live traffic) or a shadow (scored, logged, never
    returned) for a model; with no option, show what it serves. The version needs
    passing gates; a canary share above [models.NAME.promotion] canary_max_share (default
    0.2) needs live's approval: promote it instead."""
    from pathtolive.service import predictions as service

    if canary is not None and no_canary:
        raise InvalidInputError("give --canary or --no-canary, not both")
    if shadow is not None and no_shadow:
        raise InvalidInputError("give --shadow or --no-shadow, not both")
    context = open_context(ctx)
    changing = canary is not None or shadow is not None or no_canary or no_shadow
    if share is not None and canary is None and not changing:
        changing = True
    if changing:
        current = service.set_deployment(
            context,
            model,
            canary=False if no_canary else canary,
            share=share,
            shadow=False if no_shadow else shadow,
            override=override,
        )
    else:
        current = service.deployment(context, model)

    def render() -> None:
        console.print(f"[bold]{model}[/]")
        console.print(f"  live:   {_version_text(current.live)}")
        canary_text = _version_text(current.canary)
        if current.canary is not None:
            canary_text += f" ({current.canary_share:.0%} of requests)"
        console.print(f"  canary: {canary_text}")
        console.print(f"  shadow: {_version_text(current.shadow)}")

    emit(current, as_json, render)


def _version_text(version: int | None) -> str:
    return "none" if version is None else f"@{version}"
