"""``pathtolive ui``: the web console."""

from __future__ import annotations

from typing import Annotated

import typer

from pathtolive.cli.output import err_console
from pathtolive.cli.state import open_context
from pathtolive.errors import MissingExtraError

__all__ = ["ui"]


def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Visitors sign in with an API token (default: only beyond loopback, or "
            "on a shared database without PATHTOLIVE_TOKEN).",
        ),
    ] = None,
    trust_forwarded_proto: Annotated[
        bool,
        typer.Option(
            "--trust-forwarded-proto",
            help="Behind a proxy that ends HTTPS: believe its X-Forwarded-Proto (session "
            "cookies are then Secure).",
        ),
    ] = False,
    session_hours: Annotated[float, typer.Option(help="How long a sign-in lasts.", min=0.01)] = 8.0,
) -> None:
    """Serve the web console: models, promotions, data, runs, monitoring and the audit
    trail in a browser."""
    try:
        import uvicorn

        from pathtolive.ui.console import ConsoleSettings, create_console
    except ImportError as exc:
        raise MissingExtraError(
            f"the console needs the 'serve' extra ({exc.name} is missing): "
            "pip install 'pathtolive[serve]'"
        ) from None
    from pathtolive.serving.server import GracefulServer, redact_server_logs

    service = open_context(ctx)
    settings = ConsoleSettings(
        host=host,
        port=port,
        auth=auth,
        trust_forwarded_proto=trust_forwarded_proto,
        session_hours=session_hours,
    )
    app = create_console(service, settings)
    if settings.sign_in_required(service):
        note = "sign in with an API token"
    else:
        note = f"acting as {service.actor().name} ({service.actor().role.value})"
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # X-Forwarded-* only when asked (--trust-forwarded-proto), read by the console.
        proxy_headers=False,
    )
    redact_server_logs()
    err_console.print(f"pathtolive console on http://{host}:{port} ({note}); Ctrl-C stops it")
    GracefulServer(config).run()
