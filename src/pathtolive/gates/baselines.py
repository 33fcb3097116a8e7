"""Off-the-shelf baselines, trained by pathtolive on the candidate's own training split,
or cross-fitted on the holdout when the candidate's training data is not known.

A bespoke model must beat what anyone would get for free to be worth its upkeep:

- ``majority`` (classification): predicts the most frequent class, with the class
  frequencies as probabilities (scikit-learn's ``DummyClassifier(strategy="prior")``,
  whose labels are those of ``most_frequent`` but whose probabilities are honest, so
  log_loss and brier are not infinite);
- ``mean`` (regression): predicts the mean of the target;
- ``logistic`` (classification) and ``linear`` (regression, ridge): a linear model on
  numeric columns (missing values imputed by the median, then standardised) and on
  text, category and boolean columns (missing values as a category of their own,
  one-hot encoded, unseen values ignored). Date and time columns are left out.

Fitting is deterministic. A baseline that is another registered model is resolved by the
service; the gates only need its predictions.

A model imported without its training data leaves no rows to train a baseline on but the
holdout itself. :func:`cross_fit_baseline` then splits the holdout into k folds and scores
each fold with a baseline trained on the other folds, so every row is scored by a
baseline that never saw it (scoring the holdout with a baseline fitted on all of it
would flatter the baseline, most of all a linear model with many columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.errors import InvalidInputError, MissingExtraError
from pathtolive.gates.metrics import ClassLabel, Task, check_task
from pathtolive.gates.predictions import Predictions, align_proba

__all__ = [
    "BASELINES",
    "CROSS_FIT_FOLDS",
    "FittedBaseline",
    "baseline_names",
    "cross_fit_baseline",
    "cross_fit_folds",
    "fit_baseline",
]

BASELINES: Mapping[str, tuple[Task, ...]] = MappingProxyType(
    {
        "majority": ("binary", "multiclass"),
        "logistic": ("binary", "multiclass"),
        "mean": ("regression",),
        "linear": ("regression",),
    }
)
"""The built-in baselines and the tasks each fits."""

_MISSING = "<missing>"

CROSS_FIT_FOLDS = 5
"""The folds a baseline is cross-fitted over: each is scored by a baseline trained on the
other four, 80% of the holdout."""


@dataclass(frozen=True, eq=False)
class FittedBaseline:
    """A baseline fitted on a training split, ready to predict the holdout.

    ``model`` is the fitted scikit-learn estimator; ``classes`` orders its probability
    columns (None for regression). The column lists say how each feature was used."""

    name: str
    task: Task
    model: Any
    classes: tuple[ClassLabel, ...] | None
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]

    def predict(self, features: pd.DataFrame) -> Predictions:
        """Predictions for the rows of ``features`` (labels and probabilities, or values)."""
        frame = _prepare(features, self.numeric_columns, self.categorical_columns)
        if self.task == "regression":
            return Predictions(values=np.asarray(self.model.predict(frame), dtype=np.float64))
        proba = np.asarray(self.model.predict_proba(frame), dtype=np.float64)
        labels = np.asarray(self.model.predict(frame))
        return Predictions(proba=proba, labels=labels)

    def predict_labels(self, features: pd.DataFrame) -> npt.NDArray[Any]:
        """Labels (or values) only, as a served model's ``predict`` answers: what the
        cost of serving the baseline is timed on, like the candidate's."""
        return np.asarray(
            self.model.predict(_prepare(features, self.numeric_columns, self.categorical_columns))
        )


def baseline_names(task: Task | None = None) -> tuple[str, ...]:
    """The built-in baselines that fit ``task`` (all of them when None)."""
    return tuple(name for name, tasks in BASELINES.items() if task is None or task in tasks)


def fit_baseline(
    name: str, task: Task, features: pd.DataFrame, target: npt.ArrayLike
) -> FittedBaseline:
    """Fit the baseline ``name`` for ``task`` on a training split: ``features`` (the
    model's input columns) and ``target``. ``InvalidInputError`` when the baseline does
    not exist or does not fit the task."""
    check_task(task)
    tasks = BASELINES.get(name)
    if tasks is None or task not in tasks:
        reason = "is not a built-in baseline" if tasks is None else f"does not fit a {task} task"
        raise InvalidInputError(
            f"baseline {name!r} {reason}; for a {task} task use one of "
            f"{', '.join(baseline_names(task))}, the name of a registered model, or "
            "external:NAME for a model behind an endpoint ([baselines.NAME])"
        )
    if not isinstance(features, pd.DataFrame):
        raise InvalidInputError("baseline features must be a pandas DataFrame")
    y = _target(target, task, len(features))
    numeric, categorical, ignored = _column_roles(features)
    try:
        model = _estimator(name, numeric, categorical)
    except ImportError as exc:
        raise MissingExtraError(
            f"the {name!r} baseline needs scikit-learn, which is not installed: "
            "pip install 'pathtolive[sklearn]'"
        ) from exc
    if name in ("logistic", "linear") and not numeric and not categorical:
        raise InvalidInputError(f"the {name!r} baseline needs at least one usable feature column")
    model.fit(_prepare(features, numeric, categorical), y)
    classes = None
    if task != "regression":
        classes = tuple(
            value.item() if isinstance(value, np.generic) else value for value in model.classes_
        )
    return FittedBaseline(name, task, model, classes, numeric, categorical, ignored)


def cross_fit_folds(
    target: npt.ArrayLike, task: Task, folds: int = CROSS_FIT_FOLDS, seed: int = 0
) -> npt.NDArray[np.int64]:
    """The fold (0 … ``folds``-1) of each row: shuffled with ``seed``, and for a
    classification task dealt class by class, so every fold holds each class in about
    its share and every training part holds every class with more than one row."""
    y = np.asarray(target)
    rows = len(y)
    if rows < 2 * folds:
        raise InvalidInputError(
            f"a holdout of {rows} rows is too small to cross-fit a baseline over {folds} "
            f"folds; name a holdout of at least {2 * folds} rows"
        )
    order = np.random.default_rng(seed).permutation(rows)
    if task != "regression":
        # Grouped by class (stable, so shuffled within each class), then dealt in turn.
        labels = pd.Series(y[order], dtype=object).astype(str).to_numpy()
        order = order[np.argsort(labels, kind="stable")]
    assignment = np.empty(rows, dtype=np.int64)
    assignment[order] = np.arange(rows) % folds
    return assignment


def cross_fit_baseline(
    name: str,
    task: Task,
    features: pd.DataFrame,
    target: npt.ArrayLike,
    *,
    folds: int = CROSS_FIT_FOLDS,
    seed: int = 0,
    classes: tuple[ClassLabel, ...] | None = None,
) -> Predictions:
    """The baseline ``name``'s predictions for every row of ``features``, each made by a
    baseline fitted on the other folds (see :func:`cross_fit_folds`): no row is scored by
    a baseline that trained on it. Probability columns follow ``classes`` (default: the
    labels of ``target``, sorted)."""
    y = np.asarray(target)
    if not isinstance(features, pd.DataFrame) or len(features) != len(y):
        raise InvalidInputError(
            "cross-fitting needs a DataFrame of features with one target value per row"
        )
    assignment = cross_fit_folds(y, task, folds, seed)
    if task == "regression":
        values = np.empty(len(y), dtype=np.float64)
    else:
        order = classes or tuple(sorted(np.unique(y).tolist()))
        proba = np.zeros((len(y), len(order)))
        labels = np.empty(len(y), dtype=object)
    for fold in range(folds):
        scored = assignment == fold
        fitted = fit_baseline(name, task, features[~scored], y[~scored])
        predictions = fitted.predict(features[scored])
        if task == "regression":
            assert predictions.values is not None
            values[scored] = predictions.values
            continue
        assert predictions.proba is not None
        assert fitted.classes is not None
        proba[scored] = align_proba(predictions.proba, fitted.classes, order)
        labels[scored] = predictions.labels
    if task == "regression":
        return Predictions(values=values)
    return Predictions(proba=proba, labels=np.asarray(labels.tolist()))


def _target(target: npt.ArrayLike, task: Task, rows: int) -> npt.NDArray[Any]:
    y = np.asarray(target)
    if y.ndim != 1 or len(y) != rows:
        raise InvalidInputError(
            f"the target must be one column of {rows} values, one per feature row, "
            f"not of shape {y.shape}"
        )
    if pd.isna(y).any():
        raise InvalidInputError("the target has missing values; drop those rows first")
    if task == "regression":
        try:
            return y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"a regression target must be numbers: {exc}") from exc
    if len(np.unique(y)) < 2:
        raise InvalidInputError("a classification baseline needs at least two classes")
    return y


def _column_roles(
    features: pd.DataFrame,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    numeric: list[str] = []
    categorical: list[str] = []
    ignored: list[str] = []
    for name, dtype in features.dtypes.items():
        column = str(name)
        if pd.api.types.is_bool_dtype(dtype):
            categorical.append(column)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        elif pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(
            dtype
        ):
            ignored.append(column)
        else:
            categorical.append(column)
    return tuple(numeric), tuple(categorical), tuple(ignored)


def _prepare(
    features: pd.DataFrame, numeric: tuple[str, ...], categorical: tuple[str, ...]
) -> pd.DataFrame:
    """The columns as scikit-learn's imputers expect them: floats with NaN, and text
    (as ``str``, whatever the original type) with NaN for missing values."""
    by_name = {str(name): name for name in features.columns}
    missing = [column for column in (*numeric, *categorical) if column not in by_name]
    if missing:
        raise InvalidInputError(f"the baseline's input lacks the columns {missing[:10]}")
    columns: dict[str, Any] = {}
    for column in numeric:
        columns[column] = features[by_name[column]].to_numpy(dtype=np.float64, na_value=np.nan)
    for column in categorical:
        series = features[by_name[column]]
        text = series.astype(object).map(str).to_numpy(dtype=object)
        text[series.isna().to_numpy()] = np.nan
        columns[column] = text
    if not columns:
        # The dummy estimators ignore their input but still want one column.
        return pd.DataFrame({"constant": np.zeros(len(features))})
    return pd.DataFrame(columns)


def _estimator(name: str, numeric: tuple[str, ...], categorical: tuple[str, ...]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name == "majority":
        return DummyClassifier(strategy="prior")
    if name == "mean":
        return DummyRegressor(strategy="mean")
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        parts.append(("numeric", Pipeline(steps), list(numeric)))
    if categorical:
        steps = [
            ("impute", SimpleImputer(strategy="constant", fill_value=_MISSING)),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
        parts.append(("categorical", Pipeline(steps), list(categorical)))
    model = LogisticRegression(max_iter=1000) if name == "logistic" else Ridge()
    return Pipeline([("features", ColumnTransformer(parts)), ("model", model)])
