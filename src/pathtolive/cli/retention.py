"""``pathtolive predictions prune`` and ``pathtolive feedback forget``: retention and
erasure of what serving collected."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit
from pathtolive.cli.state import open_context

__all__ = ["feedback_app", "predictions_app"]

predictions_app = typer.Typer(help="The prediction log's retention.", no_args_is_help=True)
feedback_app = typer.Typer(help="Feedback labels given for predictions.", no_args_is_help=True)


@predictions_app.command("prune")
def prune(
    ctx: typer.Context,
    older_than_days: Annotated[
        int | None,
        typer.Option(help="Delete what is older (default: [serve] log_retention_days)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete prediction-log segments and stopped servers' journals older than the
    retention (admin; audited). The server does it at start and hourly."""
    from pathtolive.service.retention import prune_predictions
    from pathtolive.serving.settings import serve_settings

    service_ctx = open_context(ctx)
    days = older_than_days
    if days is None:
        days = serve_settings(service_ctx.settings.document).log_retention_days
    result = prune_predictions(service_ctx, days)

    def render() -> None:
        if not (result.segments or result.journals):
            console.print(f"Nothing older than {result.days} days to delete.")
            return
        console.print(
            f"Deleted {result.segments} segments ({result.rows:,} predictions) and "
            f"{result.journals} journal files older than {result.days} days"
        )

    emit(result, as_json, render)


@feedback_app.command("forget")
def forget(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The request id the labels were for.")],
    reason: Annotated[str, typer.Option(help="Why the labels are erased (kept in the audit).")],
    as_json: JsonOption = False,
) -> None:
    """Erase every feedback label given for a request (admin; audited)."""
    from pathtolive.service.retention import forget_feedback

    deleted = forget_feedback(open_context(ctx), request_id, reason=reason)
    emit(
        {"request_id": request_id, "deleted": deleted},
        as_json,
        lambda: console.print(f"Erased {deleted} labels of request {escape(request_id)}"),
    )
