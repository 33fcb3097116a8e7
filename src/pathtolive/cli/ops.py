"""``pathtolive ops …``: what running pathtolive in production takes beside it."""

from __future__ import annotations

import typer

from pathtolive.cli.output import JsonOption, emit

__all__ = ["ops_app", "prometheus_rules"]

ops_app = typer.Typer(
    help="Operating pathtolive: the Prometheus rules for its metrics.", no_args_is_help=True
)


@ops_app.command("prometheus-rules")
def prometheus_rules(as_json: JsonOption = False) -> None:
    """Print the Prometheus alerting and recording rules for the servers' /metrics.

    They cover error rate and p99 latency per model, a version that fails to load, open
    drift and decay alerts, the controller's lease, dropped prediction log rows and
    requests the shadow skipped. Save them where Prometheus reads its rule_files
    (pathtolive ops prometheus-rules > pathtolive-rules.yml); with --json, the same rules
    as JSON."""
    import yaml

    from pathtolive.monitoring.prometheus import prometheus_rules as rules

    text = rules()
    # Written as it is, not through Rich: a YAML file to save, wrapped and styled by nothing.
    emit(yaml.safe_load(text), as_json, lambda: print(text, end=""))
