"""Several serving replicas on one PostgreSQL database and one S3 bucket, set up as the
README's "Running with PostgreSQL and S3, and several serving replicas" says: its shell
lines run as written (the database, bucket, salt and ports replaced by the test's own),
two replicas each in its own checkout of the workspace, behind no load balancer but the
test's client. A promotion reaches both; both log to the bucket; `monitor` sees both."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest

from pathtolive import Workspace, env
from pathtolive.service.predictions import read_prediction_log
from tests.support.moto import S3_BUCKET, S3_CREDENTIALS, S3_REGION, MotoS3
from tests.support.serving import (
    FEATURES,
    RunningServer,
    cli_environ,
    free_port,
    make_served_workspace,
    stop_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.s3, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
TITLE = "## Running with PostgreSQL and S3, and several serving replicas"


def section_blocks() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(TITLE)
    section = text[start : text.index("\n## ", start + 1)]
    return [
        [line for line in block.splitlines() if line.strip()]
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
    ]


def test_replicas_share_the_database_and_the_bucket(
    tmp_path: Path, postgres_url: str, moto_s3: MotoS3
) -> None:
    # The third block (encryption keys) is covered by tests/func/test_encryption_at_rest.py.
    setup, serving = section_blocks()[:2]
    prefix = f"replicas-{uuid.uuid4().hex[:8]}"
    ours = {
        "postgresql+psycopg://ml@db/pathtolive": postgres_url,
        "s3://ml-artifacts/pathtolive": f"s3://{S3_BUCKET}/{prefix}",
        "PATHTOLIVE_PII_SALT=...": "PATHTOLIVE_PII_SALT=pepper",
    }
    environ = cli_environ(
        AWS_ACCESS_KEY_ID=S3_CREDENTIALS["key"],
        AWS_SECRET_ACCESS_KEY=S3_CREDENTIALS["secret"],
        AWS_DEFAULT_REGION=S3_REGION,
        **{env.S3_ENDPOINT_URL: moto_s3.endpoint_url},
    )
    build = tmp_path / "build"  # the admin's checkout, where the models are made
    build.mkdir()

    def run(line: str, cwd: Path) -> str:
        for theirs, mine in ours.items():
            line = line.replace(theirs, mine)
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            environ[name] = value
            return ""
        if words[:2] == ["pip", "install"]:
            # Installing is the machine's business; the extras it names must exist.
            extras = re.fullmatch(r"pathtolive\[(.*)\]", words[2])
            assert extras is not None
            declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
            assert set(extras.group(1).split(",")) <= set(declared["optional-dependencies"])
            return ""
        assert words[0] == "pathtolive", line
        completed = subprocess.run(
            [sys.executable, "-m", "pathtolive", *words[1:]],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 0, f"{line}\n{completed.stderr}"
        return completed.stdout

    printed = []
    for line in setup:
        printed.append(run(line, build))
        if line.startswith("pathtolive init"):
            # A shared database: init prints the first admin token, the next line sets it.
            first = re.search(r"\bptl_[A-Za-z0-9_\-]+", printed[-1])
            assert first is not None, printed[-1]
            ours["PATHTOLIVE_TOKEN=ptl_..."] = f"PATHTOLIVE_TOKEN={first.group()}"
    token = re.search(r"\bptl_[A-Za-z0-9_\-]+", printed[-1])
    assert token is not None, printed[-1]
    headers = {"authorization": f"Bearer {token.group()}"}
    ours["PATHTOLIVE_TOKEN=..."] = f"PATHTOLIVE_TOKEN={token.group()}"
    admin = dict(environ)  # the admin's, with the first admin token

    # Two versions of `risk` in the shared stores, @1 live.
    served = make_served_workspace(tmp_path / "notebook")
    with Workspace.open(build, environ=admin) as shared:
        shared.add_dataset(served.data, "risk-data")
        for version in (1, 2):
            shared.register_model(
                served.models[version],
                name="risk",
                data="risk-data@1",
                sample=served.features(200),
            )
        shared.set_alias("risk@1", "live", override="test setup: no gates to run")

    # The replicas: each in its own checkout (the workspace's file, nothing else).
    (serve_line,) = [line for line in serving if line.startswith("pathtolive serve")]
    for line in serving:
        if line.startswith("export"):
            run(line, build)
    replicas: list[RunningServer] = []
    try:
        for index in (1, 2):
            checkout = tmp_path / f"replica-{index}"
            checkout.mkdir()
            (checkout / "pathtolive.toml").write_text((build / "pathtolive.toml").read_text())
            with (checkout / "pathtolive.toml").open("a") as toml:
                toml.write("\n[serve]\npoll_interval = 0.2\n")
            port = free_port()
            stderr_path = checkout / "serve.log"
            with stderr_path.open("w") as stderr:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        *shlex.split(serve_line.replace("8080", str(port)), comments=True),
                    ],
                    cwd=checkout,
                    env=environ,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    text=True,
                )
            replicas.append(RunningServer(f"http://127.0.0.1:{port}", process, stderr_path))
        for replica in replicas:
            wait_ready(replica)

        rows = {"instances": served.features(3).to_dict(orient="records")}
        sent = 0

        def predict_everywhere() -> set[str]:
            nonlocal sent
            versions = set()
            for replica in replicas:
                answer = httpx.post(
                    f"{replica.url}/v1/models/risk:predict", json=rows, headers=headers
                )
                assert answer.status_code == 200, answer.text
                versions.add(answer.headers["x-model-name"])
                sent += 1
            return versions

        for replica in replicas:
            # Beyond loopback, auth is on: no token, no answer.
            refused = httpx.post(f"{replica.url}/v1/models/risk:predict", json=rows)
            assert refused.status_code == 401
        for _ in range(5):
            assert predict_everywhere() == {"risk@1"}

        with Workspace.open(build, environ=admin) as shared:
            shared.set_alias("risk@2", "live", override="test: the swap")
        seen: set[str] = set()
        for _ in range(200):
            seen = predict_everywhere()
            if seen == {"risk@2"}:
                break
        assert seen == {"risk@2"}, "a replica kept serving risk@1"
    finally:
        codes = [stop_server(replica) for replica in replicas]
    assert codes == [0, 0], [replica.stderr()[-2000:] for replica in replicas]

    # Both replicas' rows are in the shared log; the segments are in the bucket.
    with Workspace.open(build, environ=environ) as shared:
        log = read_prediction_log(shared.context, "risk")
    assert len(log) == 3 * sent
    assert log["request_id"].nunique() == sent
    assert set(log["input.region"].dropna()) <= {"NE", "NW", "SE", "SW"}
    assert set(FEATURES) <= {c.removeprefix("input.") for c in log.columns}
    assert moto_s3.keys(f"{prefix}/objects/")


def wait_ready(replica: RunningServer) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"a replica exited early:\n{replica.stderr()}")
        try:
            if httpx.get(f"{replica.url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"a replica never became ready:\n{replica.stderr()}")
