"""What the console's Model and Monitoring pages show of monitoring: stored results only.

``pathtolive monitor`` keeps what it found in each window (see
:mod:`pathtolive.monitoring.stored`); these views read those rows and nothing else, never
the prediction log nor a dataset, so a page costs a few index ranges however much traffic
a model has had. Reading is bounded by what is shown, not by what is stored: index
ranges of window keys (one for a series; at most one per window shown, at most
:data:`MAX_PAGE_WINDOWS`), their summaries, and the histograms of the one cell a reader
opened.

Choosing the windows
    Looks overlap: a scheduled ``monitor`` may look at the last day every few minutes,
    and a series ``--every 1d --window 7d`` is a rolling week. From the newest window
    back, the next window shown is the newest that ends at least half a step before the
    one shown after it (the step of that one: its series' ``every``, or its length for a
    single look), so repeated looks at nearly the same span show once, and a series shows
    window by window.

When nothing is stored yet, the view says so and names the command that stores results;
it never computes them on request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pathtolive.auth import Permission
from pathtolive.entities import Alert, MonitorResult, MonitorWindowKey
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.format import duration
from pathtolive.monitoring.decay import DecayResult
from pathtolive.monitoring.drift import FeatureDrift
from pathtolive.monitoring.series import MonitorSeries, SeriesWindow
from pathtolive.monitoring.stored import from_stored
from pathtolive.refs import check_name
from pathtolive.service.context import ServiceContext
from pathtolive.service.monitor import monitoring_config
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "ALERT_HISTORY",
    "DEFAULT_PAGE_WINDOWS",
    "HEAT_STATISTIC",
    "MAX_PAGE_WINDOWS",
    "KeyFetcher",
    "LiveMetric",
    "MonitoringView",
    "live_metric",
    "monitoring_view",
    "spaced_windows",
]

DEFAULT_PAGE_WINDOWS = 14
MAX_PAGE_WINDOWS = 30
"""The most windows a page shows."""

ALERT_HISTORY = 100
"""The newest alerts (open and cleared) the page lists."""

HEAT_STATISTIC = "psi"
"""The effect size the heat map shades: the population stability index."""


@dataclass(frozen=True)
class MonitoringView:
    """A model's monitoring as stored: its live ``version``, the ``series`` of the
    chosen stored windows (None, with ``unavailable`` saying why and ``command`` what to
    run, when there is none), the dataset version they were compared with, when the
    newest was computed, and the alert history."""

    model: str
    version: int | None
    series: MonitorSeries | None
    unavailable: str | None
    command: str | None
    reference: str | None
    computed_at: datetime | None
    alerts: tuple[Alert, ...] = ()

    @property
    def description(self) -> str:
        """``14 windows of 1d``."""
        series = self.series
        if series is None or not series.windows:
            return ""
        count = len(series.windows)
        return f"{count} window{'s' if count != 1 else ''} of {duration(series.window)}"

    def cell(self, feature: str, window: int) -> FeatureDrift | None:
        """The drift of ``feature`` in window ``window`` (0 the oldest), with its
        reference and live histograms when the view was read for that cell; None when
        that window has no verdict on it."""
        series = self.series
        if series is None or not 0 <= window < len(series.windows):
            return None
        drift = series.windows[window].drift
        if drift is None:
            return None
        return next((found for found in drift.features if found.feature == feature), None)

    @property
    def latest(self) -> SeriesWindow | None:
        """The newest shown window."""
        return None if self.series is None or not self.series.windows else self.series.windows[-1]

    @property
    def decay(self) -> DecayResult | None:
        """The metric per window (measured on feedback and estimated from confidence,
        each with its interval) as one result, for one chart."""
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


KeyFetcher = Callable[[datetime | None, int], list[MonitorWindowKey]]
"""``fetch(ending_by, limit)``: the newest ``limit`` stored windows ending at or before
``ending_by`` (any, for None), newest first."""


def spaced_windows(fetch: KeyFetcher, count: int) -> list[MonitorWindowKey]:
    """The ``count`` newest windows spaced as the module docs say, oldest first. Keys
    are read a batch at a time, and past a run of overlapping looks the next batch
    starts where the next shown window may end: a series costs one read, a thousand
    looks a day one read per window shown."""
    chosen: list[MonitorWindowKey] = []
    bound: datetime | None = None
    batch_size = 2 * count
    while len(chosen) < count:
        batch = fetch(bound, batch_size)
        before = len(chosen)
        for key in batch:
            if chosen and key.end > _next_end(chosen[-1]):
                continue
            chosen.append(key)
            if len(chosen) == count:
                break
        if len(batch) < batch_size:
            break  # nothing older is stored
        past = batch[-1].end - timedelta(microseconds=1)
        bound = min(past, _next_end(chosen[-1])) if chosen else past
        # A batch that was mostly overlapping looks: read little at a time from here.
        batch_size = min(2 * count, 2 * max(1, len(chosen) - before))
    return chosen[::-1]


def _next_end(shown: MonitorWindowKey) -> datetime:
    """The latest end of the window shown before ``shown``."""
    return shown.end - timedelta(seconds=shown.step_seconds / 2)


def monitoring_view(
    ctx: ServiceContext,
    model: str,
    *,
    windows: int = DEFAULT_PAGE_WINDOWS,
    cell: int | None = None,
) -> MonitoringView:
    """Model ``model``'s stored monitoring over its ``windows`` newest windows (see the
    module docs); with ``cell``, the histograms of that window (0 the oldest) too."""
    ctx.require(Permission.READ, "monitor models")
    check_name(model, kind="model")
    if not 1 <= windows <= MAX_PAGE_WINDOWS:
        raise InvalidInputError(f"{windows} windows: give 1 to {MAX_PAGE_WINDOWS}")
    with ctx.metadata.read() as session:  # one transaction: one consistent snapshot
        if session.model_id(model) is None:
            raise NotFoundError(f"no model {model!r}")
        alerts = tuple(session.list_alerts(model, limit=ALERT_HISTORY))
        version = session.alias_version(model, "live")
        view = _stored(ctx, session, model, version, windows, cell)
    return replace(view, alerts=alerts)


@dataclass(frozen=True)
class LiveMetric:
    """The live version's monitoring as stored, for the Model page: its metric over the
    stored windows and its newest window (None, with ``unavailable`` saying why and
    ``command`` what to run, when none is stored)."""

    decay: DecayResult | None
    latest: SeriesWindow | None
    computed_at: datetime | None
    unavailable: str | None
    command: str | None = None


def live_metric(
    ctx: ServiceContext, model: str, version: int, *, windows: int = DEFAULT_PAGE_WINDOWS
) -> LiveMetric:
    """``model@version``'s metric over its ``windows`` newest stored windows, measured on
    feedback and estimated from confidence, and its newest window's drift."""
    ctx.require(Permission.READ, "monitor models")
    with ctx.metadata.read() as session:
        view = _stored(ctx, session, model, version, windows, None)
    return LiveMetric(view.decay, view.latest, view.computed_at, view.unavailable, view.command)


def _stored(
    ctx: ServiceContext,
    session: MetadataSession,
    model: str,
    version: int | None,
    windows: int,
    cell: int | None,
) -> MonitoringView:
    command = _command(ctx, model)
    if version is None:
        return MonitoringView(
            model,
            None,
            None,
            f"{model} has no live version: nothing is monitored.",
            None,
            None,
            None,
        )

    def fetch(ending_by: datetime | None, limit: int) -> list[MonitorWindowKey]:
        return session.monitor_window_keys(model, version, limit=limit, ending_by=ending_by)

    chosen = spaced_windows(fetch, windows)
    results = session.get_monitor_results([key.result_id for key in chosen])
    if cell is not None and 0 <= cell < len(results):
        opened = session.get_monitor_results([results[cell].result_id], histograms=True)
        results[cell : cell + 1] = opened
    if not results:
        return MonitoringView(
            model,
            version,
            None,
            f"No monitoring results are stored for {model}@{version} yet: the console shows "
            "what pathtolive monitor stored, and computes nothing itself.",
            command,
            None,
            None,
        )
    return MonitoringView(
        model,
        version,
        _series(ctx, model, results),
        None,
        None,
        results[-1].summary.get("reference"),
        max(result.computed_at for result in results),
    )


def _series(ctx: ServiceContext, model: str, results: list[MonitorResult]) -> MonitorSeries:
    newest = results[-1]
    return MonitorSeries(
        window=newest.end - newest.start,
        every=timedelta(seconds=newest.step_seconds),
        windows=tuple(from_stored(result) for result in results),
        persistence=monitoring_config(ctx, model).persistence,
        statistic=HEAT_STATISTIC,
    )


def _command(ctx: ServiceContext, model: str) -> str:
    """The command that stores a series of windows for ``model``, of its configured
    length."""
    length = duration(monitoring_config(ctx, model).window)
    return f"pathtolive monitor {model} --every {length} --count {DEFAULT_PAGE_WINDOWS}"
