"""`[models.NAME.monitoring]` and `[models.NAME.retrain]` are read strictly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pathtolive.errors import ConfigError
from pathtolive.monitoring.config import MonitoringConfig, RetrainConfig, parse_window
from pathtolive.monitoring.drift import DriftThresholds


def test_windows() -> None:
    assert parse_window("24h") == timedelta(hours=24)
    assert parse_window("30m") == timedelta(minutes=30)
    assert parse_window("1.5d") == timedelta(days=1.5)
    assert parse_window(" 2w ") == timedelta(weeks=2)
    for bad in ("", "24", "h", "0h", "-1d", "3 years"):
        with pytest.raises(ConfigError, match="not a duration"):
            parse_window(bad)


def test_monitoring_settings_and_defaults() -> None:
    models = {
        "risk": {
            "monitoring": {
                "drift_threshold": {"psi": 0.3, "ks_pvalue": 0.001, "correction": "none"},
                "min_rows": 50,
                "decay_drop": 0.02,
                "window": "6h",
                "alert_webhook": "http://127.0.0.1:9000/hook",
                "alert_backoff": "2m",
            }
        }
    }
    config = MonitoringConfig.from_toml("risk", models)
    assert config.window == timedelta(hours=6)
    assert config.alert_backoff == timedelta(minutes=2)
    assert config.min_rows == 50
    thresholds = DriftThresholds.from_mapping(config.drift_threshold)
    assert thresholds.psi == 0.3
    assert thresholds.correction == "none"
    default = MonitoringConfig.from_toml("other", models)
    assert default.min_rows == 500
    assert default.window == timedelta(hours=24)
    assert default.alert_webhook is None
    assert default.alert_backoff == timedelta(seconds=30)
    assert default.verdict == "effect+significance"
    assert default.min_weighted_drift is None


def test_the_verdict_rule_and_effect_thresholds() -> None:
    table = {
        "verdict": "significance",
        "drift_threshold": {"wasserstein": 0.2, "js": False},
        "min_weighted_drift": 0.25,
    }
    config = MonitoringConfig.from_toml("risk", {"risk": {"monitoring": table}})
    assert (config.verdict, config.min_weighted_drift) == ("significance", 0.25)
    thresholds = DriftThresholds.from_mapping(config.drift_threshold, verdict=config.verdict)
    assert (thresholds.wasserstein, thresholds.js, thresholds.psi) == (0.2, None, 0.1)
    assert thresholds.verdict == "significance"


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"min_row": 5}, "min_row"),
        ({"min_rows": 0}, "min_rows"),
        ({"decay_drop": -1}, "decay_drop"),
        ({"alert_webhook": "ftp://x"}, "alert_webhook"),
        ({"drift_threshold": {"psi": "high"}}, "drift_threshold"),
        ({"window": "soon"}, "window"),
        ({"verdict": "loud"}, "verdict"),
        ({"verdict": "effect", "drift_threshold": {"ks_pvalue": False}}, "drift_threshold"),
        ({"min_weighted_drift": 2}, "min_weighted_drift"),
        ({"min_weighted_drift": "high"}, "min_weighted_drift"),
        ({"alert_backoff": "0s"}, "alert_backoff"),
        ({"alert_backoff": 30}, "alert_backoff"),
    ],
)
def test_bad_monitoring_settings_name_the_key(table: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        MonitoringConfig.from_toml("risk", {"risk": {"monitoring": table}})


def test_retrain_settings() -> None:
    assert RetrainConfig.from_toml("risk", {"risk": {}}) is None
    config = RetrainConfig.from_toml(
        "risk",
        {
            "risk": {
                "retrain": {
                    "pipeline": "risk",
                    "dataset": "loans",
                    "on": ["new_data", "schedule"],
                    "schedule": "0 3 * * 1",
                }
            }
        },
    )
    assert config is not None
    assert config.on == ("new_data", "schedule")
    assert config.alias == "live"
    assert config.min_weighted_drift is None
    weighted = {"pipeline": "p", "dataset": "d", "min_weighted_drift": 0.3}
    read = RetrainConfig.from_toml("risk", {"risk": {"retrain": weighted}})
    assert read is not None
    assert read.min_weighted_drift == 0.3
    with pytest.raises(ConfigError, match=r"retrain\.min_weighted_drift must be a share"):
        RetrainConfig.from_toml(
            "risk", {"risk": {"retrain": {**weighted, "min_weighted_drift": True}}}
        )
    with pytest.raises(ConfigError, match="pipeline"):
        RetrainConfig.from_toml("risk", {"risk": {"retrain": {"dataset": "loans"}}})
    with pytest.raises(ConfigError, match="no schedule"):
        RetrainConfig.from_toml(
            "risk",
            {"risk": {"retrain": {"pipeline": "p", "dataset": "d", "on": ["schedule"]}}},
        )
    with pytest.raises(ConfigError, match="cron"):
        RetrainConfig.from_toml(
            "risk",
            {"risk": {"retrain": {"pipeline": "p", "dataset": "d", "schedule": "daily"}}},
        )
    with pytest.raises(ConfigError, match="on = 'rain' is not a trigger"):
        RetrainConfig.from_toml(
            "risk", {"risk": {"retrain": {"pipeline": "p", "dataset": "d", "on": ["rain"]}}}
        )
    every = ["code", "new_data", "schema", "drift", "decay", "config"]
    read = RetrainConfig.from_toml(
        "risk", {"risk": {"retrain": {"pipeline": "p", "dataset": "d", "on": every}}}
    )
    assert read is not None
    assert read.on == tuple(every)
    with pytest.raises(ConfigError, match="did you mean 'code'"):
        RetrainConfig.from_toml(
            "risk", {"risk": {"retrain": {"pipeline": "p", "dataset": "d", "on": ["cod"]}}}
        )


def test_retrain_trust_names_types_for_the_retrained_model() -> None:
    def read(trust: object) -> RetrainConfig | None:
        table = {"pipeline": "p", "dataset": "d", "trust": trust}
        return RetrainConfig.from_toml("risk", {"risk": {"retrain": table}})

    config = read(["mypkg.clean"])
    assert config is not None
    assert config.trust == ("mypkg.clean",)
    for bad in ("mypkg.clean", [""], [3]):
        with pytest.raises(ConfigError, match="trust must be a list of type names"):
            read(bad)
