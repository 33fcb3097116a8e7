"""``pathtolive watch`` (the controller), ``retrain`` and ``triggers list|show``."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from pathtolive.cli.alerts import outbox_summary
from pathtolive.cli.output import JsonOption, console, emit, err_console, table, to_jsonable, when
from pathtolive.cli.state import open_context
from pathtolive.errors import ConflictError
from pathtolive.monitoring.webhook import DEFAULT_DELIVERY_BUDGET

if TYPE_CHECKING:
    from pathtolive.entities import Trigger
    from pathtolive.service.release import ControllerEvent

__all__ = ["retrain", "triggers_app", "watch"]

triggers_app = typer.Typer(
    help="What started each release, by vector of change (code, data, schema, drift, decay, "
    "schedule, config, manual), and what became of it.",
    no_args_is_help=True,
)

_STYLE = {"done": "green", "failed": "red", "running": "yellow", "pending": "cyan"}


def _label(trigger: Trigger | None) -> str:
    return "" if trigger is None else f"trigger {trigger.trigger_id} ({trigger.model}) "


def _show_event(event: ControllerEvent) -> None:
    stamp = f"[dim]{datetime.now(UTC).astimezone().strftime('%H:%M:%S')}[/]"
    label = escape(_label(event.trigger))
    message = escape(event.message)
    trigger = event.trigger
    if event.kind == "trigger" and trigger is not None:
        line = f"[cyan]new {label.strip()}[/] {trigger.kind}: {message}"
    elif event.kind == "finished" and trigger is not None:
        style = _STYLE.get(trigger.status, "")
        line = f"[{style}]{label}{trigger.status}[/]: {message}"
    elif event.kind in ("waiting", "resumed", "retrying"):
        line = f"[yellow]{label}{event.kind}[/]: {message}"
    elif event.kind in ("error", "fenced"):
        line = f"[red]{event.kind}[/]: {message}"
    else:
        line = f"{label}{event.kind}: {message}"
    console.print(f"{stamp} {line}")


def _json_event(event: ControllerEvent) -> None:
    line = {
        "at": datetime.now(UTC).isoformat(),
        "event": event.kind,
        "message": event.message,
        "trigger": to_jsonable(event.trigger),
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def watch(
    ctx: typer.Context,
    interval: Annotated[
        float, typer.Option(help="Seconds between rounds (and between tries for the lock).")
    ] = 10.0,
    lease: Annotated[
        float,
        typer.Option(
            help="Seconds the controller lock lasts unless renewed; a controller that died "
            "is taken over after this long."
        ),
    ] = 30.0,
    once: Annotated[
        bool, typer.Option("--once", help="One round: handle what is there, then exit.")
    ] = False,
    delivery_budget: Annotated[
        float,
        typer.Option(
            help="Seconds a round spends at most on the alerts due in the webhook outbox."
        ),
    ] = DEFAULT_DELIVERY_BUDGET,
    as_json: JsonOption = False,
) -> None:
    """Run the controller until stopped: new data, changed pipeline code, drift and decay
    alerts, schedules and retrain requests become releases (train, register, gates,
    promotion policy); changed gate or promotion settings re-check the live version."""
    from pathtolive.service.controller import Controller

    context = open_context(ctx)
    controller = Controller(
        context,
        interval=interval,
        lease=lease,
        on_event=_json_event if as_json else _show_event,
        delivery_budget=delivery_budget,
    )
    if once:
        try:
            handled = controller.run_once()
        finally:
            controller.release()
        if controller.waiting_for is not None:
            raise ConflictError(
                f"another controller ({controller.waiting_for}) holds the lock and handles "
                "the triggers; nothing was done"
            )
        if not as_json:
            console.print(f"{len(handled)} trigger(s) handled")
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if controller.busy:
            # Mid-release: interrupt it. The run is marked cancelled and the trigger stays
            # running, for the next controller to resume.
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    err_console.print(
        f"pathtolive watch as {controller.holder}: a round every {interval:g}s, lease "
        f"{lease:g}s; Ctrl-C stops it"
    )
    try:
        controller.run(stop)
    except KeyboardInterrupt:
        err_console.print("stopped mid-release: the next controller resumes the trigger")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def retrain(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model to retrain.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the trigger).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Ask for a release of MODEL now: a manual trigger that the controller handles."""
    from pathtolive.service.triggers import request_retrain

    trigger = request_retrain(open_context(ctx), model, reason=reason)
    emit(
        trigger,
        as_json,
        lambda: console.print(
            f"Trigger {trigger.trigger_id}: {escape(trigger.cause)} (pending); 'pathtolive "
            "watch' handles it"
        ),
    )


def _next_attempt(trigger: Trigger) -> str:
    due = trigger.next_attempt_at
    return "" if trigger.status != "pending" or due is None else when(due)


def _cells(trigger: Trigger) -> list[Any]:
    return [
        trigger.trigger_id,
        trigger.model,
        trigger.vector,
        trigger.kind,
        f"[{_STYLE.get(trigger.status, '')}]{trigger.status}[/]",
        when(trigger.created_at),
        escape(trigger.cause),
        trigger.attempts,
        _next_attempt(trigger),
        "" if trigger.model_version is None else f"@{trigger.model_version}",
        escape(trigger.decision),
    ]


@triggers_app.command("list")
def triggers_list(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, running, done or failed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List triggers, newest first: the vector of change that started each (code, data,
    schema, drift, decay, schedule, config, manual), their cause, status, attempts, when a
    failed release is tried next, and decision; and the alerts waiting in the webhook
    outbox, when there are."""
    from pathtolive.service.alerts import list_alerts
    from pathtolive.service.triggers import list_triggers

    context = open_context(ctx)
    triggers = list_triggers(context, model, status=status, limit=limit)

    def render() -> None:
        console.print(
            table(
                "Triggers",
                [
                    "id",
                    "model",
                    "vector",
                    "kind",
                    "status",
                    "created",
                    "cause",
                    "attempts",
                    "next attempt",
                    "version",
                    "decision",
                ],
                [_cells(trigger) for trigger in triggers],
            )
        )
        pending = list_alerts(context, model, pending_delivery=True, limit=None)
        if pending:
            console.print(
                f"[yellow]{len(pending)} alert(s) in the webhook outbox[/] "
                f"({escape(outbox_summary(pending))})"
            )

    emit(triggers, as_json, render)


@triggers_app.command("show")
def triggers_show(
    ctx: typer.Context,
    trigger_id: Annotated[int, typer.Argument(metavar="ID", help="The trigger's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show one trigger: cause, who handled it, how far it got, and the decision."""
    from pathtolive.service.triggers import get_trigger

    trigger = get_trigger(open_context(ctx), trigger_id)

    def render() -> None:
        style = _STYLE.get(trigger.status, "")
        console.print(
            f"[bold]trigger {trigger.trigger_id}[/] {trigger.vector} ({trigger.kind}) for "
            f"{trigger.model}: "
            f"[{style}]{trigger.status}[/]"
        )
        rows: list[list[Any]] = [
            ["cause", escape(trigger.cause)],
            ["created", f"{when(trigger.created_at)} by {escape(trigger.created_by)}"],
            ["started", "" if trigger.started_at is None else when(trigger.started_at)],
            ["finished", "" if trigger.finished_at is None else when(trigger.finished_at)],
            ["holder", escape(trigger.holder or "")],
            ["attempts", trigger.attempts],
            ["next attempt", _next_attempt(trigger)],
            ["run", trigger.run_id or ""],
            [
                "version",
                "" if trigger.model_version is None else f"{trigger.model}@{trigger.model_version}",
            ],
            ["decision", escape(trigger.decision)],
            ["error", escape(trigger.error or "")],
            ["dedupe key", escape(trigger.dedupe_key)],
        ]
        console.print(table(None, ["field", "value"], rows))

    emit(trigger, as_json, render)
