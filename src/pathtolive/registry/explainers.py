"""Per-row explanations: one attribution per input column, for any stored model.

:func:`build_explainer` picks, once per model version, the best method it can prove right:

* ``shap.TreeExplainer`` (``feature_perturbation="tree_path_dependent"``, no background
  needed) for tree ensembles: scikit-learn's ``RandomForest*``, ``ExtraTrees*``,
  ``GradientBoosting*`` (binary classifiers and regressors), ``HistGradientBoosting*`` and
  ``DecisionTree*``; LightGBM and XGBoost boosters and their scikit-learn wrappers.
* ``shap.LinearExplainer`` (a ``maskers.Independent`` on a background sample, so each
  attribution is ``coef * (x - background mean)``) for linear models: ``LogisticRegression``,
  ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet``, ``SGD*`` and their kin.
* ``occlusion`` for anything else (ONNX graphs and custom Python models among them),
  when SHAP is not installed (the method then says so), or when SHAP's answer on a few
  background rows does not add up to the model's own output.

The model may be bare or the last step of a scikit-learn ``Pipeline`` whose earlier steps
are transformers. SHAP then explains the last step on the transformed features, and the
attributions of the transformed features are summed back onto the input columns they come
from (every one-hot column of ``region`` into ``region``), which keeps SHAP's additivity.
When that mapping cannot be established from the fitted transformers
(``ColumnTransformer.output_indices_``, one-to-one feature names, one-hot encoders,
selectors), occlusion is used instead.

What is explained (``Explanation.output``), per kind of model:

=====================================  ===================================================
model                                  explained output (SHAP methods)
=====================================  ===================================================
RandomForest/ExtraTrees/DecisionTree   probability of the class (``predict_proba``)
classifier
GradientBoosting/HistGradientBoosting  log-odds of the class (``decision_function``)
classifier, LightGBM/XGBoost binary
LightGBM/XGBoost multiclass            raw score (softmax logit) of the class
linear classifier                      log-odds (logistic losses) or decision function
                                       (others) of the class (``decision_function``)
regressor                              the predicted value; for a booster or
                                       HistGradientBoosting with a log-link objective
                                       (poisson, gamma, tweedie) the raw score, its log
=====================================  ===================================================

"The class" is the positive (last) class of a binary classifier and, for a multiclass
classifier, the class the model predicts for each row (``Explanation.classes``). Occlusion
explains the probability of that class (or the value of a regressor).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.errors import InvalidInputError
from pathtolive.format import first_line
from pathtolive.registry.flavors import get_flavor
from pathtolive.registry.flavors.base import ClassLabel, LoadedModel, missing_columns_error

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "LINEAR",
    "OCCLUSION",
    "OCCLUSION_WITHOUT_SHAP",
    "TREE",
    "Explainer",
    "Explanation",
    "OcclusionExplainer",
    "build_explainer",
    "occlusion_attributions",
    "reference_row",
]

TREE = "shap.TreeExplainer"
LINEAR = "shap.LinearExplainer"
OCCLUSION = "occlusion"
OCCLUSION_WITHOUT_SHAP = "occlusion (install pathtolive[explain] for SHAP)"

ADDITIVITY_TOLERANCE = 1e-4
"""For SHAP methods, ``|base + sum(values) - prediction| <= ADDITIVITY_TOLERANCE *
max(1, |prediction|)`` on every row; :func:`build_explainer` checks it on background rows
before it trusts SHAP with a model (the libraries compute in float32 in places, so the
error is typically 1e-7 to 1e-6)."""

_CHECK_ROWS = 5
_MAX_STACK = 100_000  # rows per model call when occluding

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Explanation:
    """Attributions of ``n_rows`` rows over the model's input columns.

    ``values[i, j]`` is how much input column ``features[j]`` moves row ``i``'s ``output``.
    For the SHAP methods ``base_values[i] + values[i].sum() == predictions[i]`` within
    :data:`ADDITIVITY_TOLERANCE` (relative, at least absolute), where ``predictions`` is
    computed by the model itself and ``base_values`` is the model's expected output over
    the training data (trees) or the background sample (linear). For occlusion,
    ``values[i, j]`` is ``predictions[i]`` minus the output with column ``j`` set to a
    typical value, and ``base_values`` is the output on the all-typical row: the values are
    not additive.
    """

    method: str
    """``shap.TreeExplainer``, ``shap.LinearExplainer`` or ``occlusion`` (with a note when
    SHAP is not installed)."""
    output: str
    """What is explained: ``"probability of class 1"``, ``"log-odds of class 1"``,
    ``"value"``, ``"… of each row's predicted class"``…"""
    features: tuple[str, ...]
    """The model's input columns, in the model's order (not the transformed features)."""
    values: Matrix
    """Shape ``(n_rows, n_features)``: one attribution per row and input column."""
    base_values: Matrix
    """Shape ``(n_rows,)``."""
    predictions: Matrix
    """Shape ``(n_rows,)``: the explained output of each row, as the model computes it."""
    classes: tuple[ClassLabel, ...] | None = None
    """The class explained on each row (classifiers); None for a regressor."""


class Explainer(Protocol):
    """Explains rows of one model; built once per model version by :func:`build_explainer`."""

    method: str

    def explain(self, rows: pd.DataFrame) -> Explanation:
        """Attributions for ``rows`` (a frame with at least the model's input columns)."""
        ...


def build_explainer(
    model: LoadedModel, background: pd.DataFrame, *, max_background: int = 100
) -> Explainer:
    """The explainer for ``model``: SHAP where it applies and adds up, occlusion otherwise.

    ``background`` is a sample of the model's input (training or reference data) with at
    least the model's input columns; at most ``max_background`` of its rows (a seeded
    sample) are kept for the linear explainer's means and for the build-time check. shap
    is imported here, lazily: without it the explainer is occlusion.
    """
    if max_background < 1:
        raise InvalidInputError(f"max_background must be at least 1, not {max_background}")
    if len(background) == 0:
        raise InvalidInputError("an explainer needs at least one background row")
    features = _input_columns(model, background)
    sample = background
    if len(background) > max_background:
        sample = background.sample(n=max_background, random_state=0)
    reference = reference_row(background[list(features)])
    try:
        shap = importlib.import_module("shap")
    except ImportError:
        return OcclusionExplainer(
            model,
            features,
            reference,
            method=OCCLUSION_WITHOUT_SHAP,
            reason="shap is not installed",
        )
    reason: str | None
    try:
        explainer = _shap_explainer(shap, model, features, sample)
        if isinstance(explainer, str):
            reason = explainer
        else:
            reason = _check(explainer, sample.head(_CHECK_ROWS))
            if reason is None:
                return explainer
    except Exception as exc:  # SHAP cannot explain this model: fall back, documented
        reason = f"SHAP failed: {type(exc).__name__}: {_clipped(first_line(exc))}"
    return OcclusionExplainer(model, features, reference, reason=reason)


# Occlusion ----------------------------------------------------------------------------


def reference_row(frame: pd.DataFrame) -> pd.DataFrame:
    """One row of typical values: medians of numeric columns, the mode of the others."""
    values: dict[str, Any] = {}
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values[column] = series.median()
        else:
            mode = series.mode(dropna=True)
            values[column] = mode.iloc[0] if len(mode) else None
    return pd.DataFrame([values], columns=frame.columns).astype(frame.dtypes.to_dict())


def _output(model: LoadedModel, frame: pd.DataFrame) -> Matrix:
    proba = model.predict_proba(frame)
    if proba is not None:
        matrix = np.asarray(proba, dtype=np.float64)
        # The last class's probability: the positive class of a binary model.
        return matrix[:, -1]
    return np.asarray(model.predict(frame), dtype=np.float64)


def occlusion_attributions(
    model: LoadedModel, rows: pd.DataFrame, reference: pd.DataFrame
) -> tuple[Matrix, Matrix]:
    """(attributions, base values): one attribution per row and column of ``rows``, and
    each row's model output (the last class's probability, or the predicted value)."""
    columns = [str(column) for column in rows.columns]
    outputs = _output(model, _occluded(rows, columns, reference))
    count = len(rows)
    base = outputs[:count]
    attributions = np.empty((count, len(columns)), dtype=np.float64)
    for position in range(len(columns)):
        start = (position + 1) * count
        attributions[:, position] = base - outputs[start : start + count]
    return attributions, base


def _occluded(rows: pd.DataFrame, columns: Sequence[str], reference: pd.DataFrame) -> pd.DataFrame:
    """``rows`` once as they are, then once per column with that column set to the
    reference value (blocks of ``len(rows)``), so one model call scores them all."""
    count = len(rows)
    stacked = rows.iloc[np.tile(np.arange(count), len(columns) + 1)].reset_index(drop=True)
    positions = {str(name): position for position, name in enumerate(stacked.columns)}
    for block, column in enumerate(columns, start=1):
        stacked.iloc[block * count : (block + 1) * count, positions[column]] = reference[
            column
        ].iloc[0]
    return stacked


class OcclusionExplainer:
    """Attributions by occlusion: how much the output moves when one input column alone is
    set to its typical value (:func:`reference_row` of the background). Needs only the
    model's predictions, so it explains any model; the values are not additive.

    The output is the probability of the positive (last) class of a binary classifier, of
    the predicted class of a multiclass one, the value of a regressor; for a classifier
    without probabilities, 1 when the model predicts the row's class, else 0 (so a row's
    prediction is 1 and an attribution of 1 means occluding the column changes the class).
    One model call scores a row and all its occluded copies. Building it scores the
    reference row, so a model that cannot score typical values raises here.
    """

    def __init__(
        self,
        model: LoadedModel,
        features: Sequence[str],
        reference: pd.DataFrame,
        *,
        method: str = OCCLUSION,
        reason: str | None = None,
    ) -> None:
        self.method = method
        self.reason = reason
        """Why SHAP is not used for this model (None when nobody asked for SHAP)."""
        self.features = tuple(features)
        self._model = model
        self._reference = reference[list(self.features)]
        self._proba = get_flavor(model.flavor).gives_probabilities(model)
        classes = model.classes
        if classes is None:
            self.output = "value"
            self._base: Any = float(np.asarray(model.predict(self._reference))[0])
        elif not self._proba:
            self.output = "whether the model predicts the row's class (1) or not (0)"
            self._base = np.asarray(model.predict(self._reference))[0]
        else:
            self._base = np.asarray(model.predict_proba(self._reference), dtype=np.float64)[0]
            if len(classes) == 2:
                self.output = f"probability of class {classes[-1]}"
            else:
                self.output = "probability of each row's predicted class"

    def explain(self, rows: pd.DataFrame) -> Explanation:
        _check_columns(rows, self.features)
        if len(rows) == 0:
            return _empty(self.method, self.output, self.features, self._model.classes)
        chunk = max(1, _MAX_STACK // (len(self.features) + 1))
        parts = [
            self._explain(rows.iloc[start : start + chunk]) for start in range(0, len(rows), chunk)
        ]
        return Explanation(
            method=self.method,
            output=self.output,
            features=self.features,
            values=np.concatenate([part[0] for part in parts]),
            base_values=np.concatenate([part[1] for part in parts]),
            predictions=np.concatenate([part[2] for part in parts]),
            classes=None
            if self._model.classes is None
            else tuple(label for part in parts for label in part[3]),
        )

    def _explain(self, rows: pd.DataFrame) -> tuple[Matrix, Matrix, Matrix, tuple[ClassLabel, ...]]:
        count = len(rows)
        blocks = len(self.features) + 1
        stacked = _occluded(rows, self.features, self._reference)
        classes = self._model.classes
        labels: tuple[ClassLabel, ...] = ()
        if classes is None:
            scored = np.asarray(self._model.predict(stacked), dtype=np.float64)
            base = np.full(count, self._base, dtype=np.float64)
        elif self._proba:
            proba = np.asarray(self._model.predict_proba(stacked), dtype=np.float64)
            if proba.shape[1] == 2:
                chosen = np.full(count, 1, dtype=np.intp)
            else:
                chosen = np.argmax(proba[:count], axis=1)
            scored = proba[np.arange(len(stacked)), np.tile(chosen, blocks)]
            base = np.asarray(self._base, dtype=np.float64)[chosen]
            labels = tuple(classes[index] for index in chosen)
        else:
            predicted = np.asarray(self._model.predict(stacked))
            own = predicted[:count]
            scored = (predicted == np.tile(own, blocks)).astype(np.float64)
            base = (own == self._base).astype(np.float64)
            labels = tuple(_plain(label) for label in own)
        scored = scored.reshape(blocks, count)
        predictions = scored[0]
        values = (predictions - scored[1:]).transpose()
        return np.ascontiguousarray(values), base, predictions.copy(), labels


def _empty(
    method: str, output: str, features: tuple[str, ...], classes: tuple[ClassLabel, ...] | None
) -> Explanation:
    return Explanation(
        method=method,
        output=output,
        features=features,
        values=np.empty((0, len(features)), dtype=np.float64),
        base_values=np.empty(0, dtype=np.float64),
        predictions=np.empty(0, dtype=np.float64),
        classes=None if classes is None else (),
    )


def _plain(value: object) -> ClassLabel:
    item = value.item() if isinstance(value, np.generic) else value
    return item if isinstance(item, str | int | float) else str(item)


def _check_columns(rows: pd.DataFrame, features: Sequence[str]) -> None:
    present = {str(column) for column in rows.columns}
    missing = [name for name in features if name not in present]
    if missing:
        raise missing_columns_error(missing)


# SHAP ---------------------------------------------------------------------------------

_PROBABILITY_TREES = frozenset(
    {
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
    }
)
_SKLEARN_TREES = _PROBABILITY_TREES | {
    "RandomForestRegressor",
    "ExtraTreesRegressor",
    "DecisionTreeRegressor",
    "ExtraTreeRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
}
_LOGISTIC = frozenset({"LogisticRegression", "LogisticRegressionCV"})
_SKLEARN_LINEAR = _LOGISTIC | {
    "LinearRegression",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "Lasso",
    "LassoCV",
    "ElasticNet",
    "ElasticNetCV",
    "Lars",
    "LarsCV",
    "LassoLars",
    "LassoLarsCV",
    "BayesianRidge",
    "ARDRegression",
    "HuberRegressor",
    "SGDClassifier",
    "SGDRegressor",
    "LinearSVC",
    "LinearSVR",
}
_LOG_LINK_LOSSES = frozenset({"poisson", "gamma"})  # HistGradientBoostingRegressor

Array = Any  # what a library takes as input: a frame, a NumPy array or a DMatrix


@dataclass(frozen=True)
class _Final:
    """How SHAP explains the model's last step: in which space, against which output."""

    method: str
    attributions: Callable[[Array], Any]  # SHAP values: (n, m) or (n, m, outputs)
    expected: Callable[[], Any]  # SHAP's expected value(s), read after ``attributions``
    outputs: Callable[[Array], Any]  # the model's own output in the explained space
    space: str  # of a classifier's class: "probability", "log-odds"…
    regression: str = "value"  # what a regressor's output is


class _ShapExplainer:
    """SHAP attributions of the model's last step, summed back onto the input columns."""

    def __init__(
        self,
        final: _Final,
        *,
        features: tuple[str, ...],
        classes: tuple[ClassLabel, ...] | None,
        prepare: Callable[[pd.DataFrame], tuple[Array, Array]],
        fold: Matrix | None,
    ) -> None:
        self.method = final.method
        self.features = features
        self._final = final
        self._classes = classes
        self._prepare = prepare
        self._fold = fold
        if classes is None:
            self.output = final.regression
        elif len(classes) == 2:
            self.output = f"{final.space} of class {classes[-1]}"
        else:
            self.output = f"{final.space} of each row's predicted class"

    def explain(self, rows: pd.DataFrame) -> Explanation:
        _check_columns(rows, self.features)
        count = len(rows)
        if count == 0:
            return _empty(self.method, self.output, self.features, self._classes)
        shap_input, model_input = self._prepare(rows[list(self.features)])
        raw = np.asarray(self._final.attributions(shap_input), dtype=np.float64)
        expected = np.atleast_1d(np.asarray(self._final.expected(), dtype=np.float64))
        outputs = np.asarray(self._final.outputs(model_input), dtype=np.float64)
        labels: tuple[ClassLabel, ...] | None = None
        if raw.ndim == 3:  # one set of attributions per output: per class
            width = raw.shape[2]
            # Binary with both classes explained: the positive one; else the predicted one.
            chosen = np.full(count, 1, dtype=np.intp) if width == 2 else np.argmax(outputs, axis=1)
            positions = np.arange(count)
            values = raw[positions, :, chosen]
            base = expected[chosen]
            predictions = outputs[positions, chosen]
            if self._classes is not None:
                labels = tuple(self._classes[index] for index in chosen)
        else:
            values = raw
            base = np.full(count, expected[0], dtype=np.float64)
            predictions = outputs.reshape(count)
            if self._classes is not None:
                labels = (self._classes[-1],) * count
        if self._fold is not None:
            values = values @ self._fold
        return Explanation(
            method=self.method,
            output=self.output,
            features=self.features,
            values=np.ascontiguousarray(values, dtype=np.float64),
            base_values=base,
            predictions=predictions,
            classes=labels,
        )


def _shap_explainer(
    shap: ModuleType, model: LoadedModel, features: tuple[str, ...], sample: pd.DataFrame
) -> _ShapExplainer | str:
    """The SHAP explainer of ``model``, or why there is none."""
    flavor = get_flavor(model.flavor)
    frame = sample[list(features)]

    def bare(rows: pd.DataFrame) -> tuple[Array, Array]:
        data = flavor.features(model, rows)
        return data, data

    if model.flavor in ("lightgbm", "xgboost"):
        final = _booster(shap, model.model, model, bare(frame)[1])
        if isinstance(final, str):
            return final
        if model.flavor == "xgboost":
            return _ShapExplainer(
                final,
                features=features,
                classes=model.classes,
                prepare=_xgboost_prepare(bare),
                fold=None,
            )
        return _ShapExplainer(
            final, features=features, classes=model.classes, prepare=bare, fold=None
        )
    if model.flavor == "onnx":
        # SHAP's tree and linear explainers read a library's own model objects; a graph
        # offers only its outputs, and KernelSHAP needs thousands of calls per row.
        return "an ONNX graph is explained through its outputs only"
    if model.flavor == "python":
        # The workspace's own class: SHAP knows nothing of its insides either.
        return "a custom Python model is explained through its outputs only"
    if model.flavor != "sklearn":
        return f"no SHAP explainer for the {model.flavor} flavor"
    from sklearn.pipeline import Pipeline

    estimator: Any = model.model
    if not isinstance(estimator, Pipeline) or len(estimator.steps) == 1:
        # A bare estimator, or a one-step pipeline: the step reads the frame as it is.
        last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
        final = _final_step(shap, last, model, bare(frame)[1])
        if isinstance(final, str):
            return final
        return _ShapExplainer(
            final, features=features, classes=model.classes, prepare=bare, fold=None
        )
    last = estimator.steps[-1][1]
    steps = [step for _, step in estimator.steps[:-1]]
    if not all(
        step is None or step == "passthrough" or hasattr(step, "transform") for step in steps
    ):
        return "the pipeline's steps before the last are not all transformers"
    preprocess = estimator[:-1]

    def transformed(rows: pd.DataFrame) -> tuple[Array, Array]:
        data = preprocess.transform(flavor.features(model, rows))
        return _dense(data), data

    dense, data = transformed(frame)
    names = [str(name) for name in getattr(preprocess, "feature_names_in_", ())]
    if not names:
        names = [f"x{index}" for index in range(len(features))]
    sources = _sources(preprocess, names, dense.shape[1])
    if sources is None or len(sources) != dense.shape[1] or len(names) != len(features):
        return "the pipeline's transformed features cannot be traced back to input columns"
    fold = np.zeros((dense.shape[1], len(features)), dtype=np.float64)
    fold[np.arange(len(sources)), sources] = 1.0
    final = _final_step(shap, last, model, data, background=dense)
    if isinstance(final, str):
        return final
    return _ShapExplainer(
        final, features=features, classes=model.classes, prepare=transformed, fold=fold
    )


def _final_step(
    shap: ModuleType,
    step: Any,
    model: LoadedModel,
    data: Array,
    *,
    background: Matrix | None = None,
) -> _Final | str:
    """How SHAP explains ``step``, the model's last step, given its input ``data`` on the
    background sample (``background``: the same, dense)."""
    kind = type(step)
    library = kind.__module__.partition(".")[0]
    if library in ("lightgbm", "xgboost"):
        return _booster(shap, step, model, data)
    if library != "sklearn":
        return f"no SHAP explainer for {kind.__name__}"
    classifier = model.classes is not None
    if kind.__name__ in _SKLEARN_TREES:
        explainer = shap.TreeExplainer(step, feature_perturbation="tree_path_dependent")
        regression = "value"
        if kind.__name__ in _PROBABILITY_TREES:
            space, outputs = "probability", step.predict_proba
        elif classifier:
            binary = model.classes is not None and len(model.classes) == 2
            space = "log-odds" if binary else "raw score (softmax logit)"
            outputs = step.decision_function
        else:
            space, outputs = "", step.predict
            if getattr(step, "loss", None) in _LOG_LINK_LOSSES:
                regression = "log of the predicted value (raw score)"

                def outputs(rows: Array) -> Any:
                    return np.log(step.predict(rows))

        return _Final(
            method=TREE,
            attributions=lambda rows: explainer.shap_values(rows, check_additivity=False),
            expected=lambda: explainer.expected_value,
            outputs=outputs,
            space=space,
            regression=regression,
        )
    if kind.__name__ in _SKLEARN_LINEAR:
        coef = np.asarray(step.coef_, dtype=np.float64)
        intercept = np.atleast_1d(np.asarray(step.intercept_, dtype=np.float64))
        if classifier:
            logistic = kind.__name__ in _LOGISTIC or getattr(step, "loss", None) == "log_loss"
            binary = coef.ndim == 2 and coef.shape[0] == 1
            if binary:
                parameters: tuple[Any, Any] = (coef[0], float(intercept[0]))
                space = "log-odds" if logistic else "decision function"
            else:
                parameters = (coef, intercept)
                space = "logit" if logistic else "decision function"
            outputs = step.decision_function
        else:
            if coef.ndim != 1:
                return f"a {kind.__name__} with several outputs"
            parameters, space, outputs = (coef, float(intercept[0])), "", step.predict
        if background is None:
            background = _dense(data)
        masker = shap.maskers.Independent(background, max_samples=len(background))
        linear = shap.LinearExplainer(parameters, masker)
        return _Final(
            method=LINEAR,
            attributions=lambda rows: linear.shap_values(rows),
            expected=lambda: linear.expected_value,
            outputs=outputs,
            space=space,
        )
    return f"no SHAP explainer for {kind.__name__}"


def _booster(shap: ModuleType, step: Any, model: LoadedModel, data: Array) -> _Final | str:
    """A LightGBM or XGBoost booster, or a scikit-learn wrapper of one."""
    library = type(step).__module__.partition(".")[0]
    classifier = model.classes is not None
    if library == "lightgbm":
        lgb = sys.modules["lightgbm"]
        if isinstance(step, lgb.LGBMModel):
            objective = str(step.objective_)
            raw: Callable[[Array], Any] = lambda rows: step.predict(rows, raw_score=True)  # noqa: E731
            plain: Callable[[Array], Any] = step.predict
        else:
            objective = str(model.metadata.get("objective") or "")
            raw = lambda rows: step.predict(rows, raw_score=True)  # noqa: E731
            plain = step.predict
        explainer = shap.TreeExplainer(step, feature_perturbation="tree_path_dependent")
        space = {"binary": "log-odds", "multiclassova": "raw score (log-odds)"}.get(
            objective, "raw score (softmax logit)"
        )
    else:
        import json

        xgb = sys.modules["xgboost"]
        booster = step.get_booster() if isinstance(step, xgb.XGBModel) else step
        best = booster.attr("best_iteration")
        wrapped = isinstance(step, xgb.XGBModel) or model.metadata.get("estimator") != "Booster"
        if wrapped and best is not None:  # predict as the wrapper did after early stopping
            booster = booster[: int(best) + 1]
        objective = str(json.loads(booster.save_config())["learner"]["objective"]["name"])

        def raw(rows: Array) -> Any:
            return booster.inplace_predict(rows, predict_type="margin")

        def plain(rows: Array) -> Any:
            return booster.inplace_predict(rows)

        explainer = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
        if objective in ("binary:logistic", "binary:logitraw"):
            space = "log-odds"
        elif objective.startswith("multi:"):
            space = "raw score (softmax logit)"
        else:
            space = "raw score"
    regression = "value"
    if not classifier and not np.allclose(
        np.asarray(raw(data), dtype=np.float64), np.asarray(plain(data), dtype=np.float64)
    ):
        regression = f"raw score (before the {objective} objective's inverse link)"
    return _Final(
        method=TREE,
        # from_call: SHAP's own calls skip a stale warning about LightGBM binary output.
        attributions=lambda rows: explainer.shap_values(
            rows, check_additivity=False, from_call=True
        ),
        expected=lambda: explainer.expected_value,
        outputs=raw,
        space=space,
        regression=regression,
    )


def _xgboost_prepare(
    bare: Callable[[pd.DataFrame], tuple[Array, Array]],
) -> Callable[[pd.DataFrame], tuple[Array, Array]]:
    """SHAP converts a frame to a DMatrix without categorical support: give it one with."""

    def prepare(rows: pd.DataFrame) -> tuple[Array, Array]:
        _, data = bare(rows)
        if isinstance(data, pd.DataFrame) and any(
            isinstance(dtype, pd.CategoricalDtype) for dtype in data.dtypes
        ):
            xgb = sys.modules["xgboost"]
            return xgb.DMatrix(data, enable_categorical=True), data
        return data, data

    return prepare


def _check(explainer: _ShapExplainer, rows: pd.DataFrame) -> str | None:
    """Why ``explainer`` cannot be trusted with the model, judged on ``rows``; None if it
    can: the right shapes, finite values, and base + sum(values) = the model's output."""
    explanation = explainer.explain(rows)
    expected = (len(rows), len(explainer.features))
    if explanation.values.shape != expected or explanation.predictions.shape != (len(rows),):
        return f"SHAP gave attributions of shape {explanation.values.shape}, not {expected}"
    if not (
        np.all(np.isfinite(explanation.values))
        and np.all(np.isfinite(explanation.base_values))
        and np.all(np.isfinite(explanation.predictions))
    ):
        return "SHAP gave attributions that are not finite numbers"
    error = _additivity_error(explanation)
    if error > ADDITIVITY_TOLERANCE:
        return f"SHAP attributions do not add up to the model's output (error {error:.3g})"
    return None


def _additivity_error(explanation: Explanation) -> float:
    total = explanation.base_values + explanation.values.sum(axis=1)
    scale = np.maximum(1.0, np.abs(explanation.predictions))
    errors = np.abs(total - explanation.predictions) / scale
    return float(errors.max()) if len(errors) else 0.0


def _dense(data: Array) -> Matrix:
    """``data`` as a dense float matrix (transformers may give sparse matrices or frames)."""
    if hasattr(data, "toarray"):
        data = data.toarray()
    elif isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    return np.asarray(data, dtype=np.float64)


# Tracing transformed features back to input columns -----------------------------------


def _sources(step: Any, names: list[str], width: int | None = None) -> list[int] | None:
    """For each output feature of the fitted transformer ``step``, the position of the one
    input (named ``names``) it is computed from; None when that is not known. ``width``
    is the number of outputs when the caller knows it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(range(len(names)))
    if isinstance(step, str) and step == "drop":
        return []
    if isinstance(step, Pipeline):
        return _pipeline_sources(step, names)
    if isinstance(step, ColumnTransformer):
        return _column_transformer_sources(step, names)
    if isinstance(step, SelectorMixin):
        return [int(index) for index in step.get_support(indices=True)]
    if isinstance(step, OneHotEncoder):
        counts = getattr(step, "_n_features_outs", None)  # one count per input column
        if counts is None or len(counts) != len(names):
            return None
        return [position for position, count in enumerate(counts) for _ in range(int(count))]
    outputs = _names_out(step, names)
    if len(names) == 1:
        count = len(outputs) if outputs is not None else width
        return [0] * count if count is not None else None
    if outputs is None:
        return None
    return _sources_by_name(outputs, names)


def _sources_by_name(outputs: list[str], names: list[str]) -> list[int] | None:
    """Outputs named as an input (one-to-one transformers), ``missingindicator_<input>``, or
    ``<input>_<suffix>`` for exactly one input (one column expanded into several)."""
    positions = {name: position for position, name in enumerate(names)}
    sources: list[int] = []
    for output in outputs:
        if output in positions:
            sources.append(positions[output])
            continue
        indicator = output.removeprefix("missingindicator_")
        if indicator != output and indicator in positions:
            sources.append(positions[indicator])
            continue
        prefixed = [
            position for name, position in positions.items() if output.startswith(f"{name}_")
        ]
        if len(prefixed) != 1:
            return None
        sources.append(prefixed[0])
    return sources


def _pipeline_sources(pipeline: Any, names: list[str]) -> list[int] | None:
    sources = list(range(len(names)))
    current = names
    for _, step in pipeline.steps:
        mapping = _sources(step, current)
        if mapping is None:
            return None
        sources = [sources[position] for position in mapping]
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        following = _names_out(step, current)
        if following is None or len(following) != len(mapping):
            return None
        current = following
    return sources


def _column_transformer_sources(transformer: Any, names: list[str]) -> list[int] | None:
    slices: dict[str, slice] = transformer.output_indices_
    width = max((part.stop for part in slices.values()), default=0)
    sources: list[int | None] = [None] * width
    for name, step, columns in transformer.transformers_:
        part = slices.get(name)
        if part is None or part.stop == part.start:
            continue
        positions = _column_positions(columns, names)
        if positions is None:
            return None
        inner = _sources(step, [names[position] for position in positions], part.stop - part.start)
        if inner is None or len(inner) != part.stop - part.start:
            return None
        for offset, position in enumerate(inner):
            sources[part.start + offset] = positions[position]
    if any(source is None for source in sources):
        return None
    return [source for source in sources if source is not None]


def _column_positions(columns: Any, names: list[str]) -> list[int] | None:
    """The positions among ``names`` of a ColumnTransformer's column selection."""
    try:
        if isinstance(columns, str):
            return [names.index(columns)]
        if isinstance(columns, int | np.integer) and not isinstance(columns, bool):
            return [int(columns)]
        if isinstance(columns, slice):
            if isinstance(columns.start, str) or isinstance(columns.stop, str):
                start = names.index(columns.start) if columns.start is not None else 0
                stop = names.index(columns.stop) + 1 if columns.stop is not None else len(names)
                return list(range(start, stop))
            return list(range(len(names)))[columns]
        selection = np.asarray(columns)
        if selection.dtype == bool:
            return [int(index) for index in np.flatnonzero(selection)]
        if selection.dtype.kind in "iu":
            return [int(index) for index in selection.reshape(-1)]
        return [names.index(str(column)) for column in selection.reshape(-1)]
    except (ValueError, TypeError):
        return None


def _names_out(step: Any, names: list[str]) -> list[str] | None:
    try:
        return [str(name) for name in step.get_feature_names_out(names)]
    except (AttributeError, ValueError, TypeError, NotImplementedError):
        return None


# Shared ---------------------------------------------------------------------------------


def _input_columns(model: LoadedModel, frame: pd.DataFrame) -> tuple[str, ...]:
    """The columns of ``frame`` the model reads, in the model's order (all of them, in
    order, for a model fitted without column names)."""
    columns = [str(column) for column in frame.columns]
    names = get_flavor(model.flavor).input_columns(model, columns)
    return tuple(names if names is not None else columns)


def _clipped(line: str) -> str:
    return line if len(line) <= 300 else line[:297] + "..."
