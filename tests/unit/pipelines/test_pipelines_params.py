"""Pipeline params: typing by annotation, precedence command line > file > default, and
errors that say what to pass."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import Dataset, Param, bind_params, pipeline


@pipeline
def forest(  # type: ignore[no-untyped-def]  # `seed` is untyped on purpose
    data: Dataset,
    n_estimators: int = 200,
    learning_rate: float = 0.1,
    balanced: bool = False,
    criterion: Literal["gini", "entropy"] = "gini",
    max_depth: int | None = None,
    hidden: list[int] = [64, 32],  # noqa: B006 - a default is never mutated here
    weights: tuple[float, ...] = (0.5, 0.5),
    label: str = "risk",
    seed=0,  # typed by its default
    note: Any = None,
) -> None:
    """Every kind of param the command line can set."""


@pipeline
def needs_threshold(threshold: float, data: Dataset) -> None:
    """A required param, after nothing but a dataset."""


def test_the_signature_gives_data_inputs_and_params() -> None:
    assert forest.name == "forest"
    assert forest.data_params == ("data",)
    assert [param.name for param in forest.params][:3] == [
        "n_estimators",
        "learning_rate",
        "balanced",
    ]
    by_name = {param.name: param for param in forest.params}
    assert by_name["n_estimators"] == Param("n_estimators", int, 200, required=False)
    assert by_name["seed"].annotation is int
    assert by_name["max_depth"].type_text == "int | None"
    assert by_name["criterion"].type_text == "Literal['gini', 'entropy']"
    assert by_name["hidden"].to_dict() == {
        "name": "hidden",
        "type": "list[int]",
        "required": False,
        "default": [64, 32],
    }
    assert needs_threshold.params == (Param("threshold", float),)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("n_estimators", "300", 300),
        ("n_estimators", "-3", -3),
        ("learning_rate", "0.05", 0.05),
        ("learning_rate", "1", 1.0),
        ("balanced", "yes", True),
        ("balanced", "False", False),
        ("balanced", "1", True),
        ("balanced", "no", False),
        ("criterion", "entropy", "entropy"),
        ("max_depth", "7", 7),
        ("max_depth", "none", None),
        ("hidden", "128, 64,32", [128, 64, 32]),
        ("hidden", "", []),
        ("weights", "0.2,0.8", (0.2, 0.8)),
        ("label", "credit risk", "credit risk"),
        ("seed", "42", 42),
        ("note", "anything", "anything"),
    ],
)
def test_command_line_text_is_converted_by_the_annotation(
    name: str, text: str, value: object
) -> None:
    bound = bind_params(forest, {name: text}, {})

    assert bound[name] == value
    assert type(bound[name]) is type(value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("n_estimators", "abc", "param n_estimators: 'abc' is not an int"),
        ("n_estimators", "2.5", "param n_estimators: '2.5' is not an int"),
        ("learning_rate", "fast", "param learning_rate: 'fast' is not a float"),
        ("learning_rate", "nan", "param learning_rate: nan is not a finite float"),
        (
            "balanced",
            "maybe",
            "param balanced: 'maybe' is not a boolean (true/false, yes/no, 1/0)",
        ),
        ("criterion", "log_loss", "param criterion: 'log_loss' is not one of 'gini', 'entropy'"),
        ("max_depth", "deep", "param max_depth: 'deep' is not an int or none"),
        (
            "hidden",
            "64,x",
            "param hidden: '64,x' is not a list of ints, comma-separated ('x' is not an int)",
        ),
    ],
)
def test_command_line_text_of_the_wrong_type_is_refused(name: str, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        bind_params(forest, {name: text}, {})

    assert str(caught.value) == message


def test_the_command_line_wins_over_the_file_which_wins_over_the_default() -> None:
    bound = bind_params(
        forest,
        {"n_estimators": "300"},
        {"n_estimators": 250, "learning_rate": 0.2, "hidden": [16]},
    )

    assert bound["n_estimators"] == 300
    assert bound["learning_rate"] == 0.2
    assert bound["hidden"] == [16]
    assert bound["balanced"] is False
    assert list(bound) == [param.name for param in forest.params]
    json.dumps(bound)  # plain JSON values only


def test_file_values_are_checked_against_the_annotation() -> None:
    assert bind_params(forest, {}, {"learning_rate": 1})["learning_rate"] == 1.0
    assert bind_params(forest, {}, {"weights": [0.1, 0.9]})["weights"] == (0.1, 0.9)
    with pytest.raises(InvalidInputError) as caught:
        bind_params(forest, {}, {"n_estimators": "300"})
    assert str(caught.value) == "param n_estimators (in pathtolive.toml): '300' is not an int"
    with pytest.raises(InvalidInputError, match=r"param balanced \(in pathtolive.toml\): 1 is"):
        bind_params(forest, {}, {"balanced": 1})
    with pytest.raises(InvalidInputError, match=r"param n_estimators .*True is not an int"):
        bind_params(forest, {}, {"n_estimators": True})


def test_an_unknown_param_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        bind_params(forest, {"n_estimator": "3"}, {})

    message = str(caught.value)
    assert message.startswith("pipeline 'forest' has no param 'n_estimator' (from --param)")
    assert "n_estimators (int, default 200)" in message
    assert "max_depth (int | None, default null)" in message
    with pytest.raises(InvalidInputError, match=r"from \[pipelines.forest.params\]"):
        bind_params(forest, {}, {"depth": 3})


def test_a_dataset_input_is_not_a_param() -> None:
    with pytest.raises(InvalidInputError, match="'data' is a dataset input of pipeline 'forest'"):
        bind_params(forest, {"data": "loans@2"}, {})


def test_a_required_param_must_be_given() -> None:
    with pytest.raises(InvalidInputError) as caught:
        bind_params(needs_threshold, {}, {})

    assert str(caught.value) == (
        "pipeline 'needs_threshold' needs a value for threshold: pass --param "
        "threshold=VALUE or set it under [pipelines.needs_threshold.params] in pathtolive.toml"
    )
    assert bind_params(needs_threshold, {"threshold": "0.7"}, {}) == {"threshold": 0.7}


def test_params_that_cannot_be_set_are_refused_when_the_pipeline_is_defined() -> None:
    def with_dict(options: dict[str, int]) -> None: ...

    def with_varargs(*values: int) -> None: ...

    def with_object_default(cutoff: Any = object()) -> None: ...

    def with_unknown_name(data: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    with pytest.raises(InvalidInputError, match=r"parameter 'options': dict.* cannot be given"):
        pipeline(with_dict)
    with pytest.raises(InvalidInputError, match="named parameters only"):
        pipeline(with_varargs)
    with pytest.raises(InvalidInputError, match=r"the default <object .*> is not a plain value"):
        pipeline(with_object_default)
    with pytest.raises(InvalidInputError, match=r"cannot resolve its annotations \(NameError"):
        pipeline(with_unknown_name)
