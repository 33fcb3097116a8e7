"""``pathtolive monitor``: drift, decay and alerts of a live model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pathtolive.cli.alerts import delivery_text, outbox_summary
from pathtolive.cli.output import JsonOption, console, emit, err_console, table
from pathtolive.cli.state import open_context
from pathtolive.errors import InvalidInputError
from pathtolive.format import short_when, significant
from pathtolive.monitoring.webhook import DEFAULT_DELIVERY_BUDGET

if TYPE_CHECKING:
    from pathtolive.monitoring.report import MonitorReport
    from pathtolive.monitoring.series import MonitorSeries
    from pathtolive.service.alerts import DeliveryRound

__all__ = ["monitor", "show_outbox"]

_SHOWN_FIGURES = ("psi", "js", "wasserstein", "ks_pvalue", "chi2_pvalue", "unseen_share")


def monitor(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model to look at.")],
    window: Annotated[
        str | None, typer.Option(help="How far back: 24h, 30m, 7d (default: the configured).")
    ] = None,
    last: Annotated[int | None, typer.Option(help="The last N requests instead.")] = None,
    every: Annotated[
        str | None,
        typer.Option(
            help="Also a series of windows, each this much after the last: 1h, 1d "
            "(--every 1d --window 7d: a rolling week, one per day)."
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            help="How many windows in the series, at most 120 (default: back to the first "
            "logged row, at most 30)."
        ),
    ] = None,
    version: Annotated[int | None, typer.Option(help="A version other than the live one.")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
    alerts: Annotated[
        bool,
        typer.Option(
            "--alerts/--no-alerts", help="Record (and send) alerts; --no-alerts only reports."
        ),
    ] = True,
    delivery_budget: Annotated[
        float,
        typer.Option(
            help="Seconds spent at most on sending alerts to the webhook once the report "
            "is out; what is not delivered waits in the outbox for the next run."
        ),
    ] = DEFAULT_DELIVERY_BUDGET,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler (tcp://host:8786) whose workers read the prediction log's "
            "segments; default PATHTOLIVE_DASK_SCHEDULER or [compute] scheduler, else here."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the live traffic with the training data's profile (drift), the metric on
    labelled feedback with its gate-time figure (decay), and raise or clear alerts."""
    from pathtolive.monitoring.config import parse_window
    from pathtolive.service.alerts import deliver_alerts
    from pathtolive.service.monitor import monitor as run_monitor

    if window is not None and last is not None:
        raise InvalidInputError("give --window or --last, not both")
    if count is not None and count < 1:
        raise InvalidInputError(f"--count {count}: give a positive number of windows")
    if delivery_budget < 0:
        raise InvalidInputError(f"--delivery-budget {delivery_budget:g}: give 0 or more seconds")
    context = open_context(ctx)
    outcome = run_monitor(
        context,
        model,
        window=parse_window(window, where="--window") if window else None,
        last=last,
        version=version,
        record_alerts=alerts,
        every=parse_window(every, where="--every") if every else None,
        count=count,
        scheduler=scheduler,
    )
    if report is not None:
        from pathtolive.ui import monitoring_report_html

        report.write_text(monitoring_report_html(outcome.report), encoding="utf-8")
        err_console.print(f"report written to {escape(str(report))}")
    emit(outcome.report.to_dict(), as_json, lambda: _render(outcome.report))
    if outcome.stored:
        # On stderr, so that stdout (and --json) is the report alone.
        windows = f"{outcome.stored} window{'s' if outcome.stored != 1 else ''}"
        err_console.print(f"results of {windows} stored for the console", style="dim")
    if alerts:
        # After the report: a slow or dead receiver costs the budget, never the report.
        show_outbox(deliver_alerts(context, budget=delivery_budget))


def show_outbox(delivered: DeliveryRound) -> None:
    """One line on stderr (stdout may be JSON) on what a delivery round did and left."""
    if delivered.blocked is not None:
        err_console.print(f"[yellow]{escape(delivered.blocked)}[/]")
    pending = delivered.pending
    if not delivered.attempted and not pending:
        return
    line = (
        f"alert webhook: {len(delivered.delivered)} of {len(delivered.attempted)} "
        f"attempt(s) delivered; {len(pending)} alert(s) in the outbox"
    )
    if pending:
        line += f" ({escape(outbox_summary(pending))})"
    err_console.print(line)


def _render(report: MonitorReport) -> None:
    from pathtolive.monitoring.decay import CBPE_CAVEAT

    window = report.window
    console.print(
        f"[bold]{escape(report.model)}@{report.version}[/] · {window.rows} rows "
        f"({escape(window.description or 'all')}) · reference {escape(report.reference)}"
    )
    drift = report.drift
    if drift is None:
        console.print("no live traffic in the window: nothing to compare")
    else:
        from pathtolive.monitoring.verdict import rule_text

        drifted = drift.drifted
        console.print(
            f"drift: {len(drifted)} of {len(drift.features)} features"
            + (f": {escape(', '.join(drifted))}" if drifted else "")
        )
        console.print(escape(rule_text(drift.thresholds)), style="dim")
        weighted = drift.weighted_drift is not None
        if drift.weighted_drift is not None:
            console.print(
                f"importance-weighted drift: {significant(drift.weighted_drift, 3)} "
                "(the drifted features' share of the model's attribution)"
            )
        alerting = report.drift_alerting
        if alerting is not None and alerting.min_weighted_drift is not None:
            console.print(f"drift alerts: {escape(alerting.reason)}")
        rows = [
            [
                str(feature.rank),
                escape(feature.feature),
                feature.kind,
                *([significant(feature.importance, 2)] if weighted else []),
                *[significant(feature.figures.get(name), 3) for name in _SHOWN_FIGURES],
                "[red]drifted[/]" if feature.drifted else "ok",
                escape(feature.rule),
            ]
            for feature in drift.features
        ]
        headers = [
            "#",
            "feature",
            "kind",
            *(["importance"] if weighted else []),
            *_SHOWN_FIGURES,
            "verdict",
            "decided by",
        ]
        console.print(table(None, headers, rows))
        for feature in drift.features:
            if feature.drifted or feature.significant or feature.large_effect:
                console.print(f"  {escape(feature.feature)}: {escape(feature.explanation)}")
    prediction = report.prediction_drift
    if prediction is not None:
        verdict = "drifted" if prediction.drift.drifted else "stable"
        reasons = (
            "; ".join(prediction.drift.reasons)
            or prediction.drift.explanation
            or "no threshold crossed"
        )
        console.print(f"predictions: {verdict} ({escape(reasons)})")
    if report.decay is not None:
        console.print(f"decay: {escape(report.decay.reason)}")
        if report.decay.latest_estimated is not None:
            console.print(f"[dim]{escape(CBPE_CAVEAT)}[/]")
    if report.series is not None:
        _render_series(report.series)
    for alert in report.alerts:
        state = delivery_text(alert)
        console.print(
            f"[red]alert {alert.alert_id}[/] ({alert.kind}): {escape(alert.message)}"
            + (f" [dim]· webhook {escape(state)}[/]" if state else "")
        )
    if not report.alerts:
        console.print("no open alerts")


_SERIES_COLUMNS = 12  # the newest windows shown in the terminal; --json and --report have all


def _render_series(series: MonitorSeries) -> None:
    rule = f"; drift alerts need persistence {series.persistence}" if series.persistence else ""
    console.print(f"series: {escape(series.description)}{escape(rule)}")
    shown = series.windows[-_SERIES_COLUMNS:]
    heads = [short_when(window.end) for window in shown]
    rows = []
    for trend in series.features:
        cells = [
            ("[red]" + significant(score, 2) + "[/]" if drifted else significant(score, 2))
            for score, drifted in zip(
                trend.values[-len(shown) :], trend.drifted[-len(shown) :], strict=True
            )
        ]
        rows.append([escape(trend.feature), *cells, "yes" if trend.persistent else ""])
    console.print(
        table(
            f"drift score ({series.statistic}) per window, by end",
            ["feature", *heads, "alert"],
            rows,
        )
    )
