"""`pathtolive serve` end to end: a real server on loopback, real clients."""

from __future__ import annotations

import io
import itertools
import json
import shutil
import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from pathtolive import Workspace
from tests.support.cli import Result, run_in_process
from tests.support.serving import (
    FEATURES,
    ServedWorkspace,
    cli_environ,
    copy_served,
    running_server,
    serving_in_thread,
    stop_server,
)

# No xdist group: each worker starts its own server for the module-scoped fixture, so
# these tests spread over the workers instead of queueing on one. The server runs in a
# thread of the test process; the tests of signals and worker processes start real ones.
pytestmark = pytest.mark.slow

Copy = Callable[..., ServedWorkspace]


@pytest.fixture(scope="module")
def served(
    served_template: Callable[[bool], ServedWorkspace], tmp_path_factory: pytest.TempPathFactory
) -> ServedWorkspace:
    return copy_served(served_template(True), tmp_path_factory.mktemp("served") / "ws")


@pytest.fixture(scope="module")
def server(served: ServedWorkspace) -> Any:
    with serving_in_thread(served.root) as running:
        yield running


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def test_v1_predict_answers_with_the_live_models_probabilities(
    served: ServedWorkspace, server: Any
) -> None:
    rows = served.features(8)
    expected = served.models[1].predict_proba(rows)
    response = httpx.post(f"{server.url}/v1/models/risk:predict", json={"instances": records(rows)})
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["predictions"], expected)
    assert response.headers["x-model-name"] == "risk@1"
    assert len(response.headers["x-request-id"]) == 32
    # The same rows as columns, and as positional rows in signature order.
    columns = {name: records(rows[[name]]) for name in FEATURES}
    by_column = {name: [row[name] for row in columns[name]] for name in FEATURES}
    assert np.allclose(
        httpx.post(f"{server.url}/v1/models/risk:predict", json={"inputs": by_column}).json()[
            "predictions"
        ],
        expected,
    )
    positional = [[row[name] for name in FEATURES] for row in records(rows)]
    assert np.allclose(
        httpx.post(f"{server.url}/v1/models/risk:predict", json={"instances": positional}).json()[
            "predictions"
        ],
        expected,
    )


def test_v1_metadata_and_health(server: Any) -> None:
    assert httpx.get(f"{server.url}/v1/models").json() == {"models": ["cancer", "risk"]}
    assert httpx.get(f"{server.url}/v1/models/risk").json() == {
        "name": "risk",
        "ready": True,
        "version": "1",
    }
    assert httpx.get(f"{server.url}/v1/models/nope").status_code == 404
    assert httpx.get(f"{server.url}/health/live").status_code == 200
    assert httpx.get(f"{server.url}/health/ready").json() == {"status": "ready", "failing": []}
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/v1/models/{name}:predict", "/invocations", "/v2/models/{name}/infer"):
        assert path in spec["paths"]


def _feedback_bodies(request_id: str) -> list[tuple[Any, str]]:
    """Feedback bodies of a wrong shape, and what the refusal names."""
    return [
        ({"request_id": request_id, "label": 1, "labels": [1]}, "not both"),
        ({"request_id": request_id}, "no label given"),
        ({"label": 1}, "request_id is missing"),
        ({"request_id": request_id, "label": 1, "extra": 2}, "unknown field 'extra'"),
        ({"request_id": request_id, "labels": []}, "a list of 1 to 10000 labels, not 0"),
        ({"request_id": request_id, "labels": 1}, "labels, not a number"),
        ({"request_id": request_id, "labels": [1] * 10_001}, "not 10001"),
        ({"request_id": request_id, "labels": [1, 0], "row": 1}, "row goes with one label"),
        ({"request_id": request_id, "label": 1, "row": -1}, "from 0 to 999999, not -1"),
        ({"request_id": request_id, "label": 1, "row": "2"}, "not '2'"),
        ({"request_id": request_id, "label": 1, "row": 1.5}, "not 1.5"),
        ([request_id, 1], "the body is an array"),
    ]


def test_a_request_id_feedback_cannot_take_is_refused_at_prediction_time(
    served: ServedWorkspace, server: Any
) -> None:
    from pathtolive.service.predictions import MAX_REQUEST_ID_CHARS

    row = records(served.features(1))
    url = f"{server.url}/v1/models/risk:predict"
    longest = "r" * MAX_REQUEST_ID_CHARS
    kept = httpx.post(url, json={"instances": row}, headers={"x-request-id": longest})
    assert kept.status_code == 200, kept.text
    assert kept.headers["x-request-id"] == longest
    # Before, 101 characters were answered and logged, and feedback then refused the id.
    for path, body in (
        ("/v1/models/risk:predict", {"instances": row}),
        ("/invocations?model=risk", {"dataframe_records": row}),
    ):
        refused = httpx.post(server.url + path, json=body, headers={"x-request-id": longest + "r"})
        assert refused.status_code == 400, refused.text
        assert f"at most {MAX_REQUEST_ID_CHARS}" in refused.text
    label = httpx.post(
        f"{server.url}/v1/models/risk/feedback", json={"request_id": longest, "label": 1}
    )
    assert label.status_code == 201, label.text


def test_feedback_labels_one_row_or_every_row_of_a_batch_request(
    served: ServedWorkspace, server: Any
) -> None:
    from pathtolive.service.predictions import MAX_FEEDBACK_ROWS, feedback
    from pathtolive.serving.codecs.v1 import MAX_FEEDBACK_LABELS

    answer = httpx.post(
        f"{server.url}/v1/models/risk:predict", json={"instances": records(served.features(3))}
    )
    request_id = answer.headers["x-request-id"]
    url = f"{server.url}/v1/models/risk/feedback"

    every_row = httpx.post(url, json={"request_id": request_id, "labels": [1, 0, True]})
    assert every_row.status_code == 201, every_row.text
    assert every_row.json() == {"request_id": request_id, "stored": True, "rows": 3}
    one_row = httpx.post(url, json={"request_id": request_id, "label": 1, "row": 2})
    assert one_row.json() == {"request_id": request_id, "stored": True, "rows": 1}
    # A label that is none of the model's classes would replace the valid one: refused.
    not_a_class = httpx.post(url, json={"request_id": request_id, "label": "no", "row": 2})
    assert not_a_class.status_code == 400, not_a_class.text
    assert "does not fit model 'risk'" in not_a_class.json()["error"]

    for body, named in _feedback_bodies(request_id):
        refused = httpx.post(url, json=body)
        assert refused.status_code == 400, (body, refused.text)
        message = refused.json()["error"]
        assert named in message, message
        assert '"labels": [' in message  # the shapes accepted
        assert "\n" not in message
    # A bad label among several refuses them all.
    bad_label = httpx.post(url, json={"request_id": request_id, "labels": [1, None, 0]})
    assert bad_label.status_code == 400
    assert "a label is one string, number or boolean" in bad_label.json()["error"]

    with Workspace.open(served.root) as ws:
        kept = feedback(ws.context, request_ids=[request_id])
    assert [(f.row, f.label, f.model) for f in kept] == [
        (0, 1, "risk"),
        (1, 0, "risk"),
        (2, True, "risk"),
        (2, 1, "risk"),
    ]
    # The OpenAPI document states the server's own bounds.
    spec = httpx.get(f"{server.url}/openapi.json").json()
    body = spec["paths"]["/v1/models/{name}/feedback"]["post"]["requestBody"]
    one, many = body["content"]["application/json"]["schema"]["oneOf"]
    assert one["properties"]["row"]["maximum"] == MAX_FEEDBACK_ROWS - 1
    assert many["properties"]["labels"]["maxItems"] == MAX_FEEDBACK_LABELS


def test_labels_for_requests_no_server_answered_are_bounded(served_workspace: Copy) -> None:
    served = served_workspace()
    with serving_in_thread(served.root, feedback_max_unlogged=3) as server:
        url = f"{server.url}/v1/models/risk/feedback"
        answered = httpx.post(
            f"{server.url}/v1/models/risk:predict", json={"instances": records(served.features(2))}
        )
        request_id = answered.headers["x-request-id"]
        for number in range(3):  # the allowance: the log may not hold their requests yet
            made_up = httpx.post(url, json={"request_id": f"made-up-{number}", "label": 1})
            assert made_up.status_code == 201, made_up.text
        refused = httpx.post(url, json={"request_id": "made-up-3", "label": 1})
        assert refused.status_code == 409, refused.text
        assert "labels only for the x-request-id" in refused.json()["error"]
        # Once the answered request's 2 rows are logged, its labels fit.
        _until(lambda: len(_log(served.root, "risk")) == 2, "the prediction was logged")
        labelled = httpx.post(url, json={"request_id": request_id, "labels": [1, 0]})
        assert labelled.status_code == 201, labelled.text
    from pathtolive.service.predictions import feedback

    with Workspace.open(served.root) as ws:
        assert len(feedback(ws.context, model="risk")) == 5


BAD_V1 = [
    ({"instances": [{"age": 41, "income": 1.0, "region": "NW"}]}, 400, "member"),
    ({"instances": [{"age": 41, "income": 1.0, "region": "NW", "member": True, "x": 1}]}, 400, "x"),
    ({"instances": [{"age": "old", "income": 1.0, "region": "NW", "member": True}]}, 400, "age"),
    ({"instances": [{"age": 41, "income": None, "region": "NW", "member": True}]}, 400, "income"),
    ({"instances": [{"age": 41, "income": 1.0, "region": "XX", "member": True}]}, 400, "region"),
    ({"instances": []}, 400, "empty"),
    ({"rows": []}, 400, "instances"),
]


@pytest.mark.parametrize(("body", "status", "named"), BAD_V1)
def test_bad_v1_input_is_a_4xx_naming_the_problem(
    server: Any, body: dict[str, Any], status: int, named: str
) -> None:
    response = httpx.post(f"{server.url}/v1/models/risk:predict", json=body)
    assert response.status_code == status, response.text
    assert named in response.json()["error"]


def test_malformed_bodies_and_limits(server: Any) -> None:
    url = f"{server.url}/v1/models/risk:predict"
    broken = httpx.post(
        url, content=b'{"instances": [', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]
    nan = httpx.post(
        url,
        content=b'{"instances": [{"age": 41, "income": NaN, "region": "NW", "member": true}]}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 400
    assert "NaN" in nan.json()["error"]
    wrong_type = httpx.post(url, content=b"age\n41\n", headers={"content-type": "text/csv"})
    assert wrong_type.status_code == 415
    # `curl -d` labels a JSON body as a form; it is read as the JSON it is.
    row = {"age": 41, "income": 1.0, "region": "NW", "member": True}
    curl_style = httpx.post(
        url,
        content=json.dumps({"instances": [row]}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert curl_style.status_code == 200
    row = {"age": 41, "income": 1.0, "region": "NW", "member": True}
    too_many = httpx.post(url, json={"instances": [row] * 10_001})
    assert too_many.status_code == 413
    assert "10000" in too_many.json()["error"]
    unknown = httpx.post(f"{server.url}/v1/models/nope:predict", json={"instances": [row]})
    assert unknown.status_code == 404
    metrics = httpx.get(f"{server.url}/metrics").text
    assert (
        'pathtolive_errors_total{code="payload_too_large",model="risk",protocol="v1",status="413"}'
        in metrics
    )


def test_mlflow_scoring_protocol(served: ServedWorkspace, server: Any) -> None:
    rows = served.features(4)
    expected = served.models[1].predict_proba(rows)
    url = f"{server.url}/invocations?model=risk"
    # What MLflow's ScoringServerClient sends for a DataFrame: pandas' split orient.
    split = json.loads(rows.to_json(orient="split", index=False))
    headers = {"content-type": "application/json"}
    for body in (
        {"dataframe_split": split},
        {"dataframe_records": records(rows)},
        {"instances": records(rows)},
        {"inputs": {name: rows[name].tolist() for name in FEATURES}, "params": {}},
    ):
        response = httpx.post(url, content=json.dumps(body, default=_plain), headers=headers)
        assert response.status_code == 200, response.text
        assert np.allclose(response.json()["predictions"], expected)
    csv = io.StringIO()
    rows.to_csv(csv, index=False)
    response = httpx.post(url, content=csv.getvalue(), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert np.allclose(response.json()["predictions"], expected)
    assert httpx.get(f"{server.url}/ping").status_code == 200
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.get(f"{server.url}/version").text
    # Two models are served: without a choice the answer says how to make one.
    unnamed = httpx.post(f"{server.url}/invocations", json={"dataframe_split": split})
    assert unnamed.status_code == 404
    assert set(unnamed.json()) == {"error_code", "message"}
    assert "?model=" in unnamed.json()["message"]
    bad = httpx.post(url, json={"dataframe_split": {"columns": ["age"], "data": [[1]]}})
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "BAD_REQUEST"
    by_header = httpx.post(
        f"{server.url}/invocations",
        json={"dataframe_split": split},
        headers={"x-model-name": "risk"},
    )
    assert by_header.status_code == 200


@pytest.mark.parametrize("version", ["%C2%B2", "%D9%A3", "%EF%BC%91", "1.0", "-1"])
def test_v2_versions_take_ascii_digits_only(server: Any, version: str) -> None:
    # "²".isdigit() is true in Python, and int("²") raised: a 500 before.
    for path in ("", "/ready"):
        answer = httpx.get(f"{server.url}/v2/models/risk/versions/{version}{path}")
        assert answer.status_code == 404, answer.text
        assert "is not served here" in answer.json()["error"]
    inferred = httpx.post(
        f"{server.url}/v2/models/risk/versions/{version}/infer", json={"inputs": []}
    )
    assert inferred.status_code == 404, inferred.text


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value))


def test_open_inference_v2_with_tritonclient(served: ServedWorkspace, server: Any) -> None:
    import tritonclient.http as triton
    from sklearn.datasets import load_breast_cancer

    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("risk")
    metadata = client.get_model_metadata("risk")
    assert [item["name"] for item in metadata["inputs"]] == list(FEATURES)

    rows = served.features(6)
    expected = served.models[1].predict_proba(rows)
    for binary in (False, True):
        inputs = []
        for name, datatype, values in (
            ("age", "INT64", rows["age"].to_numpy(np.int64)),
            ("income", "FP64", rows["income"].to_numpy(np.float64)),
            ("region", "BYTES", rows["region"].to_numpy(object)),
            ("member", "BOOL", rows["member"].to_numpy(bool)),
        ):
            tensor = triton.InferInput(name, [len(rows)], datatype)
            tensor.set_data_from_numpy(values, binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput("predict_proba", binary_data=binary)]
        result = client.infer("risk", inputs, outputs=outputs)
        assert np.allclose(result.as_numpy("predict_proba"), expected)

    # A model with only numeric inputs takes one [n, features] tensor.
    cancer = load_breast_cancer()
    matrix = cancer.data[:5].astype(np.float64)
    tensor = triton.InferInput("input-0", list(matrix.shape), "FP64")
    tensor.set_data_from_numpy(matrix)
    result = client.infer("cancer", [tensor], model_version="1")
    probabilities = result.as_numpy("predict_proba")
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)

    from tritonclient.utils import InferenceServerException

    bad = triton.InferInput("age", [1], "BYTES")
    bad.set_data_from_numpy(np.array(["old"], dtype=object))
    with pytest.raises(InferenceServerException, match="age"):
        client.infer("risk", [bad])
    with pytest.raises(InferenceServerException):
        client.infer("risk", inputs, model_version="9")


def test_explain_gives_additive_attributions_per_input_column(
    served: ServedWorkspace, server: Any
) -> None:
    rows = served.features(3)
    response = httpx.post(
        f"{server.url}/v1/models/risk:explain", json={"instances": records(rows)}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "shap.TreeExplainer"
    assert len(body["explanations"]) == 3
    for row in body["explanations"]:
        assert set(row["attributions"]) == set(FEATURES)
        total = row["base_value"] + sum(row["attributions"].values())
        assert total == pytest.approx(row["prediction"], abs=1e-4)


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    served: ServedWorkspace, server: Any
) -> None:
    rows = served.features(64)
    expected = served.models[1].predict_proba(rows)
    answers: dict[int, Any] = {}
    errors: list[str] = []

    def send(index: int) -> None:
        with httpx.Client() as client:
            for offset in range(index, 64, 16):
                response = client.post(
                    f"{server.url}/v1/models/risk:predict",
                    json={"instances": records(rows.iloc[[offset]])},
                )
                if response.status_code != 200:
                    errors.append(response.text)
                else:
                    answers[offset] = response.json()["predictions"][0]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert np.allclose([answers[i] for i in range(64)], expected)


def _alias(root: Path, ref: str, alias: str) -> None:
    """Move ``alias`` as the local admin, with an override: these models have no gates."""
    with Workspace.open(root) as ws:
        ws.set_alias(ref, alias, override="test: no gates to run")


def _log(root: Path, model: str) -> pd.DataFrame:
    from pathtolive.service.predictions import read_prediction_log

    with Workspace.open(root) as ws:
        return read_prediction_log(ws.context, model)


def test_hot_swap_under_load_drops_nothing_and_switches_cleanly(served_workspace: Copy) -> None:
    served = served_workspace()
    row = records(served.features(1))
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()
    with serving_in_thread(served.root) as server:

        def stream() -> None:
            with httpx.Client() as client:
                while not stop.is_set():
                    response = client.post(
                        f"{server.url}/v1/models/risk:predict", json={"instances": row}
                    )
                    if response.status_code == 200:
                        seen.append(response.headers["x-model-name"])
                    else:
                        failures.append(f"{response.status_code} {response.text}")

        clients = [threading.Thread(target=stream) for _ in range(4)]
        for thread in clients:
            thread.start()
        while len(seen) < 200:
            threading.Event().wait(0.01)
        _alias(served.root, "risk@2", "live")
        while seen.count("risk@2") < 200:
            threading.Event().wait(0.01)
        stop.set()
        for thread in clients:
            thread.join()
        metrics = httpx.get(f"{server.url}/metrics").text
    assert failures == []
    switch = seen.index("risk@2")
    assert set(seen[:switch]) == {"risk@1"}
    # Requests in flight at the swap may finish on the old version; none start on it after.
    assert seen[switch:].count("risk@1") <= 4
    assert 'pathtolive_model_loads_total{model="risk",outcome="loaded",version="2"} 1.0' in metrics
    log = _log(served.root, "risk")
    assert len(log) == len(seen)  # the clean shutdown flushed every prediction
    assert Counter(log["version"].astype(int)) == Counter(int(s.split("@")[1]) for s in seen)
    # In the log's time order the switch is clean too: once version 2 answered, version 1
    # only finished the few requests that were already in flight.
    versions = log.sort_values("at")["version"].astype(int).tolist()
    first_new = versions.index(2)
    assert set(versions[:first_new]) == {1}
    assert versions[first_new:].count(1) <= 4
    with Workspace.open(served.root) as ws:
        actions = [event.action for event in ws.audit_log(limit=None)]
    for action in ("serve.started", "serve.model_loaded", "serve.model_swapped", "serve.stopped"):
        assert action in actions


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(served_workspace: Copy) -> None:
    served = served_workspace()
    with Workspace.open(served.root) as ws:
        digest = ws.model("risk@2").artifact_digest
    target = served.root / ".pathtolive" / "objects" / digest[:2] / digest[2:]
    target.chmod(0o644)
    target.write_bytes(b"not the model any more")
    row = records(served.features(1))
    with serving_in_thread(served.root) as server:
        _alias(served.root, "risk@2", "live")
        deadline_polls = 0
        while 'outcome="failed"' not in (metrics := httpx.get(f"{server.url}/metrics").text):
            deadline_polls += 1
            assert deadline_polls < 600, "the failed load was never reported"
            threading.Event().wait(0.05)
        response = httpx.post(f"{server.url}/v1/models/risk:predict", json={"instances": row})
        assert response.status_code == 200
        assert response.headers["x-model-name"] == "risk@1"
        assert (
            'pathtolive_model_loads_total{model="risk",outcome="failed",version="2"} 1.0' in metrics
        )
    with Workspace.open(served.root) as ws:
        failed = [e for e in ws.audit_log(limit=None) if e.action == "serve.model_failed"]
    assert failed
    assert "hash" in json.dumps(failed[0].details).lower()


def _object_path(root: Path, ref: str) -> Path:
    with Workspace.open(root) as ws:
        digest = ws.model(ref).artifact_digest
    path = root / ".pathtolive" / "objects" / digest[:2] / digest[2:]
    path.chmod(0o644)
    return path


def _until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds (the watcher polls every 0.2 s here)."""
    for _ in range(600):
        if check():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"never: {what}")


def test_a_running_replica_retries_a_failed_load_and_swaps_once_the_object_is_back(
    served_workspace: Copy,
) -> None:
    served = served_workspace()
    target = _object_path(served.root, "risk@2")
    good = target.read_bytes()
    target.write_bytes(b"not the model any more")
    row = records(served.features(1))
    retry = {"load_retry_seconds": 0.1, "load_retry_max_seconds": 0.4}
    with serving_in_thread(served.root, **retry) as server:
        predict = f"{server.url}/v1/models/risk:predict"
        _alias(served.root, "risk@2", "live")
        _until(
            lambda: (
                'pathtolive_model_load_failing{model="risk",version="2"} 1.0'
                in httpx.get(f"{server.url}/metrics").text
            ),
            "the failing load was shown in /metrics",
        )
        ready = httpx.get(f"{server.url}/health/ready")
        assert ready.status_code == 200  # still answering, with the older version
        (failing,) = ready.json()["failing"]
        assert (failing["model"], failing["version"]) == ("risk", 2)
        assert "hash" in failing["error"].lower()
        assert httpx.post(predict, json={"instances": row}).headers["x-model-name"] == "risk@1"

        target.write_bytes(good)  # the object is restored
        _until(
            lambda: (
                httpx.post(predict, json={"instances": row}).headers["x-model-name"] == "risk@2"
            ),
            "the restored version was loaded and swapped in",
        )
        assert httpx.get(f"{server.url}/health/ready").json().get("failing", []) == []
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'pathtolive_model_load_failing{model="risk",version="2"} 0.0' in metrics
    assert 'pathtolive_model_loads_total{model="risk",outcome="loaded",version="2"} 1.0' in metrics


def test_a_fresh_replica_whose_model_cannot_load_becomes_ready_once_it_can(
    served_workspace: Copy,
) -> None:
    served = served_workspace()
    target = _object_path(served.root, "risk@1")
    good = target.read_bytes()
    target.unlink()
    retry = {"load_retry_seconds": 0.1, "load_retry_max_seconds": 0.4}
    with serving_in_thread(served.root, wait_ready=False, **retry) as server:
        _until(
            lambda: httpx.get(f"{server.url}/health/ready").json().get("failing"),
            "the failing load was reported by /health/ready",
        )
        not_ready = httpx.get(f"{server.url}/health/ready")
        assert not_ready.status_code == 503
        body = not_ready.json()
        assert body["status"] == "loading"
        assert "risk@1" in body["reason"]
        target.write_bytes(good)
        _until(
            lambda: httpx.get(f"{server.url}/health/ready").status_code == 200,
            "the replica became ready once its model's object was back",
        )
        answer = httpx.post(
            f"{server.url}/v1/models/risk:predict", json={"instances": records(served.features(1))}
        )
        assert answer.headers["x-model-name"] == "risk@1"


def test_canary_takes_its_share_and_sticks_to_a_routing_key(served_workspace: Copy) -> None:
    served = served_workspace()
    # An admin's override: these models have no holdout to run gates on, and 0.3 is
    # above the default canary_max_share.
    deploy = _run_cli(
        served.root, "deploy", "risk", "--canary", "@2", "--share", "0.3", "--override", "test"
    )
    assert deploy.code == 0, deploy.stderr
    row = records(served.features(1))
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        versions = Counter(
            client.post(f"{server.url}/v1/models/risk:predict", json={"instances": row}).headers[
                "x-model-name"
            ]
            for _ in range(1000)
        )
        sticky = {
            client.post(
                f"{server.url}/v1/models/risk:predict",
                json={"instances": row},
                headers={"x-routing-key": "customer-42"},
            ).headers["x-model-name"]
            for _ in range(30)
        }
    assert versions["risk@1"] + versions["risk@2"] == 1000
    # Three standard deviations of a share of 0.3 in 1,000 draws (1.45 points each).
    assert abs(versions["risk@2"] / 1000 - 0.3) <= 0.045
    assert len(sticky) == 1


def test_shadow_scores_every_request_but_never_answers(served_workspace: Copy) -> None:
    served = served_workspace()
    deploy = _run_cli(served.root, "deploy", "risk", "--shadow", "@2", "--override", "test")
    assert deploy.code == 0, deploy.stderr
    rows = served.features(20)
    ids = []
    with serving_in_thread(served.root) as server, httpx.Client() as client:
        for index in range(20):
            response = client.post(
                f"{server.url}/v1/models/risk:predict",
                json={"instances": records(rows.iloc[[index]])},
            )
            assert response.headers["x-model-name"] == "risk@1"
            assert np.allclose(
                response.json()["predictions"], served.models[1].predict_proba(rows.iloc[[index]])
            )
            ids.append(response.headers["x-request-id"])
    log = _log(served.root, "risk")
    live = log[log["role"] == "live"]
    shadow = log[log["role"] == "shadow"]
    assert sorted(live["request_id"]) == sorted(ids)
    assert sorted(shadow["request_id"]) == sorted(ids)
    assert set(shadow["version"].astype(int)) == {2}
    ordered = shadow.set_index("request_id").loc[ids]
    assert np.allclose(ordered["prediction"].to_numpy(), served.models[2].predict_proba(rows)[:, 1])


def test_auth_needs_a_token_with_the_right_role(served_workspace: Copy) -> None:
    served = served_workspace()
    tokens = {}
    for role in ("viewer", "scientist"):
        created = _run_cli(
            served.root, "tokens", "create", "--user", f"{role}-bot", "--role", role, "--json"
        )
        assert created.code == 0, created.stderr
        tokens[role] = json.loads(created.stdout)["secret"]
    row = records(served.features(1))
    with serving_in_thread(served.root, auth=True) as server:
        predict = f"{server.url}/v1/models/risk:predict"
        feedback = f"{server.url}/v1/models/risk/feedback"
        assert httpx.get(f"{server.url}/health/ready").status_code == 200
        missing = httpx.post(predict, json={"instances": row})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = httpx.post(predict, json={"instances": row}, headers=_bearer("nope"))
        assert wrong.status_code == 401
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        answer = httpx.post(predict, json={"instances": row}, headers=_bearer(tokens["viewer"]))
        assert answer.status_code == 200
        label = {"request_id": answer.headers["x-request-id"], "label": 1}
        refused = httpx.post(feedback, json=label, headers=_bearer(tokens["viewer"]))
        assert refused.status_code == 403
        assert "scientist" in refused.json()["error"]
        stored = httpx.post(feedback, json=label, headers=_bearer(tokens["scientist"]))
        assert stored.status_code == 201, stored.text
        v2 = httpx.post(f"{server.url}/v2/models/risk/infer", json={"inputs": []})
        assert v2.status_code == 401
        assert "error" in v2.json()
    from pathtolive.service.predictions import feedback as list_feedback

    with Workspace.open(served.root) as ws:
        kept = list_feedback(ws.context)
    assert [(f.request_id, f.actor) for f in kept] == [(label["request_id"], "scientist-bot")]


_PROBES = (
    "/health/live",
    "/health/ready",
    "/ping",
    "/health",
    "/v2/health/live",
    "/v2/health/ready",
)
_DOCS = ("/docs", "/redoc", "/openapi.json", "/version")


def test_an_auth_server_checks_the_token_before_routing(served_workspace: Copy) -> None:
    served = served_workspace(cancer=True)
    created = _run_cli(
        served.root, "tokens", "create", "--user", "viewer-bot", "--role", "viewer", "--json"
    )
    viewer = _bearer(json.loads(created.stdout)["secret"])
    row = records(served.features(1))
    with serving_in_thread(served.root, auth=True) as server:
        # Before, /invocations without a model answered 404 listing the served models, and
        # the docs and /version answered anyone.
        for path in ("/invocations", "/invocations?model=nope", "/v1/models/nope:predict"):
            refused = httpx.post(server.url + path, json={"instances": row})
            assert refused.status_code == 401, (path, refused.text)
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "risk" not in refused.text
            assert "cancer" not in refused.text
        assert "message" in httpx.post(f"{server.url}/invocations").json()  # MLflow's shape
        assert "error" in httpx.get(f"{server.url}/v2/models/nope/ready").json()  # V2's
        for path in (*_DOCS, "/v2/models/nope", "/no/such/path", "/metrics"):
            assert httpx.get(server.url + path).status_code == 401, path
            assert httpx.get(server.url + path, headers=_bearer("made-up")).status_code == 401
        for path in _PROBES:  # load balancers and orchestrators probe without a token
            assert httpx.get(server.url + path).status_code == 200, path
        for path in _DOCS:
            assert httpx.get(server.url + path, headers=viewer).status_code == 200, path
        assert httpx.get(f"{server.url}/no/such/path", headers=viewer).status_code == 404
        unnamed = httpx.post(f"{server.url}/invocations", json={"instances": row}, headers=viewer)
        assert unnamed.status_code == 404
        assert "cancer, risk" in unnamed.json()["message"]
    with serving_in_thread(served.root, auth=True, public_docs=True) as server:
        for path in _DOCS:
            assert httpx.get(server.url + path).status_code == 200, path
        assert httpx.post(f"{server.url}/invocations", json={"instances": row}).status_code == 401


@pytest.mark.subprocess  # Ctrl-C and SIGTERM reach a real server process
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_logging_survives_a_clean_shutdown_with_pii_hashed(
    served_workspace: Copy, stop: signal.Signals
) -> None:
    served = served_workspace()
    (served.root / "pathtolive.toml").write_text(
        (served.root / "pathtolive.toml").read_text()
        + '\n[serve]\npii_columns = ["region"]\nlog_flush_seconds = 3600\n'
    )
    rows = served.features(50)
    with running_server(served.root) as server, httpx.Client() as client:
        for start in range(0, 50, 5):
            response = client.post(
                f"{server.url}/v1/models/risk:predict",
                json={"instances": records(rows.iloc[start : start + 5])},
            )
            assert response.status_code == 200
        code = stop_server(server, stop)
    assert code == 0  # a graceful stop, also by SIGTERM (a supervisor's stop)
    log = _log(served.root, "risk")
    assert len(log) == 50  # nothing was flushed before the shutdown, and nothing lost
    assert log["trained_on"].unique().tolist() == ["risk-data@1"]
    assert not set(log["input.region"]) & set(rows["region"])
    assert log["input.age"].tolist() == rows["age"].tolist()


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def _run_cli(root: Path, *args: str) -> Result:
    return run_in_process(args, cwd=root, environ=cli_environ())


_Series = tuple[tuple[str, str], ...]


def _counted(text: str, name: str = "pathtolive_requests_total") -> dict[_Series, float]:
    """The samples ``name`` of a scrape, by their labels."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _scrape(url: str) -> dict[_Series, float]:
    return _counted(httpx.get(f"{url}/metrics").text)  # a new connection: any worker answers


def _per_worker(folder: Path) -> dict[int, dict[_Series, float]]:
    """Each worker's own requests, read from its file alone in the folder the workers
    share (prometheus_client names it after the process)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    counts: dict[int, dict[_Series, float]] = {}
    for path in folder.glob("counter_*.db"):
        alone = folder.parent / f"alone-{path.stem}"
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(alone))  # type: ignore[no-untyped-call]
        counts[int(path.stem.rpartition("_")[2])] = _counted(generate_latest(registry).decode())
        shutil.rmtree(alone)
    return counts


def _series(model: str) -> _Series:
    labels = {"model": model, "version": "1", "protocol": "v1", "role": "live", "status": "200"}
    return tuple(sorted(labels.items()))


@pytest.mark.subprocess  # serve --workers
def test_metrics_of_several_workers_add_up_on_every_scrape(
    served_workspace: Copy, tmp_path: Path
) -> None:
    served = served_workspace(cancer=True)
    risk_rows = served.features(1)
    expected_risk = served.models[1].predict_proba(risk_rows)
    bodies = {
        "risk": {"instances": records(risk_rows)},
        "cancer": {"instances": records(_cancer_rows(2))},
    }
    temp = tmp_path / "tmp"  # where the server makes the folder its workers share
    temp.mkdir()
    environ = cli_environ(TMPDIR=str(temp))
    with running_server(served.root, "--workers", "2", environ=environ) as server:
        # Each worker loads on its own, and each new connection may meet either: wait
        # until a run of fresh connections all say ready.
        streak = 0
        while streak < 20:
            ready = httpx.get(f"{server.url}/health/ready").status_code == 200
            streak = streak + 1 if ready else 0
        (shared,) = temp.glob("pathtolive-metrics-*")
        sent = Counter[str]()
        seen: list[float] = []
        # New connections until both workers have answered some (the kernel picks which).
        while len(sent) < 2 or sum(sent.values()) < 30 or len(_per_worker(shared)) < 2:
            assert sum(sent.values()) < 400, "one worker answered every request"
            model = "risk" if sum(sent.values()) % 3 else "cancer"
            response = httpx.post(f"{server.url}/v1/models/{model}:predict", json=bodies[model])
            assert response.status_code == 200, response.text
            if model == "risk":  # both workers answer with the same model
                assert np.allclose(response.json()["predictions"], expected_risk)
            sent[model] += 1
            seen.append(sum(_scrape(server.url).values()))
        workers = _per_worker(shared)
        final = [_scrape(server.url) for _ in range(10)]
        code = stop_server(server)
    assert code == 0
    assert len(_log(served.root, "risk")) == sent["risk"]  # each worker flushed its own log
    assert not shared.exists()  # the shared folder goes with the server
    # Each scrape counts both workers' requests: it never goes backwards, and in the end
    # every scrape, whichever worker answers it, gives each model's count sent, the sum
    # of what the two workers counted, more than either counted alone.
    assert all(later >= earlier for earlier, later in itertools.pairwise(seen))
    expected = {_series(model): float(count) for model, count in sent.items()}
    assert final == [expected] * 10
    assert len(workers) == 2
    for series, count in expected.items():
        assert sum(worker.get(series, 0.0) for worker in workers.values()) == count
    totals = [sum(worker.values()) for worker in workers.values()]
    assert all(0 < total < sum(sent.values()) for total in totals)


def _cancer_rows(rows: int) -> pd.DataFrame:
    """Rows of the ``cancer`` model's inputs, named as the served workspace names them."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target").head(rows)
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame
