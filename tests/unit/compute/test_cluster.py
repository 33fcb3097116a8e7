"""Finding the scheduler, and the errors of one that does not answer."""

from __future__ import annotations

import socket

import pytest

from pathtolive import env
from pathtolive.compute import connect, scheduler_address
from pathtolive.errors import ClusterUnavailableError, ConfigError


def test_the_flag_wins_over_the_environment_and_the_workspace_file() -> None:
    document = {"compute": {"scheduler": "tcp://file:8786"}}
    environ = {env.DASK_SCHEDULER: "tcp://environ:8786"}
    assert scheduler_address("tcp://flag:8786", document, environ) == "tcp://flag:8786"
    assert scheduler_address(None, document, environ) == "tcp://environ:8786"
    assert scheduler_address(None, document, {}) == "tcp://file:8786"
    assert scheduler_address(None, {}, {}) is None


def test_an_address_that_is_not_a_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"compute\.scheduler = 8786 is not an address"):
        scheduler_address(None, {"compute": {"scheduler": 8786}}, {})


def test_an_address_where_nothing_listens_is_one_clear_error_at_once() -> None:
    # A port that was free a moment ago: nothing listens on it, the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = rf"127\.0\.0\.1:{port} did not answer: nothing listens there"
    with (
        pytest.raises(ClusterUnavailableError, match=refused),
        connect(f"tcp://127.0.0.1:{port}", timeout=60),  # no waiting for a refusal
    ):
        pass


def test_a_scheduler_that_does_not_answer_is_one_clear_error_in_time() -> None:
    # Something listens (the connection is accepted by the kernel) but never speaks.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        unanswered = rf"127\.0\.0\.1:{port} did not answer within 2 s"
        with (
            pytest.raises(ClusterUnavailableError, match=unanswered),
            connect(f"tcp://127.0.0.1:{port}", timeout=2),
        ):
            pass
