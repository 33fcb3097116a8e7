"""Fixtures of the reliability suite."""

from __future__ import annotations

import pytest

from pathtolive import env
from tests.support.serving import cli_environ


@pytest.fixture
def store_environ(metadata_url: str) -> dict[str, str]:
    """The environment a user's processes get, with the metadata database of the test's
    backend: a SQLite file, then a PostgreSQL schema (``metadata_url``)."""
    return cli_environ(**{env.METADATA_URL: metadata_url})
