"""The exception tree and references."""

from __future__ import annotations

import errno
import os

import pytest

from pathtolive import errors
from pathtolive.errors import ERROR_CLASSES, InvalidInputError, PathToLiveError
from pathtolive.refs import Ref, parse_ref


def test_every_error_class_is_listed_with_a_unique_code() -> None:
    exported = {
        value
        for name in errors.__all__
        if isinstance(value := getattr(errors, name), type) and name != "ERROR_CLASSES"
    }
    assert exported == set(ERROR_CLASSES)
    codes = [cls.code for cls in ERROR_CLASSES]
    assert len(codes) == len(set(codes))
    for cls in ERROR_CLASSES:
        assert issubclass(cls, PathToLiveError)
        assert 400 <= cls.http_status < 600
        assert cls.exit_code not in (0, 2)  # 2 is the usage-error code of the CLI


def test_error_body_has_code_and_message() -> None:
    exc = InvalidInputError("bad", details={"column": "age"})
    assert exc.to_dict() == {
        "error_code": "invalid_input",
        "message": "bad",
        "details": {"column": "age"},
    }


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("loans", Ref("loans")),
        ("loans@latest", Ref("loans")),
        ("loans@3", Ref("loans", 3)),
        ("a.b-c_d@12", Ref("a.b-c_d", 12)),
    ],
)
def test_refs_parse(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    ["loans@0", "loans@x", "@2", "-bad", "lo ans", "loans@-1", "loans@\u00b2", "loans@\u0663"],
)
def test_bad_refs_are_clear_errors(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_ref(text)


@pytest.mark.parametrize("text", ["risk@\u00b2", "risk@\u0663", "risk@\uff11"])
def test_model_versions_take_ascii_digits_only(text: str) -> None:
    # "²".isdigit() is true and int("²") fails: a Unicode digit is an input error, not a crash.
    from pathtolive.service.models import parse_model_ref

    with pytest.raises(InvalidInputError):
        parse_model_ref(text)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EDQUOT, "quota"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_a_full_or_read_only_disk_is_a_store_error_naming_the_path(code: int, words: str) -> None:
    named = errors.storage_error(OSError(code, os.strerror(code), "/data/objects/ab"))
    assert isinstance(named, errors.StoreError)
    assert words in named.message
    assert "/data/objects/ab" in named.message
    # A writer's error without a file name (a Parquet writer's) takes the path it wrote.
    unnamed = errors.storage_error(OSError(code, os.strerror(code)), "/data/tmp/add")
    assert unnamed is not None
    assert "/data/tmp/add" in unnamed.message


def test_other_operating_system_errors_are_not_store_errors() -> None:
    assert errors.storage_error(OSError(errno.EIO, "I/O error")) is None
    assert errors.storage_error(ValueError("no")) is None
