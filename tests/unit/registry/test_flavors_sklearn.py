"""The sklearn flavor: skops round trips, stable bytes, and refusal of untrusted types."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from pathtolive.errors import InvalidInputError
from pathtolive.faces import Face, speaking
from pathtolive.registry import (
    TREE_TYPES,
    SklearnFlavor,
    UntrustedModelError,
    get_flavor,
)

Dataset = tuple[pd.DataFrame, pd.Series]

FLAVOR = SklearnFlavor()


def double(values: np.ndarray) -> np.ndarray:
    """A user function, as a data scientist would put in a FunctionTransformer."""
    return values * 2


def _cancer_pipeline(features: pd.DataFrame, estimator: object) -> Pipeline:
    numeric = [column for column in features.columns if column != "size"]
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("size", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


ESTIMATORS = [
    pytest.param(lambda: LogisticRegression(max_iter=1000), (), id="logistic-regression"),
    pytest.param(
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
        TREE_TYPES,
        id="random-forest",
    ),
    pytest.param(
        lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
        TREE_TYPES,
        id="gradient-boosting",
    ),
    pytest.param(
        lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
        TREE_TYPES,
        id="hist-gradient-boosting",
    ),
]


@pytest.mark.parametrize(("make_estimator", "trusted"), ESTIMATORS)
def test_pipeline_predicts_identically_after_round_trip(
    cancer: Dataset, make_estimator: Callable[[], Any], trusted: tuple[str, ...]
) -> None:
    features, target = cancer
    model = _cancer_pipeline(features, make_estimator()).fit(features, target)

    loaded = FLAVOR.load(FLAVOR.save(model), trusted=trusted)

    assert loaded.flavor == "sklearn"
    assert loaded.classes == (0, 1)
    assert loaded.feature_names == tuple(features.columns)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_multiclass_keeps_class_order(wine: Dataset) -> None:
    features, target = wine
    labels = target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features, labels)

    loaded = FLAVOR.load(FLAVOR.save(model))

    assert loaded.classes == ("barbera", "barolo", "grignolino")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


@pytest.mark.parametrize(
    ("estimator", "trusted"),
    [
        pytest.param(Ridge(), (), id="ridge"),
        pytest.param(HistGradientBoostingRegressor(max_iter=20), TREE_TYPES, id="hist-gb"),
    ],
)
def test_regressor_round_trip(
    diabetes: Dataset, estimator: object, trusted: tuple[str, ...]
) -> None:
    features, target = diabetes
    model = make_pipeline(StandardScaler(), estimator).fit(features, target)

    loaded = FLAVOR.load(FLAVOR.save(model), trusted=trusted)

    assert loaded.classes is None
    assert loaded.predict_proba(features) is None
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


@pytest.mark.parametrize(("make_estimator", "trusted"), ESTIMATORS)
def test_saving_twice_and_after_a_round_trip_gives_the_same_bytes(
    cancer: Dataset, make_estimator: Callable[[], Any], trusted: tuple[str, ...]
) -> None:
    features, target = cancer
    model = _cancer_pipeline(features, make_estimator()).fit(features, target)

    first = FLAVOR.save(model)

    assert FLAVOR.save(model) == first
    assert FLAVOR.save(FLAVOR.load(first, trusted=trusted).model) == first


def test_bytes_are_the_same_in_another_process() -> None:
    script = textwrap.dedent(
        """
        import sys
        from sklearn.datasets import load_wine
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from pathtolive.registry import SklearnFlavor

        features, target = load_wine(as_frame=True, return_X_y=True)
        model = make_pipeline(StandardScaler(), RandomForestClassifier(5, random_state=1))
        sys.stdout.buffer.write(SklearnFlavor().save(model.fit(features, target)))
        """
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, check=True, timeout=120
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0][:2] == b"PK"


def test_tree_models_are_refused_unless_their_tree_type_is_trusted(cancer: Dataset) -> None:
    features, target = cancer
    model = _cancer_pipeline(features, RandomForestClassifier(n_estimators=5, random_state=0))
    data = FLAVOR.save(model.fit(features, target))

    with pytest.raises(UntrustedModelError) as refused:
        FLAVOR.load(data)

    assert refused.value.code == "untrusted_model"
    assert refused.value.details == {"untrusted_types": ["sklearn.tree._tree.Tree"]}
    assert "--trust sklearn.tree._tree.Tree" in refused.value.message
    assert FLAVOR.untrusted_types(data) == ("sklearn.tree._tree.Tree",)


def test_custom_function_is_refused_until_trusted(diabetes: Dataset) -> None:
    features, target = diabetes
    model = make_pipeline(FunctionTransformer(double), StandardScaler(), Ridge())
    model.fit(features, target)
    data = FLAVOR.save(model)
    custom = f"{__name__}.double"

    with pytest.raises(UntrustedModelError) as refused:
        FLAVOR.load(data)

    message = refused.value.message
    assert isinstance(refused.value, InvalidInputError)
    assert custom in message
    assert f"--trust {custom}" in message  # the command line's words by default
    assert "\n" not in message
    with speaking(Face.PYTHON), pytest.raises(UntrustedModelError) as in_python:
        FLAVOR.load(data)
    assert f"trusted=['{custom}']" in in_python.value.message
    assert "--trust" not in in_python.value.message
    loaded = FLAVOR.load(data, trusted=[custom])
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_trusting_another_type_does_not_trust_the_one_in_the_file(diabetes: Dataset) -> None:
    features, target = diabetes
    model = make_pipeline(FunctionTransformer(double), Ridge()).fit(features, target)

    with pytest.raises(UntrustedModelError, match="double"):
        FLAVOR.load(FLAVOR.save(model), trusted=["os.system"])


def test_numpy_ufunc_steps_need_no_trust(diabetes: Dataset) -> None:
    features, target = diabetes
    model = make_pipeline(FunctionTransformer(np.abs), Ridge()).fit(features, target)

    loaded = FLAVOR.load(FLAVOR.save(model))

    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_predict_selects_and_orders_columns_by_name(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    loaded = FLAVOR.load(FLAVOR.save(model.fit(features, target)))
    shuffled = features[list(reversed(features.columns))].assign(request_id=range(len(features)))

    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(features))


def test_predict_names_the_missing_columns(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    loaded = FLAVOR.wrap(model.fit(features, target))

    with pytest.raises(InvalidInputError, match=r"lacks columns .*'alcohol', 'proline'") as error:
        loaded.predict(features.drop(columns=["alcohol", "proline"]))
    assert error.value.details == {"missing_columns": ["alcohol", "proline"]}


def test_model_fitted_on_an_array_reads_columns_by_position(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features.to_numpy(), target)
    loaded = FLAVOR.load(FLAVOR.save(model))

    assert loaded.feature_names is None
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features.to_numpy()))
    with pytest.raises(InvalidInputError, match=r"expects 13 columns .* got 12"):
        loaded.predict(features.iloc[:, :12])


def test_input_the_model_cannot_score_is_invalid_input(cancer: Dataset) -> None:
    features, target = cancer
    model = _cancer_pipeline(features, LogisticRegression(max_iter=1000)).fit(features, target)
    broken = features.assign(**{"mean area": "not a number"})

    with pytest.raises(InvalidInputError, match="cannot predict on this input"):
        FLAVOR.wrap(model).predict(broken)


def test_unfitted_model_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="LogisticRegression is not fitted"):
        FLAVOR.save(LogisticRegression())


def test_transformer_without_predict_is_refused(wine: Dataset) -> None:
    features, _ = wine
    with pytest.raises(InvalidInputError, match="a StandardScaler cannot predict"):
        FLAVOR.save(StandardScaler().fit(features))


def test_bytes_that_are_not_skops_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a skops model file"):
        FLAVOR.load(b"\x80\x04not a zip at all")


def test_flavor_is_registered_by_name() -> None:
    assert isinstance(get_flavor("sklearn"), SklearnFlavor)
