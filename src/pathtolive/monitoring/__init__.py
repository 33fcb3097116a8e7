"""Watching live models: drift, decay, alerts, reports, and the retraining loop.

Each part is imported from its module (:mod:`~pathtolive.monitoring.drift`,
:mod:`~pathtolive.monitoring.sketch`, :mod:`~pathtolive.monitoring.decay`,
:mod:`~pathtolive.monitoring.webhook`, :mod:`~pathtolive.monitoring.report`,
:mod:`~pathtolive.monitoring.config`); the package exports nothing itself, so that reading
the monitoring settings does not load the statistics.
"""

__all__: list[str] = []
