"""``pathtolive alerts list``: the alerts monitoring raised, and their webhook outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, table, when
from pathtolive.cli.state import open_context

if TYPE_CHECKING:
    from pathtolive.entities import Alert

__all__ = ["alerts_app", "alerts_list", "delivery_text", "outbox_summary"]

alerts_app = typer.Typer(
    help="The alerts monitoring raised, and where their webhook delivery stands.",
    no_args_is_help=True,
)


def delivery_text(alert: Alert) -> str:
    """``delivered``, ``pending (3 attempts, last HTTP 503, next 12:00:30)`` or ``""``
    (the model has no webhook)."""
    if alert.delivery != "pending":
        return alert.delivery
    if alert.delivery_attempts == 0:
        return "pending (not tried yet)"
    parts = [f"{alert.delivery_attempts} attempt{'s' if alert.delivery_attempts > 1 else ''}"]
    if alert.delivery_error:
        parts.append(f"last {alert.delivery_error}")
    if alert.delivery_due_at is not None:
        parts.append(f"next {when(alert.delivery_due_at)}")
    return f"pending ({', '.join(parts)})"


def outbox_summary(pending: Sequence[Alert]) -> str:
    """The outbox in a few words: its oldest alert's state, and where to see the rest."""
    oldest = min(pending, key=lambda alert: alert.alert_id)
    more = "; see 'pathtolive alerts list --pending'" if len(pending) > 1 else ""
    return f"alert {oldest.alert_id}: {delivery_text(oldest)}{more}"


def _cells(alert: Alert) -> list[Any]:
    return [
        alert.alert_id,
        escape(alert.model),
        alert.kind,
        alert.status,
        when(alert.opened_at),
        escape(alert.message),
        escape(delivery_text(alert)),
    ]


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    status: Annotated[str | None, typer.Option(help="open or cleared.")] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only alerts waiting in the webhook outbox.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first, with their webhook delivery: delivered, or pending with
    its attempts, last error and next attempt."""
    from pathtolive.service.alerts import list_alerts

    alerts = list_alerts(
        open_context(ctx), model, status=status, pending_delivery=pending, limit=limit
    )
    emit(
        alerts,
        as_json,
        lambda: console.print(
            table(
                "Alerts",
                ["id", "model", "kind", "status", "opened", "message", "webhook"],
                [_cells(alert) for alert in alerts],
            )
        ),
    )
