"""``pathtolive promote``, ``approve``, ``promotions …`` and ``rollback``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from pathtolive.cli.gates import HoldoutOption, TargetOption, print_judged_on
from pathtolive.cli.output import JsonOption, console, emit, table, when
from pathtolive.cli.state import open_context

__all__ = ["approve", "promote", "promotions_app", "rollback"]

promotions_app = typer.Typer(help="Pending and past promotions.", no_args_is_help=True)

AliasOption = Annotated[str, typer.Option("--to", help="The alias to move.")]


def promote(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The candidate, NAME@VERSION.")],
    to: AliasOption = "live",
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    override: Annotated[
        str | None, typer.Option(help="Admins: promote despite failing gates, saying why.")
    ] = None,
    holdout: HoldoutOption = None,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the gates, then apply the alias's policy (auto, approval, four-eyes)."""
    from pathtolive.gates import REPORT_COLUMNS
    from pathtolive.service import promotion as service

    outcome = service.promote(
        open_context(ctx),
        ref,
        to,
        reason=reason,
        override=override,
        holdout=holdout,
        target=target,
    )

    def render() -> None:
        print_judged_on(outcome.report)
        console.print(table(None, list(REPORT_COLUMNS), outcome.report.rows()))
        skipped = outcome.report.skipped_note()
        if skipped is not None:
            console.print(escape(skipped))
        if outcome.applied:
            console.print(f"[green]{outcome.promotion.ref} is now {to}[/]")
        else:
            console.print(
                f"Promotion {outcome.promotion.promotion_id} of {outcome.promotion.ref} to {to} "
                f"awaits approval ({outcome.promotion.policy}): "
                f"pathtolive approve {outcome.promotion.ref} --to {to}"
            )

    emit(
        {"promotion": outcome.promotion, "applied": outcome.applied, "report": outcome.report},
        as_json,
        render,
    )


def approve(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version awaiting approval.")],
    to: AliasOption = "live",
    comment: Annotated[str, typer.Option(help="A note kept with the approval.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Approve a pending promotion (an approver; under four-eyes, not its author)."""
    from pathtolive.service import promotion as service

    promotion = service.approve(open_context(ctx), ref, to, comment=comment)
    emit(
        promotion,
        as_json,
        lambda: console.print(f"[green]Approved[/]: {promotion.ref} is now {to}"),
    )


def rollback(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose alias goes back.")],
    alias: Annotated[str, typer.Option("--alias", help="The alias to move back.")] = "live",
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed at before (no gates: it was live)."""
    from pathtolive.service import promotion as service

    move = service.rollback(open_context(ctx), model, alias, reason=reason)
    emit(
        move,
        as_json,
        lambda: console.print(f"{model}@{alias}: {move.from_version} → {move.to_version}"),
    )


@promotions_app.command("list")
def promotions_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, applied, withdrawn.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List promotions (pending ones first to act on)."""
    from pathtolive.service import promotion as service

    promotions = service.list_promotions(open_context(ctx), status=status, model=model)
    emit(
        promotions,
        as_json,
        lambda: console.print(
            table(
                "Promotions",
                ["id", "version", "to", "policy", "status", "asked by", "when", "decided by"],
                [
                    [
                        p.promotion_id,
                        p.ref,
                        p.alias,
                        p.policy,
                        p.status,
                        p.requested_by,
                        when(p.requested_at),
                        p.decided_by,
                    ]
                    for p in promotions
                ],
            )
        ),
    )


@promotions_app.command("withdraw")
def promotions_withdraw(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version whose request to withdraw.")],
    to: AliasOption = "live",
    as_json: JsonOption = False,
) -> None:
    """Withdraw a pending promotion (its requester or an admin)."""
    from pathtolive.service import promotion as service

    promotion = service.withdraw(open_context(ctx), ref, to)
    emit(promotion, as_json, lambda: console.print(f"Withdrawn: {promotion.ref} → {to}"))


@promotions_app.command("refuse")
def promotions_refuse(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version whose request to refuse.")],
    reason: Annotated[str, typer.Option(help="Why (recorded, shown to the requester).")],
    to: AliasOption = "live",
    as_json: JsonOption = False,
) -> None:
    """Refuse a pending promotion, saying why (an approver); the alias stays put."""
    from pathtolive.service import promotion as service

    promotion = service.decline(open_context(ctx), ref, to, reason=reason)
    emit(promotion, as_json, lambda: console.print(f"Refused: {promotion.ref} → {to}"))
