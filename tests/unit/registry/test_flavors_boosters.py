"""The LightGBM and XGBoost flavors: native formats, wrappers predicting as before."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from pathtolive.archive import read_members, write_archive
from pathtolive.errors import InvalidInputError, MissingExtraError, UnsupportedFormatError
from pathtolive.registry import LightGBMFlavor, XGBoostFlavor, flavor_for

lgb = pytest.importorskip("lightgbm", reason="lightgbm is not installed (pathtolive[lightgbm])")
xgb = pytest.importorskip("xgboost", reason="xgboost is not installed (pathtolive[xgboost])")

Dataset = tuple[pd.DataFrame, pd.Series]

LIGHTGBM = LightGBMFlavor()
XGBOOST = XGBoostFlavor()


def _numeric(dataset: Dataset) -> Dataset:
    features, target = dataset
    return features.drop(columns=["size"], errors="ignore"), target


# LightGBM ---------------------------------------------------------------------------


def test_lightgbm_binary_classifier_round_trip(cancer: Dataset) -> None:
    features, target = _numeric(cancer)  # column names with spaces, as LightGBM dislikes
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(features, target)

    data = LIGHTGBM.save(model)
    loaded = LIGHTGBM.load(data)

    assert flavor_for(model).name == "lightgbm"
    assert loaded.classes == (0, 1)
    assert loaded.metadata["estimator"] == "LGBMClassifier"
    assert loaded.metadata["objective"] == "binary"
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    assert sorted(read_members(data)) == ["model.txt", "pathtolive.json"]


def test_lightgbm_multiclass_with_string_labels(wine: Dataset) -> None:
    features, target = wine
    labels = target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(features, labels)

    loaded = LIGHTGBM.load(LIGHTGBM.save(model))

    assert loaded.classes == ("barbera", "barolo", "grignolino")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_lightgbm_categorical_column_round_trip(cancer: Dataset) -> None:
    features, target = cancer
    features = features.astype({"size": "category"})
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(features, target)

    loaded = LIGHTGBM.load(LIGHTGBM.save(model))

    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_lightgbm_regressor_round_trip(diabetes: Dataset) -> None:
    features, target = diabetes
    model = lgb.LGBMRegressor(n_estimators=20, verbose=-1, n_jobs=1).fit(features, target)

    loaded = LIGHTGBM.load(LIGHTGBM.save(model))

    assert loaded.classes is None
    assert loaded.predict_proba(features) is None
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_lightgbm_bare_booster_is_a_classifier_of_its_objective(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    parameters = {"objective": "binary", "verbose": -1, "num_threads": 1}
    booster = lgb.train(parameters, lgb.Dataset(features, target), num_boost_round=10)

    loaded = LIGHTGBM.load(LIGHTGBM.save(booster))

    positive = booster.predict(features)
    probabilities = loaded.predict_proba(features)
    assert loaded.classes == (0, 1)
    assert probabilities is not None
    np.testing.assert_array_equal(probabilities[:, 1], positive)
    np.testing.assert_array_equal(loaded.predict(features), (positive > 0.5).astype(int))


def test_lightgbm_bytes_are_stable(wine: Dataset) -> None:
    features, target = wine
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(features, target)

    assert LIGHTGBM.save(model) == LIGHTGBM.save(model)


def test_lightgbm_unfitted_and_custom_objective_are_refused(diabetes: Dataset) -> None:
    features, target = diabetes

    def squared_error(labels: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return predicted - labels, np.ones_like(predicted)

    custom = lgb.LGBMRegressor(n_estimators=5, objective=squared_error, verbose=-1, n_jobs=1)
    with pytest.raises(InvalidInputError, match="LGBMRegressor is not fitted"):
        LIGHTGBM.save(lgb.LGBMRegressor())
    with pytest.raises(InvalidInputError, match="custom objective"):
        LIGHTGBM.save(custom.fit(features, target))


# XGBoost ----------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_name", ["cancer", "wine"])
def test_xgboost_classifier_round_trip(dataset_name: str, request: pytest.FixtureRequest) -> None:
    features, target = _numeric(request.getfixturevalue(dataset_name))
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(features, target)

    data = XGBOOST.save(model)
    loaded = XGBOOST.load(data)

    assert flavor_for(model).name == "xgboost"
    assert loaded.classes == tuple(sorted(target.unique()))
    assert loaded.feature_names == tuple(features.columns)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    assert sorted(read_members(data)) == ["model.ubj", "pathtolive.json"]


def test_xgboost_regressor_round_trip(diabetes: Dataset) -> None:
    features, target = diabetes
    model = xgb.XGBRegressor(n_estimators=20).fit(features, target)

    loaded = XGBOOST.load(XGBOOST.save(model))

    assert loaded.classes is None
    assert loaded.predict_proba(features) is None
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_xgboost_early_stopped_wrapper_predicts_with_its_best_iteration(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    train, valid = features.iloc[:400], features.iloc[400:]
    model = xgb.XGBClassifier(n_estimators=200, early_stopping_rounds=3, learning_rate=0.5)
    model.fit(train, target.iloc[:400], eval_set=[(valid, target.iloc[400:])], verbose=False)
    assert model.best_iteration < 199

    loaded = XGBOOST.load(XGBOOST.save(model))

    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_xgboost_bare_booster_round_trip(wine: Dataset) -> None:
    features, target = wine
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "nthread": 1},
        xgb.DMatrix(features, target),
        num_boost_round=10,
    )

    loaded = XGBOOST.load(XGBOOST.save(booster))

    probabilities = booster.predict(xgb.DMatrix(features))
    assert loaded.classes == (0, 1, 2)
    np.testing.assert_array_equal(loaded.predict_proba(features), probabilities)
    np.testing.assert_array_equal(loaded.predict(features), probabilities.argmax(axis=1))


def test_xgboost_bytes_are_stable(wine: Dataset) -> None:
    features, target = wine
    model = xgb.XGBClassifier(n_estimators=10).fit(features, target)

    assert XGBOOST.save(model) == XGBOOST.save(model)


def test_xgboost_unfitted_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="XGBClassifier is not fitted"):
        XGBOOST.save(xgb.XGBClassifier())


# Both -------------------------------------------------------------------------------


def test_artifact_of_one_flavor_is_refused_by_another(wine: Dataset) -> None:
    features, target = wine
    data = LIGHTGBM.save(
        lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(features, target)
    )

    with pytest.raises(InvalidInputError, match="holds a 'lightgbm' model, not a xgboost one"):
        XGBOOST.load(data)


@pytest.mark.parametrize("flavor", [LIGHTGBM, XGBOOST], ids=["lightgbm", "xgboost"])
def test_corrupt_artifacts_are_invalid_input(flavor: LightGBMFlavor | XGBoostFlavor) -> None:
    member = "model.txt" if flavor is LIGHTGBM else "model.ubj"
    header = b'{"flavor":"%s","format":1}' % flavor.name.encode()
    with pytest.raises(InvalidInputError, match=f"not a pathtolive {flavor.name} model"):
        flavor.load(b"garbage")
    with pytest.raises(InvalidInputError, match=r"^not an? (LightGBM|XGBoost) model: \w"):
        flavor.load(write_archive([("pathtolive.json", header), (member, b"\x00garbage")]))
    newer = b'{"flavor":"%s","format":99}' % flavor.name.encode()
    with pytest.raises(UnsupportedFormatError, match="upgrade pathtolive"):
        flavor.load(write_archive([("pathtolive.json", newer), (member, b"")]))


@pytest.mark.parametrize(
    ("flavor", "module"),
    [(LIGHTGBM, "lightgbm"), (XGBOOST, "xgboost")],
    ids=["lightgbm", "xgboost"],
)
def test_missing_library_means_cannot_save_and_load_names_the_extra(
    flavor: LightGBMFlavor | XGBoostFlavor,
    module: str,
    wine: Dataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    features, target = wine
    model = (
        lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1)
        if module == "lightgbm"
        else xgb.XGBClassifier(n_estimators=5)
    ).fit(features, target)
    data = flavor.save(model)
    monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like

    assert not flavor.can_save(model)
    with pytest.raises(MissingExtraError, match=rf"pip install 'pathtolive\[{module}\]'"):
        flavor.load(data)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_a_model_read_back_is_stored_as_the_bytes_it_was_read_from(
    library: str, wine: Dataset
) -> None:
    # A step's booster comes back from the cache or a Dask worker as a LoadedModel; it
    # registers as the very artifact the fitted wrapper gave.
    features, target = wine
    flavor = LIGHTGBM if library == "lightgbm" else XGBOOST
    if library == "lightgbm":
        model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(features, target)
    else:
        model = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(features, target)
    stored = flavor.save(model)
    loaded = flavor.load(stored)

    assert flavor_for(loaded).name == flavor.name
    assert flavor.save(loaded) == stored
    assert flavor.wrap(loaded) is loaded
    assert not (LIGHTGBM if flavor is XGBOOST else XGBOOST).can_save(loaded)
