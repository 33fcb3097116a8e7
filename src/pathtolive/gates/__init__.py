"""Release gates: the checks a candidate model version must pass before an alias moves.

Pure domain logic: predictions and measurements in, a :class:`GateReport` out. The
service layer loads the models, finds the holdout, measures latency and stores the
report; it calls::

    config = GateConfig.from_toml(name, settings.document.get("models", {}))
    baseline = fit_baseline(config.baseline, task, train_features, train_target)
    context = GateContext(config, task, metric, y_true, candidate=..., champion=...,
                          baseline=baseline.predict(holdout_features), slices=..., ...)
    report = run_gates(context, version=version, created_at=now)

An external baseline (``baseline = "external:NAME"``, a model behind an HTTP endpoint) is
described by :class:`ExternalBaseline`; the service calls it and passes its answers as
the baseline's predictions.

User gates subclass :class:`Gate` or decorate a function with :func:`gate`, and are added
with :func:`register_gate`.
"""

from pathtolive.gates.base import (
    COSTS_EXTRA,
    EXTERNAL_BASELINE_EXTRA,
    LATENCY_KEYS,
    VERDICTS,
    FunctionGate,
    Gate,
    GateContext,
    GateFunction,
    GateResult,
    Role,
    Verdict,
    gate,
    plain,
)
from pathtolive.gates.baselines import (
    BASELINES,
    CROSS_FIT_FOLDS,
    FittedBaseline,
    baseline_names,
    cross_fit_baseline,
    fit_baseline,
)
from pathtolive.gates.bootstrap import (
    BLOCK_CELLS,
    Comparison,
    Interval,
    Resampled,
    bootstrap_interval,
    compare_resampled,
    interval_from,
    paired_bootstrap,
    resample_metric,
    resample_weights,
)
from pathtolive.gates.builtin import (
    ACCEPTED_DATA_STATUSES,
    BeatBaselineGate,
    BeatLiveGate,
    CostPer1kGate,
    DataContractGate,
    ExplainabilityGate,
    LatencyGate,
    LoadsAndAnswersGate,
    MinMetricGate,
    MonthlyCostGate,
    SizeGate,
)
from pathtolive.gates.catalog import (
    BUILTIN_GATES,
    DEFAULT_CATALOG,
    GateCatalog,
    evaluate_gates,
    gates_for,
    register_gate,
    run_gates,
)
from pathtolive.gates.config import (
    BUILTIN_GATE_KEYS,
    DEFAULT_POLICY,
    MODEL_KEYS,
    POLICIES,
    GateConfig,
    PolicyName,
    PromotionConfig,
)
from pathtolive.gates.costs import (
    CostSettings,
    Footprint,
    MonthlyCost,
    cost_per_1k,
    money,
    monthly_cost,
    vendor_monthly_cost,
    worth_it_line,
)
from pathtolive.gates.external import (
    EXTERNAL_PREFIX,
    ExternalBaseline,
    WrongAnswerError,
    answers_to_predictions,
    external_name,
)
from pathtolive.gates.metrics import (
    METRICS,
    TASKS,
    ClassLabel,
    FloatArray,
    Metric,
    PredictionKind,
    Resampler,
    Task,
    check_task,
    default_metric,
    get_metric,
    metric_names,
    resolve_classes,
)
from pathtolive.gates.predictions import Predictions, align_proba
from pathtolive.gates.report import REPORT_COLUMNS, GateReport
from pathtolive.gates.slices import (
    MAX_SLICE_VALUES,
    MISSING_SLICE,
    NUMERIC_BINS,
    SliceGate,
    SliceResult,
    SliceStatus,
    slice_results,
)

__all__ = [
    "ACCEPTED_DATA_STATUSES",
    "BASELINES",
    "BLOCK_CELLS",
    "BUILTIN_GATES",
    "BUILTIN_GATE_KEYS",
    "COSTS_EXTRA",
    "CROSS_FIT_FOLDS",
    "DEFAULT_CATALOG",
    "DEFAULT_POLICY",
    "EXTERNAL_BASELINE_EXTRA",
    "EXTERNAL_PREFIX",
    "LATENCY_KEYS",
    "MAX_SLICE_VALUES",
    "METRICS",
    "MISSING_SLICE",
    "MODEL_KEYS",
    "NUMERIC_BINS",
    "POLICIES",
    "REPORT_COLUMNS",
    "TASKS",
    "VERDICTS",
    "BeatBaselineGate",
    "BeatLiveGate",
    "ClassLabel",
    "Comparison",
    "CostPer1kGate",
    "CostSettings",
    "DataContractGate",
    "ExplainabilityGate",
    "ExternalBaseline",
    "FittedBaseline",
    "FloatArray",
    "Footprint",
    "FunctionGate",
    "Gate",
    "GateCatalog",
    "GateConfig",
    "GateContext",
    "GateFunction",
    "GateReport",
    "GateResult",
    "Interval",
    "LatencyGate",
    "LoadsAndAnswersGate",
    "Metric",
    "MinMetricGate",
    "MonthlyCost",
    "MonthlyCostGate",
    "PolicyName",
    "PredictionKind",
    "Predictions",
    "PromotionConfig",
    "Resampled",
    "Resampler",
    "Role",
    "SizeGate",
    "SliceGate",
    "SliceResult",
    "SliceStatus",
    "Task",
    "Verdict",
    "WrongAnswerError",
    "align_proba",
    "answers_to_predictions",
    "baseline_names",
    "bootstrap_interval",
    "check_task",
    "compare_resampled",
    "cost_per_1k",
    "cross_fit_baseline",
    "default_metric",
    "evaluate_gates",
    "external_name",
    "fit_baseline",
    "gate",
    "gates_for",
    "get_metric",
    "interval_from",
    "metric_names",
    "money",
    "monthly_cost",
    "paired_bootstrap",
    "plain",
    "register_gate",
    "resample_metric",
    "resample_weights",
    "resolve_classes",
    "run_gates",
    "slice_results",
    "vendor_monthly_cost",
    "worth_it_line",
]
