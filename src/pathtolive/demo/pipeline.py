"""The garage risk-rating pipeline: the training code the demo puts in its workspace.

``pathtolive demo`` copies this file to ``pipelines/garage_risk.py`` of the workspace, where
``pathtolive run garage_risk`` and the controller find it; it is plain Python with three
steps. The model is a scikit-learn pipeline: the region and the garage size one-hot
encoded (a region the model has not seen encodes as all zeros), the numbers as they are,
then histogram gradient boosting, which finds the two-sided and threshold signals of
the data (a failure rate too low *or* too high for the garage) that a linear model
cannot.

The pipeline reads the columns in :data:`FEATURES` and nothing else: a column that a
later data version adds is stored and profiled, but not read until this list says so.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from pathtolive import Dataset, log_metric, pipeline, step

__all__ = ["FEATURES", "garage_risk"]

TARGET = "high_risk"
CATEGORIES = ["region", "garage_size"]
FEATURES = [
    "region",
    "garage_size",
    "testers",
    "tests",
    "mean_test_minutes",
    "fail_rate",
    "fail_rate_lighting",
    "fail_rate_suspension",
    "fail_rate_brakes",
    "fail_rate_tyres",
    "fail_rate_emissions",
    "retest_rate",
    "complaints",
    "past_enforcement",
    "months_since_inspection",
]


@step
def split(
    data: Dataset, test_size: float = 0.25, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified split: the test part is the holdout the gates score every model on."""
    frame = data.df
    train_df, test_df = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return train_df, test_df


@step
def train(
    train_df: pd.DataFrame, max_iter: int = 200, learning_rate: float = 0.05, seed: int = 0
) -> Pipeline:
    """Gradient boosting on the features, the categories one-hot encoded."""
    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES)],
        remainder="passthrough",
    )
    booster = HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=learning_rate, max_leaf_nodes=15, random_state=seed
    )
    model = Pipeline([("encode", encode), ("model", booster)])
    model.fit(train_df[FEATURES], train_df[TARGET])
    log_metric("train_rows", len(train_df))
    log_metric("train_high_risk_share", float(train_df[TARGET].mean()))
    return model


@step
def evaluate(model: Pipeline, test_df: pd.DataFrame) -> dict[str, float]:
    """The holdout metrics: ranking (ROC AUC, average precision) and accuracy."""
    scores = model.predict_proba(test_df[FEATURES])[:, 1]
    labels = test_df[TARGET]
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "accuracy": float(accuracy_score(labels, model.predict(test_df[FEATURES]))),
    }


@pipeline
def garage_risk(
    data: Dataset, max_iter: int = 200, learning_rate: float = 0.05
) -> tuple[Pipeline, dict[str, float]]:
    """Split, train, evaluate: the model and its holdout metrics."""
    train_df, test_df = split(data)
    model = train(train_df, max_iter=max_iter, learning_rate=learning_rate)
    return model, evaluate(model, test_df)
