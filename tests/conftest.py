"""Fixtures shared by every test: PostgreSQL, metadata URLs, workspaces."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pathtolive import env
from tests.support.moto import MotoS3, run_moto_s3
from tests.support.serving import ServedWorkspace, copy_served, make_served_workspace

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_server_url() -> str:
    return os.environ.get(env.TEST_POSTGRES_URL, DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server URL, or a visible skip (a failure under REQUIRE_POSTGRES)."""
    url = _postgres_server_url()
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to reach the server means "no server here"
        reason = f"no PostgreSQL at {url.split('@')[-1]}: {str(exc).splitlines()[0]}"
        if os.environ.get(env.REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{reason} (PATHTOLIVE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return url


@contextmanager
def postgres_schema(server_url: str) -> Iterator[str]:
    """A URL to an empty PostgreSQL schema of its own on ``server_url``, dropped when the
    block ends (for fixtures wider than one test)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'create schema "{schema}"'))
    separator = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL to an empty PostgreSQL schema of its own, dropped after the test."""
    with postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database URL: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clean_environ(tmp_path: Path) -> dict[str, str]:
    """An environment without PATHTOLIVE_* settings and with a fixed local user."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
    environ[env.USER] = "ada"
    return environ


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """A real S3 API (moto in server mode) on 127.0.0.1, with one bucket."""
    yield from run_moto_s3()


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[str]:
    """The address of a ``LocalCluster`` of two worker processes, started once per test
    process and only when a test asks for it (see :mod:`tests.support.cluster`)."""
    from tests.support.cluster import local_cluster

    with local_cluster(workers=2) as address:
        yield address


@pytest.fixture(scope="session")
def served_template(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], ServedWorkspace]:
    """The served workspace of :func:`make_served_workspace`, built once per test process
    (with and without the ``cancer`` model) and only when a test asks for it."""
    built: dict[bool, ServedWorkspace] = {}

    def template(cancer: bool) -> ServedWorkspace:
        if cancer not in built:
            root = tmp_path_factory.mktemp("served-template") / "ws"
            built[cancer] = make_served_workspace(root, cancer=cancer)
        return built[cancer]

    return template


@pytest.fixture
def served_workspace(
    served_template: Callable[[bool], ServedWorkspace], tmp_path: Path
) -> Callable[..., ServedWorkspace]:
    """A copy of the served workspace for this test alone: ``risk@1`` (gradient boosting)
    live, ``risk@2`` (logistic regression), and with ``cancer=True`` the ``cancer`` model.
    The models are the template's fitted objects: read them, do not refit them."""

    def copy(root: Path | None = None, *, cancer: bool = False) -> ServedWorkspace:
        return copy_served(served_template(cancer), root or tmp_path / "ws")

    return copy
