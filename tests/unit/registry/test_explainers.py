"""Per-row explanations: SHAP where it applies, folded onto input columns, occlusion else."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC

from pathtolive.errors import InvalidInputError
from pathtolive.registry import LightGBMFlavor, LoadedModel, XGBoostFlavor, wrap
from pathtolive.registry.explainers import (
    ADDITIVITY_TOLERANCE,
    LINEAR,
    OCCLUSION,
    OCCLUSION_WITHOUT_SHAP,
    TREE,
    Explanation,
    OcclusionExplainer,
    build_explainer,
    occlusion_attributions,
    reference_row,
)
from pathtolive.service.explain import check_explanations

pytest.importorskip("shap", reason="shap is not installed (pathtolive[explain])")
lgb = pytest.importorskip("lightgbm", reason="lightgbm is not installed (pathtolive[lightgbm])")
xgb = pytest.importorskip("xgboost", reason="xgboost is not installed (pathtolive[xgboost])")

Dataset = tuple[pd.DataFrame, pd.Series]


def _numeric(dataset: Dataset) -> Dataset:
    features, target = dataset
    return features.drop(columns=["size"]).fillna(features.median(numeric_only=True)), target


def _with_region(dataset: Dataset) -> Dataset:
    """Diabetes with a categorical column derived from two numeric ones, and a binary
    target (disease progression above the median)."""
    features, target = dataset
    frame = features.copy()
    frame["region"] = np.where(
        frame["sex"] > 0, "north", np.where(frame["bmi"] > 0, "south", "east")
    )
    return frame, (target > target.median()).astype(int)


def _assert_additive(explanation: Explanation) -> None:
    total = explanation.base_values + explanation.values.sum(axis=1)
    np.testing.assert_allclose(
        total, explanation.predictions, rtol=ADDITIVITY_TOLERANCE, atol=ADDITIVITY_TOLERANCE
    )


def _assert_shapes(explanation: Explanation, rows: int, features: list[str]) -> None:
    assert explanation.features == tuple(features)
    assert explanation.values.shape == (rows, len(features))
    assert explanation.base_values.shape == (rows,)
    assert explanation.predictions.shape == (rows,)
    assert np.all(np.isfinite(explanation.values))


# Tree models ----------------------------------------------------------------------------


def test_gradient_boosting_classifier_explains_log_odds(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(features, target)

    explainer = build_explainer(wrap(model), features)
    explanation = explainer.explain(features.head(40))

    assert explainer.method == TREE
    assert explanation.output == "log-odds of class 1"
    assert explanation.classes == (1,) * 40
    _assert_shapes(explanation, 40, list(features.columns))
    _assert_additive(explanation)
    # The explained space is the model's margin: the log-odds of predict_proba.
    np.testing.assert_allclose(
        explanation.predictions, model.decision_function(features.head(40)), rtol=1e-12
    )
    np.testing.assert_allclose(
        explanation.predictions, logit(model.predict_proba(features.head(40))[:, 1]), rtol=1e-6
    )


def test_random_forest_regressor_explains_the_value(diabetes: Dataset) -> None:
    features, target = diabetes
    model = RandomForestRegressor(n_estimators=30, random_state=0).fit(features, target)

    explainer = build_explainer(wrap(model), features, max_background=50)
    explanation = explainer.explain(features.tail(25))

    assert explainer.method == TREE
    assert explanation.output == "value"
    assert explanation.classes is None
    _assert_shapes(explanation, 25, list(features.columns))
    _assert_additive(explanation)
    np.testing.assert_allclose(explanation.predictions, model.predict(features.tail(25)))


def test_random_forest_classifier_explains_the_probability(cancer: Dataset) -> None:
    """A pipeline with an imputer (and missing-value indicators) and a one-hot encoded
    string column: the probability of the positive class, over the input columns."""
    features, target = cancer
    numeric = [column for column in features.columns if column != "size"]
    preprocess = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    model = make_pipeline(preprocess, RandomForestClassifier(n_estimators=30, random_state=0)).fit(
        features, target
    )

    explanation = build_explainer(wrap(model), features).explain(features.head(30))

    assert explanation.method == TREE
    assert explanation.output == "probability of class 1"
    _assert_shapes(explanation, 30, list(features.columns))
    _assert_additive(explanation)
    np.testing.assert_allclose(
        explanation.predictions, model.predict_proba(features.head(30))[:, 1]
    )


def test_multiclass_explains_each_rows_predicted_class(wine: Dataset) -> None:
    features, target = wine
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(features, target)
    loaded = LightGBMFlavor().load(LightGBMFlavor().save(model))

    explanation = build_explainer(loaded, features).explain(features)

    assert explanation.method == TREE
    assert explanation.output == "raw score (softmax logit) of each row's predicted class"
    assert explanation.classes == tuple(model.predict(features).tolist())
    _assert_additive(explanation)
    raw = model.predict(features, raw_score=True)
    np.testing.assert_allclose(
        explanation.predictions, raw[np.arange(len(features)), model.predict(features)]
    )


# Boosters -------------------------------------------------------------------------------


def test_lightgbm_classifier_explains_log_odds(cancer: Dataset) -> None:
    features, target = cancer
    features = features.assign(size=features["size"].astype("category"))  # native categories
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1).fit(features, target)
    loaded = LightGBMFlavor().load(LightGBMFlavor().save(model))

    explanation = build_explainer(loaded, features).explain(features.head(50))

    assert explanation.method == TREE
    assert explanation.output == "log-odds of class 1"
    _assert_shapes(explanation, 50, list(features.columns))  # spaces, as the frame spells them
    _assert_additive(explanation)
    np.testing.assert_allclose(
        explanation.predictions, model.predict(features.head(50), raw_score=True)
    )
    np.testing.assert_allclose(
        explanation.predictions, logit(loaded.predict_proba(features.head(50))[:, 1]), rtol=1e-6
    )


def test_xgboost_classifier_explains_log_odds(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    model = xgb.XGBClassifier(n_estimators=30, n_jobs=1).fit(features, target)
    loaded = XGBoostFlavor().load(XGBoostFlavor().save(model))

    explanation = build_explainer(loaded, features).explain(features.head(50))

    assert explanation.method == TREE
    assert explanation.output == "log-odds of class 1"
    _assert_shapes(explanation, 50, list(features.columns))
    _assert_additive(explanation)
    # XGBoost computes in float32: the margin matches to float32 precision.
    np.testing.assert_allclose(
        explanation.predictions,
        model.predict(features.head(50), output_margin=True),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        explanation.predictions,
        logit(loaded.predict_proba(features.head(50))[:, 1].astype(np.float64)),
        rtol=1e-4,
        atol=1e-4,
    )


def test_xgboost_after_early_stopping_explains_the_trees_it_predicts_with(
    cancer: Dataset,
) -> None:
    features, target = _numeric(cancer)
    model = xgb.XGBClassifier(n_estimators=200, early_stopping_rounds=3, n_jobs=1)
    model.fit(
        features.iloc[:400],
        target.iloc[:400],
        eval_set=[(features.iloc[400:], target.iloc[400:])],
        verbose=False,
    )
    assert model.best_iteration < 199
    loaded = XGBoostFlavor().load(XGBoostFlavor().save(model))

    explanation = build_explainer(loaded, features).explain(features.head(20))

    assert explanation.method == TREE
    _assert_additive(explanation)
    np.testing.assert_allclose(
        explanation.predictions,
        model.predict(features.head(20), output_margin=True),
        rtol=1e-5,
        atol=1e-5,
    )


# Linear models --------------------------------------------------------------------------


def test_logistic_regression_pipeline_folds_one_hot_columns(diabetes: Dataset) -> None:
    features, target = _with_region(diabetes)
    numeric = [column for column in features.columns if column != "region"]
    model = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["region"])]
        ),
        LogisticRegression(max_iter=1000),
    ).fit(features, target)

    explainer = build_explainer(wrap(model), features, max_background=len(features))
    explanation = explainer.explain(features.head(30))

    assert explainer.method == LINEAR
    assert explanation.output == "log-odds of class 1"
    _assert_shapes(explanation, 30, list(features.columns))  # region once, not per value
    _assert_additive(explanation)
    np.testing.assert_allclose(explanation.predictions, model.decision_function(features.head(30)))
    # region's attribution is the sum of its one-hot columns' coef * (x - background mean).
    transformed = model[:-1].transform(features)
    region = slice(*_slice_bounds(model[0].output_indices_["cat"]))
    coef = model[-1].coef_[0][region]
    expected = (transformed[:30, region] - transformed[:, region].mean(axis=0)) @ coef
    np.testing.assert_allclose(explanation.values[:, -1], expected, rtol=1e-9, atol=1e-12)


def _slice_bounds(part: slice) -> tuple[int, int]:
    return int(part.start), int(part.stop)


def test_linear_explainer_on_a_bare_multiclass_model(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, target)

    explanation = build_explainer(wrap(model), features).explain(features)

    assert explanation.method == LINEAR
    assert explanation.output == "logit of each row's predicted class"
    assert explanation.classes == tuple(model.predict(features).tolist())
    _assert_additive(explanation)
    scores = model.decision_function(features)
    np.testing.assert_allclose(
        explanation.predictions, scores[np.arange(len(features)), model.predict(features)]
    )


# Fallback -------------------------------------------------------------------------------


def test_models_without_a_shap_explainer_use_occlusion(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    model = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(features, target)

    explainer = build_explainer(wrap(model), features)
    explanation = explainer.explain(features.head(10))

    assert explainer.method == OCCLUSION
    assert isinstance(explainer, OcclusionExplainer)
    assert explainer.reason == "no SHAP explainer for KNeighborsClassifier"
    assert explanation.output == "probability of class 1"
    _assert_shapes(explanation, 10, list(features.columns))
    np.testing.assert_allclose(
        explanation.predictions, model.predict_proba(features.head(10))[:, 1]
    )
    reference = reference_row(features)
    np.testing.assert_allclose(
        explanation.base_values, model.predict_proba(reference)[0, 1].repeat(10)
    )
    # Each value: the prediction minus the prediction with that column set to its median.
    occluded = features.head(10).assign(**{"mean radius": reference["mean radius"].iloc[0]})
    np.testing.assert_allclose(
        explanation.values[:, 0],
        explanation.predictions - model.predict_proba(occluded)[:, 1],
    )


def test_classifier_without_probabilities_explains_keeping_its_class(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    model = make_pipeline(StandardScaler(), SVC()).fit(features, target)

    explanation = build_explainer(wrap(model), features).explain(features.head(10))

    assert explanation.method == OCCLUSION
    assert explanation.output == "whether the model predicts the row's class (1) or not (0)"
    assert explanation.classes == tuple(model.predict(features.head(10)).tolist())
    np.testing.assert_array_equal(explanation.predictions, np.ones(10))
    assert set(np.unique(explanation.values)) <= {0.0, 1.0}


def test_unsupported_shap_models_and_untraceable_pipelines_fall_back(
    wine: Dataset, cancer: Dataset
) -> None:
    features, target = wine
    multiclass = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(features, target)
    explainer = build_explainer(wrap(multiclass), features)
    assert explainer.method == OCCLUSION
    assert "only supported for binary classification" in str(getattr(explainer, "reason", ""))
    explanation = explainer.explain(features.head(5))
    assert explanation.output == "probability of each row's predicted class"
    assert explanation.classes == tuple(multiclass.predict(features.head(5)).tolist())

    numeric, labels = _numeric(cancer)
    crossed = make_pipeline(
        ColumnTransformer([("poly", PolynomialFeatures(2), list(numeric.columns[:3]))]),
        LogisticRegression(max_iter=1000),
    ).fit(numeric, labels)
    explainer = build_explainer(wrap(crossed), numeric)
    assert explainer.method == OCCLUSION
    assert "cannot be traced back to input columns" in str(getattr(explainer, "reason", ""))
    explanation = explainer.explain(numeric.head(5))
    _assert_shapes(explanation, 5, list(numeric.columns))
    np.testing.assert_allclose(explanation.values[:, 3:], 0.0, atol=1e-12)  # columns it drops


def test_without_shap_installed_the_method_says_so(
    diabetes: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, target = diabetes
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(features, target)
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap raises ImportError

    explainer = build_explainer(wrap(model), features)

    assert explainer.method == OCCLUSION_WITHOUT_SHAP
    assert explainer.method == "occlusion (install pathtolive[explain] for SHAP)"
    assert explainer.explain(features.head(3)).values.shape == (3, len(features.columns))


# Which feature matters ------------------------------------------------------------------


def _one_feature_matters() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(600, 5)), columns=["a", "b", "signal", "d", "e"])
    frame["region"] = rng.choice(["north", "south", "east"], size=len(frame))
    target = (frame["signal"] + 0.1 * rng.normal(size=len(frame)) > 0).astype(int)
    return frame, target


def _numeric_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["region"])


_ONE_HOT = ColumnTransformer(
    [
        ("num", StandardScaler(), ["a", "b", "signal", "d", "e"]),
        ("cat", OneHotEncoder(), ["region"]),
    ]
)

_MODELS: dict[str, tuple[Callable[[], Any], bool, str]] = {
    # name: (model factory, whether it reads region, expected method)
    "gradient boosting": (
        lambda: GradientBoostingClassifier(n_estimators=30, random_state=0),
        False,
        TREE,
    ),
    "random forest in a pipeline": (
        lambda: make_pipeline(_ONE_HOT, RandomForestClassifier(n_estimators=30, random_state=0)),
        True,
        TREE,
    ),
    "logistic regression in a pipeline": (
        lambda: make_pipeline(_ONE_HOT, LogisticRegression()),
        True,
        LINEAR,
    ),
    "lightgbm": (lambda: lgb.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1), False, TREE),
    "xgboost": (lambda: xgb.XGBClassifier(n_estimators=30, n_jobs=1), False, TREE),
    "k nearest neighbours": (lambda: KNeighborsClassifier(n_neighbors=15), False, OCCLUSION),
}


@pytest.mark.parametrize("name", list(_MODELS))
def test_the_feature_the_model_depends_on_gets_the_largest_attribution(name: str) -> None:
    factory, reads_region, method = _MODELS[name]
    frame, target = _one_feature_matters()
    features = frame if reads_region else _numeric_only(frame)
    loaded: LoadedModel = wrap(factory().fit(features, target))

    explanation = build_explainer(loaded, features).explain(features.head(200))

    assert explanation.method == method
    importance = np.abs(explanation.values).mean(axis=0)
    assert explanation.features[int(np.argmax(importance))] == "signal"
    others = np.delete(importance, explanation.features.index("signal"))
    assert importance[explanation.features.index("signal")] > 3 * others.max()


# Input handling -------------------------------------------------------------------------


def test_rows_may_carry_other_columns_in_any_order(diabetes: Dataset) -> None:
    features, target = diabetes
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(features, target)
    explainer = build_explainer(wrap(model), features.assign(target=target))

    shuffled = features.head(5)[list(reversed(features.columns))].assign(extra="x")
    explanation = explainer.explain(shuffled)

    assert explanation.features == tuple(features.columns)
    np.testing.assert_allclose(explanation.predictions, model.predict(features.head(5)))


@pytest.mark.parametrize("kind", ["shap", "occlusion"])
def test_missing_columns_and_empty_input(diabetes: Dataset, kind: str) -> None:
    features, target = diabetes
    estimator = (
        RandomForestRegressor(n_estimators=5, random_state=0)
        if kind == "shap"
        else KNeighborsClassifier()
    )
    fitted = estimator.fit(features, target if kind == "shap" else target > target.median())
    explainer = build_explainer(wrap(fitted), features)

    with pytest.raises(InvalidInputError) as caught:
        explainer.explain(features.drop(columns=["bmi"]))
    assert caught.value.details == {"missing_columns": ["bmi"]}

    empty = explainer.explain(features.head(0))
    assert empty.values.shape == (0, len(features.columns))
    assert empty.predictions.shape == (0,)


def test_background_must_have_rows(diabetes: Dataset) -> None:
    features, target = diabetes
    model = wrap(RandomForestRegressor(n_estimators=5, random_state=0).fit(features, target))
    with pytest.raises(InvalidInputError, match="at least one background row"):
        build_explainer(model, features.head(0))
    with pytest.raises(InvalidInputError, match="max_background"):
        build_explainer(model, features, max_background=0)


# The gate's occlusion, moved here -------------------------------------------------------


def test_occlusion_attributions_match_one_model_call_per_column(cancer: Dataset) -> None:
    features, target = cancer
    model = wrap(
        make_pipeline(
            ColumnTransformer(
                [
                    (
                        "num",
                        make_pipeline(SimpleImputer(), StandardScaler()),
                        list(features.columns[:-1]),
                    ),
                    ("cat", OneHotEncoder(), ["size"]),
                ]
            ),
            LogisticRegression(max_iter=1000),
        ).fit(features, target)
    )
    rows = features.head(7)
    reference = reference_row(features)

    attributions, base = occlusion_attributions(model, rows, reference)

    proba = model.predict_proba(rows)
    assert proba is not None
    np.testing.assert_allclose(base, proba[:, 1])
    for position, column in enumerate(rows.columns):
        occluded = rows.copy()
        occluded[column] = reference[column].iloc[0]
        occluded_proba = model.predict_proba(occluded)
        assert occluded_proba is not None
        np.testing.assert_allclose(
            attributions[:, position], base - occluded_proba[:, 1], rtol=1e-9, atol=1e-12
        )
    check = check_explanations(model, features)
    assert check.available, check.detail
