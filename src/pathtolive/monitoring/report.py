"""The monitoring report: what one look at a live model's traffic found, as typed data.

The monitor service builds a :class:`MonitorReport`; the faces render it. It holds the
domain's own results rather than copies of them: the input drift is the
:class:`~pathtolive.monitoring.drift.DriftResult` that :func:`~pathtolive.monitoring.drift.compare`
returned, the prediction drift one :class:`~pathtolive.monitoring.drift.FeatureDrift`
(the model's output against its first outputs once live), the decay the
:class:`~pathtolive.monitoring.decay.DecayResult`, and the alerts the stored
:class:`~pathtolive.entities.Alert` entities. So a renderer reads typed fields and needs
no checks of its own, and :meth:`MonitorReport.to_dict` — what ``pathtolive monitor
--json`` prints — is the parts' own ``to_dict`` put together, so the JSON and the HTML
page cannot tell different stories.

The JSON, where ``drift``, ``prediction_drift`` and ``decay`` may be null::

    {"model", "version", "generated_at", "window": {"start", "end", "rows", "description"},
     "trained_on": [...], "reference": "loans@3",
     "drift": DriftResult.to_dict(),
     "drift_alerting": {"alerts", "min_weighted_drift", "weighted_drift", "reason"},
     "prediction_drift": FeatureDrift.to_dict() and "reference_description",
     "decay": DecayResult.to_dict(),
     "alerts": [{"alert_id", "model", "kind", "key", "status", "message", "details",
                 "opened_at", "cleared_at",
                 "delivery": {"state", "id", "attempts", "delivered_at", "next_attempt_at",
                              "last_error"}}],
     "series": MonitorSeries.to_dict()}

where the ``delivery`` of an alert is its webhook's (``state`` ``delivered``, ``pending``
or ``""`` when the model has no webhook). ``series`` is null unless the look covered a
series of windows (``--every``, or a configured persistence); its newest window is the one
the other sections describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pathtolive.display import HtmlDisplay
from pathtolive.entities import Alert
from pathtolive.monitoring.decay import DecayResult
from pathtolive.monitoring.drift import DriftResult, FeatureDrift
from pathtolive.monitoring.series import MonitorSeries

__all__ = [
    "DriftAlerting",
    "MonitorReport",
    "MonitorWindow",
    "PredictionDrift",
    "alert_dict",
    "delivery_dict",
]


@dataclass(frozen=True)
class MonitorWindow:
    """The stretch of the prediction log looked at. ``start`` is None when the report
    covers the last requests of a log without any (nothing to start from); ``rows`` counts
    the live and canary rows in it; ``description`` says how it was chosen (``last 24h``,
    ``last 300 requests``)."""

    start: datetime | None
    end: datetime
    rows: int
    description: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; times in ISO 8601."""
        return {
            "start": self.start.isoformat() if self.start is not None else None,
            "end": self.end.isoformat(),
            "rows": self.rows,
            "description": self.description,
        }


@dataclass(frozen=True)
class DriftAlerting:
    """Whether the input drift of this look may open alerts: ``alerts`` is False when
    ``min_weighted_drift`` is set and the drifted features carry less of the model's
    attribution (``weighted_drift``; None when the importance is not known). ``reason``
    says which, in a sentence."""

    alerts: bool
    min_weighted_drift: float | None
    weighted_drift: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "alerts": self.alerts,
            "min_weighted_drift": self.min_weighted_drift,
            "weighted_drift": self.weighted_drift,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class PredictionDrift:
    """The drift of the model's output in the window against ``reference_description``
    (its first logged outputs)."""

    drift: FeatureDrift
    reference_description: str

    def to_dict(self) -> dict[str, Any]:
        """The feature's JSON with ``reference_description`` added."""
        return {**self.drift.to_dict(), "reference_description": self.reference_description}


@dataclass(frozen=True)
class MonitorReport(HtmlDisplay):
    """One monitoring look at ``model`` version ``version`` (see the module docs).

    ``reference`` is the dataset version whose stored profile the inputs were compared
    with, ``trained_on`` every dataset version the version's run read. A section is None
    when it could not be computed: no drift without live rows, no prediction drift
    without enough first outputs to compare with, no decay without predictions.
    ``alerts`` are the model's open alerts once this look has raised and cleared its own;
    ``drift_alerting`` says whether the input drift could open any.
    """

    model: str
    version: int
    generated_at: datetime
    window: MonitorWindow
    trained_on: tuple[str, ...]
    reference: str
    drift: DriftResult | None = None
    drift_alerting: DriftAlerting | None = None
    prediction_drift: PredictionDrift | None = None
    decay: DecayResult | None = None
    alerts: tuple[Alert, ...] = ()
    series: MonitorSeries | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``pathtolive monitor --json`` prints."""
        return {
            "model": self.model,
            "version": self.version,
            "generated_at": self.generated_at.isoformat(),
            "window": self.window.to_dict(),
            "trained_on": list(self.trained_on),
            "reference": self.reference,
            "drift": self.drift.to_dict() if self.drift is not None else None,
            "drift_alerting": (
                self.drift_alerting.to_dict() if self.drift_alerting is not None else None
            ),
            "prediction_drift": (
                self.prediction_drift.to_dict() if self.prediction_drift is not None else None
            ),
            "decay": self.decay.to_dict() if self.decay is not None else None,
            "alerts": [
                {**alert_dict(alert), "delivery": delivery_dict(alert)} for alert in self.alerts
            ],
            "series": self.series.to_dict() if self.series is not None else None,
        }


def alert_dict(alert: Alert) -> dict[str, Any]:
    """An alert as the report and the webhook's payload show it (plain JSON types)."""
    return {
        "alert_id": alert.alert_id,
        "model": alert.model,
        "kind": alert.kind,
        "key": alert.key,
        "status": alert.status,
        "message": alert.message,
        "details": alert.details,
        "opened_at": alert.opened_at.isoformat(),
        "cleared_at": alert.cleared_at.isoformat() if alert.cleared_at else None,
    }


def delivery_dict(alert: Alert) -> dict[str, Any]:
    """Where the alert's webhook delivery stands (plain JSON types); not part of the
    webhook's payload."""
    return {
        "state": alert.delivery,
        "id": alert.delivery_id,
        "attempts": alert.delivery_attempts,
        "delivered_at": alert.delivered_at.isoformat() if alert.delivered_at else None,
        "next_attempt_at": (
            alert.delivery_due_at.isoformat() if alert.delivery_due_at is not None else None
        ),
        "last_error": alert.delivery_error,
    }
