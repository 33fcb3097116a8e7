"""The Prometheus recording and alerting rules shipped with pathtolive.

They are a YAML file in this package (``prometheus_rules.yml``) rather than built in
Python: it is the form Prometheus loads and ``promtool`` checks, and an SRE reads and
tunes it as it is. ``pathtolive ops prometheus-rules`` prints it; the repository keeps an
identical copy in ``deploy/prometheus/``. The rules read the metrics the server exports on
``/metrics`` (:mod:`pathtolive.serving.metrics`).
"""

from __future__ import annotations

from importlib import resources

__all__ = ["RULES_FILE", "prometheus_rules"]

RULES_FILE = "prometheus_rules.yml"
"""The rules' file name in this package."""


def prometheus_rules() -> str:
    """The rules file's text, as Prometheus loads it (``rule_files``)."""
    return resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8")
