"""What the console's Monitoring page shows: a bounded series of windows and the alerts.

No monitoring result is stored between calls, so the page asks :func:`monitor` for a
series of at most :data:`MAX_PAGE_WINDOWS` windows of the model's configured length,
ending now, without recording alerts: it reads the prediction log of that span only
(segment by segment, each window's sketch bounded by the sketch's sample), never the
whole log. Alerts and their webhook deliveries come from the alerts table, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pathtolive.auth import Permission
from pathtolive.entities import Alert
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.monitoring.decay import DecayResult
from pathtolive.monitoring.drift import FeatureDrift
from pathtolive.monitoring.report import MonitorReport
from pathtolive.monitoring.series import MonitorSeries
from pathtolive.refs import check_name
from pathtolive.service.context import ServiceContext
from pathtolive.service.monitor import monitor, monitoring_config

__all__ = [
    "ALERT_HISTORY",
    "DEFAULT_PAGE_WINDOWS",
    "MAX_PAGE_WINDOWS",
    "RECENT_REQUESTS",
    "LiveMetric",
    "MonitoringView",
    "live_metric",
    "monitoring_view",
]

DEFAULT_PAGE_WINDOWS = 7
MAX_PAGE_WINDOWS = 30
"""The most windows the page reads the log for."""

RECENT_REQUESTS = 2000
"""The newest requests a model page measures its live metric over."""

ALERT_HISTORY = 100
"""The newest alerts (open and cleared) the page lists."""


@dataclass(frozen=True)
class MonitoringView:
    """A model's monitoring: the report of the bounded series (None, with ``unavailable``
    saying why, when there is nothing to monitor yet) and its alert history."""

    model: str
    report: MonitorReport | None
    unavailable: str | None
    alerts: tuple[Alert, ...]

    @property
    def series(self) -> MonitorSeries | None:
        return None if self.report is None else self.report.series

    def cell(self, feature: str, window: int) -> FeatureDrift | None:
        """The drift of ``feature`` in window ``window`` (0 the oldest), with its
        reference and live histograms; None when that window has no verdict on it."""
        series = self.series
        if series is None or not 0 <= window < len(series.windows):
            return None
        drift = series.windows[window].drift
        if drift is None:
            return None
        return next((found for found in drift.features if found.feature == feature), None)

    @property
    def decay(self) -> DecayResult | None:
        """The metric per window of the series (measured on feedback and estimated from
        confidence, each with its interval) as one result, for one chart."""
        series = self.series
        if series is None:
            return None
        results = [window.decay for window in series.windows if window.decay is not None]
        if not results:
            return None
        points = tuple(point for result in results for point in result.windows)
        newest = results[-1]
        judged = max(
            (i for i, point in enumerate(points) if point.labelled >= newest.min_labelled),
            default=None,
        )
        return replace(newest, windows=points, judged=judged)


def monitoring_view(
    ctx: ServiceContext,
    model: str,
    *,
    windows: int = DEFAULT_PAGE_WINDOWS,
    now: datetime | None = None,
) -> MonitoringView:
    """Model ``model``'s monitoring over ``windows`` windows of its configured length
    (see the module docs)."""
    ctx.require(Permission.READ, "monitor models")
    check_name(model, kind="model")
    if not 1 <= windows <= MAX_PAGE_WINDOWS:
        raise InvalidInputError(f"{windows} windows: give 1 to {MAX_PAGE_WINDOWS}")
    with ctx.metadata.read() as session:
        if session.model_id(model) is None:
            raise NotFoundError(f"no model {model!r}")
        alerts = session.list_alerts(model, limit=ALERT_HISTORY)
    length = monitoring_config(ctx, model).window
    report: MonitorReport | None = None
    unavailable: str | None = None
    try:
        outcome = monitor(ctx, model, every=length, count=windows, record_alerts=False, now=now)
        report = outcome.report
    except (NotFoundError, InvalidInputError) as exc:
        # Nothing live, no signature, no training profile: the page says why.
        unavailable = str(exc)
    return MonitoringView(model, report, unavailable, tuple(alerts))


@dataclass(frozen=True)
class LiveMetric:
    """The live version's metric over its newest requests, in windows (None, with
    ``unavailable`` saying why, when there is nothing to measure)."""

    decay: DecayResult | None
    unavailable: str | None


def live_metric(ctx: ServiceContext, model: str, *, requests: int = RECENT_REQUESTS) -> LiveMetric:
    """The metric of ``model``'s live version over its newest ``requests`` requests,
    measured on feedback and estimated from confidence, window by window: the log is
    read newest segment first and no further than those requests."""
    ctx.require(Permission.READ, "monitor models")
    try:
        outcome = monitor(ctx, model, last=requests, record_alerts=False)
    except (NotFoundError, InvalidInputError) as exc:
        return LiveMetric(None, str(exc))
    return LiveMetric(outcome.report.decay, None)
