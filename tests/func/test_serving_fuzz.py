"""Fuzz every documented endpoint of a running server from its own OpenAPI document:
whatever schemathesis sends, valid or not, the answer is never a 5xx."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.support.serving import ServedWorkspace, ThreadServer, copy_served, serving_in_thread

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving-fuzz")]


@pytest.fixture(scope="module")
def fuzzed_server(
    served_template: Callable[[bool], ServedWorkspace], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadServer]:
    served = copy_served(served_template(True), tmp_path_factory.mktemp("fuzz") / "ws")
    with serving_in_thread(served.root, log_predictions=False) as server:
        yield server


def test_no_input_makes_the_server_fail(fuzzed_server: ThreadServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every protocol's endpoints are documented
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            def call(case: Any) -> None:
                # Half of the paths name a served model, so bodies reach its validation.
                if "name" in (case.path_parameters or {}) and len(repr(case.body)) % 2 == 0:
                    case.path_parameters["name"] = "risk"
                response = case.call()
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {case.body!r:.200} -> "
                        f"{response.status_code}: {response.text[:300]}"
                    )

            try:
                call()
            except Unsatisfiable:
                # An endpoint with no parameters and no body has no invalid form to send.
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
    # The fuzzing reached both sides: answers, and each kind of refusal.
    assert statuses.get(200, 0) > 0
    for refused in (400, 404):
        assert statuses.get(refused, 0) > 0, statuses
