"""No secret reaches any output: a full scenario on PostgreSQL, every stream and file of
it collected, each searched for every secret and its obvious encodings.

The secrets: the database password inside the metadata URL, a token of each role (and a
mistyped copy of one), the PII salt, the webhook secret, and values under environment
variable names that say "secret" (``*_SECRET``, ``*_PASSWORD``, ``*_KEY``, the key
encryption key, AWS's secret key). The one place a secret may appear is the output of
``tokens create``, which shows the new token once by design.

What is searched: stdout and stderr of every CLI call (in this process, at DEBUG log
level), the server's log and every response it gave (bodies and headers), every file the
scenario wrote (the workspace's ``.pathtolive/``, reports, cards, run records, prediction
log segments and journals) and every row of the metadata database dumped as text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus

import httpx
import pytest
import sqlalchemy as sa

from pathtolive import env
from pathtolive.redaction import SECRET_NAME_PATTERNS, is_secret_name
from tests.support.cli import Result, run_in_process
from tests.support.pipelines import write_pipelines
from tests.support.serving import cli_environ, risk_frame, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.subprocess, pytest.mark.slow]

PIPELINE = """
import logging
import os

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pathtolive import Dataset, pipeline, step


@step
def split(data: Dataset):
    train_df, test_df = train_test_split(data.df, test_size=0.3, random_state=0)
    return train_df, test_df


@step
def train(train_df):
    # Careless training code: the step's log is kept with the run, for every reader.
    print("reading from", os.environ["PATHTOLIVE_METADATA_URL"])
    logging.getLogger("train").warning("signing with %s", os.environ["PATHTOLIVE_KEK"])
    pre = ColumnTransformer(
        [
            ("region", OneHotEncoder(handle_unknown="ignore"), ["region"]),
            ("numbers", StandardScaler(), ["age", "income"]),
        ]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])
    return model.fit(train_df.drop(columns=["at_risk"]), train_df["at_risk"])


@step
def evaluate(model, test_df) -> dict:
    return {"accuracy": float(model.score(test_df.drop(columns=["at_risk"]), test_df["at_risk"]))}


@pipeline
def risk(data: Dataset):
    train_df, test_df = split(data)
    model = train(train_df)
    return model, evaluate(model, test_df)


@step
def connect(data: Dataset):
    url, key = os.environ["PATHTOLIVE_METADATA_URL"], os.environ["BILLING_API_KEY"]
    raise ConnectionError(f"cannot reach {url} with key {key}")


@pipeline
def broken(data: Dataset):
    return connect(data)
"""

CONFIG = """
[models.risk]
metric = "accuracy"
[models.risk.gates]
min_metric = 0.5
slices = ["region"]
max_slice_drop = 0.5
resamples = 200
[models.risk.promotion]
live = "approval"
[models.risk.monitoring]
min_rows = 10
alert_webhook = "{hook}"
[serve]
log_flush_seconds = 0.2
[security]
encrypt = true
"""

GENERIC_SECRET_NAMES = (  # extend with the names of new secrets
    "PATHTOLIVE_KEK",
    "PATHTOLIVE_AUDIT_SIGNING_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "BILLING_API_KEY",
    "WAREHOUSE_PASSWORD",
    "PAYMENTS_SECRET",
    "GITHUB_TOKEN",
)
"""Names a user's environment may hold besides pathtolive's own: each gets a unique
value, and none may be recorded or shown anywhere."""


def _secret(label: str) -> str:
    # A random core that no other text contains, and characters that URL-encode.
    return f"{label}/{secrets.token_hex(10)}+="


def needles(secret: str) -> dict[str, bytes]:
    """The secret as it could show up: as it is, URL-encoded, in base64 (at each of the
    three alignments inside a longer text) and in hex."""
    raw = secret.encode()
    found = {
        "raw": raw,
        # The random core alone: found whatever a URL renderer made of the characters
        # around it.
        **{f"core {core}": core.encode() for core in re.findall(r"[0-9a-f]{20}", secret)},
        "url-encoded": quote(secret, safe="").encode(),
        "form-encoded": quote_plus(secret).encode(),
        "hex": binascii.hexlify(raw),
    }
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # The first 4 characters mix in the padding and the last 4 the next bytes.
        found[f"base64+{shift}"] = encoded[4:-4]
        found[f"urlsafe-base64+{shift}"] = base64.urlsafe_b64encode(b"\0" * shift + raw)[4:-4]
    return found


@dataclass
class Evidence:
    """Every output of the scenario, by where it came from."""

    texts: dict[str, bytes] = field(default_factory=dict)

    def add(self, where: str, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.texts[f"{len(self.texts):03d} {where}"] = data

    def add_result(self, args: tuple[str, ...], result: Result) -> None:
        self.add(f"stdout of {' '.join(args)}", result.stdout)
        self.add(f"stderr of {' '.join(args)}", result.stderr)

    def add_files(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.add(f"file {path.relative_to(root)}", path.read_bytes())

    def leaks(self, named: dict[str, str]) -> list[str]:
        found = []
        for name, secret in named.items():
            for encoding, needle in needles(secret).items():
                for where, data in self.texts.items():
                    if needle in data:
                        at = data.index(needle)
                        context = data[max(0, at - 80) : at + len(needle) + 40]
                        found.append(f"{name} ({encoding}) in {where}: …{context!r}…")
        return found


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        type(self).received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _with_password(url: str, password: str, *, port: int | None = None) -> str:
    parsed = sa.engine.make_url(url).set(password=password)
    if port is not None:
        parsed = parsed.set(port=port)
    return parsed.render_as_string(hide_password=False)


def _dump_database(url: str) -> str:
    engine = sa.create_engine(url)
    lines = []
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
    finally:
        engine.dispose()
    return "\n".join(lines)


def test_secret_name_patterns_cover_the_usual_names() -> None:
    for name in (*GENERIC_SECRET_NAMES, env.TOKEN, env.PII_SALT, env.ALERT_WEBHOOK_SECRET):
        assert is_secret_name(name), (name, SECRET_NAME_PATTERNS)
    for name in ("PATH", "HOME", env.USER, env.WORKSPACE, env.LOG_LEVEL, "PYTHONHASHSEED"):
        assert not is_secret_name(name)


def test_no_secret_reaches_any_output_of_a_full_scenario(
    postgres_url: str, tmp_path: Path, hook: str
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    password = _secret("S3cretPw")
    metadata_url = _with_password(postgres_url, password)
    named: dict[str, str] = {
        "database password": password,
        "PII salt": _secret("salt"),
        "webhook secret": _secret("hook"),
    }
    named.update({name: _secret(name.lower()) for name in GENERIC_SECRET_NAMES})
    # The key-encryption key is a real one: the workspace encrypts at rest with it. The
    # audit signing key is made by `audit keygen` below and then given in the environment.
    kek = secrets.token_bytes(32)
    named["PATHTOLIVE_KEK"] = base64.b64encode(kek).decode()
    named["KEK bytes"] = kek.hex()
    del named["PATHTOLIVE_AUDIT_SIGNING_KEY"]
    environ = cli_environ(
        **{
            env.METADATA_URL: metadata_url,
            env.PII_SALT: named["PII salt"],
            env.ALERT_WEBHOOK_SECRET: named["webhook secret"],
            env.LOG_LEVEL: "DEBUG",
            "COLUMNS": "200",
        },
        **{name: named[name] for name in GENERIC_SECRET_NAMES if name in named},
    )
    # Whatever else the environment holds under a secret name is checked too.
    named.update(
        {
            name: value
            for name, value in environ.items()
            if is_secret_name(name) and len(value) >= 8 and name not in named
        }
    )
    evidence = Evidence()

    def cli(*args: str, token: str | None = None, code: int | None = 0, **extra: str) -> Result:
        call_env = {**environ, **extra}
        if token is not None:
            call_env[env.TOKEN] = token
        result = run_in_process(args, cwd=root, environ=call_env)
        if code is not None:
            assert result.code == code, f"{args}: {result.code}\n{result.stdout}\n{result.stderr}"
        evidence.add_result(args, result)
        return result

    # A workspace on PostgreSQL, whose init prints the first admin token, then a token of
    # each role (each shown once: not evidence). Commands without a token of their own act
    # as that first admin: a shared database trusts no local user.
    first = run_in_process(("init", "--json"), cwd=root, environ=environ)
    assert first.code == 0, first.stderr
    environ[env.TOKEN] = first.json()["admin_token"]["secret"]
    named["first admin token"] = environ[env.TOKEN]
    cli("init", "--json", code=None)  # refused: a workspace exists already
    tokens = {}
    roles = {"root": "admin", "sam": "scientist", "bob": "approver", "val": "viewer"}
    for user, role in roles.items():
        created = run_in_process(
            ("tokens", "create", "--user", user, "--role", role, "--json"),
            cwd=root,
            environ=environ,
        )
        assert created.code == 0, created.stderr
        tokens[role] = created.json()["secret"]
    named.update({f"{role} token": token for role, token in tokens.items()})
    admin, scientist, approver = tokens["admin"], tokens["scientist"], tokens["approver"]
    cli("tokens", "list", "--json", token=admin)
    cli("tokens", "list", token=admin)

    # The audit signing key, as a secret manager would hand it over: the PEM itself.
    key_file = tmp_path.parent / f"{tmp_path.name}-keys" / "audit.key"  # where it belongs
    cli("audit", "keygen", "--out", str(key_file), "--json", token=admin)
    pem = key_file.read_text()
    environ["PATHTOLIVE_AUDIT_SIGNING_KEY"] = pem
    named["audit signing key"] = "".join(
        line for line in pem.splitlines() if line and not line.startswith("-----")
    )

    # Data with a PII column, a pipeline run, gates, promotion under approval, the card.
    frame = risk_frame(300, seed=3).assign(email=[f"user{i}@example.com" for i in range(300)])
    frame.to_csv(tmp_path / "loans.csv", index=False)
    (root / "pathtolive.toml").write_text(
        (root / "pathtolive.toml").read_text() + CONFIG.format(hook=hook)
    )
    add = ("data", "add", str(tmp_path / "loans.csv"), "--name", "loans")
    cli(*add, "--tag", "at_risk=target", "--tag", "email=pii", "--json", token=scientist)
    cli("data", "list", "--json", token=scientist)
    cli("data", "show", "loans@1", "--json", token=scientist)
    cli("data", "show", "loans@1", token=scientist)
    write_pipelines(root, risk=PIPELINE)
    ran = cli("run", "risk", "--data", "loans@1", "--register", "risk", "--json", token=scientist)
    run_id = str(ran.json()["run"]["run_id"])
    cli("runs", "list", "--json", token=scientist)
    cli("runs", "show", run_id, "--json", token=scientist)
    cli("runs", "show", run_id, token=scientist)
    cli("run", "broken", "--data", "loans@1", "--json", token=scientist, code=11)
    cli("run", "broken", "--data", "loans@1", token=scientist, code=11)
    failed = cli("runs", "list", "--json", token=scientist).json()[0]["run_id"]
    cli("runs", "show", failed, "--json", token=scientist)
    cli("lineage", "risk@1", "--json", token=scientist)
    cli("models", "show", "risk@1", "--json", token=scientist)
    cli("promote", "risk@1", "--to", "live", "--json", token=scientist)
    cli("approve", "risk@1", "--to", "live", "--json", token=approver)
    cli("models", "card", "risk@1", "--out", str(tmp_path / "cards"), "--json", token=scientist)
    for listing in (("models", "list"), ("alias", "list"), ("promotions", "list")):
        cli(*listing, "--json", token=scientist)
        cli(*listing, token=scientist)
    cli("deploy", "risk", "--json", token=scientist)

    # The server, with auth: predictions, feedback, and requests it must refuse.
    server_env = {**environ, env.TOKEN: admin}
    with running_server(root, "--auth", environ=server_env) as server, httpx.Client() as client:
        rows = json.loads(frame.drop(columns="at_risk").head(30).to_json(orient="records"))
        quoted = {**rows[0], named["webhook secret"]: 1}
        calls: list[tuple[str, str, dict[str, Any], str | None]] = [
            ("POST", "/v1/models/risk:predict", {"instances": rows}, tokens["viewer"]),
            ("POST", "/v1/models/risk:predict", {"instances": rows[:1]}, None),
            ("POST", "/v1/models/risk:predict", {"instances": rows[:1]}, admin + "x"),
            ("POST", "/v1/models/risk:predict", {"instances": rows[:1]}, admin[:-1]),
            ("POST", "/v1/models/nope:predict", {"instances": rows[:1]}, tokens["viewer"]),
            ("POST", "/v1/models/risk:predict", {"instances": [{"age": "x"}]}, tokens["viewer"]),
            ("GET", "/v1/models/risk", {}, tokens["viewer"]),
            # A refusal that quotes what it refused: a secret of the server's is masked.
            ("POST", "/v1/models/risk:predict", {"instances": [quoted]}, tokens["viewer"]),
            ("POST", "/invocations", {"dataframe_records": rows[:2]}, tokens["viewer"]),
            ("POST", "/v2/models/risk/infer", {"inputs": [{"name": "age"}]}, tokens["viewer"]),
            ("GET", "/v2/models/risk", {}, tokens["viewer"]),
            ("GET", "/version", {}, tokens["viewer"]),
            ("GET", "/openapi.json", {}, tokens["viewer"]),
            ("GET", "/health/ready", {}, None),
            ("GET", "/metrics", {}, tokens["viewer"]),
        ]
        for method, path, body, token in calls:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            response = client.request(method, server.url + path, json=body or None, headers=headers)
            evidence.add(f"response to {method} {path}", response.content)
            evidence.add(f"headers of {method} {path}", repr(response.headers.multi_items()))
            if body.get("instances") is rows:
                assert response.status_code == 200, response.text
                request_id = response.headers["x-request-id"]
        # A shifted stream, for drift alerts (and so webhook deliveries).
        shifted = frame.drop(columns="at_risk").tail(60).assign(age=lambda f: f["age"] + 60)
        shifted_rows = json.loads(shifted.to_json(orient="records"))
        response = client.post(
            f"{server.url}/v1/models/risk:predict",
            json={"instances": shifted_rows},
            headers={"Authorization": f"Bearer {tokens['viewer']}"},
        )
        assert response.status_code == 200, response.text
        feedback = client.post(
            f"{server.url}/v1/models/risk/feedback",
            json={"request_id": request_id, "labels": [0] * 30},
            headers={"Authorization": f"Bearer {scientist}"},
        )
        evidence.add("response to feedback", feedback.content)
        assert feedback.status_code == 201, feedback.text
        # The log is flushed on a clean stop, when the block ends.

    # Monitoring (alerts to the webhook), the audit trail, and errors on purpose.
    cli("monitor", "risk", "--last", "100", "--json", token=admin)
    cli("monitor", "risk", "--last", "100", "--report", str(tmp_path / "drift.html"), token=admin)
    cli("audit", "log", "--limit", "1000", "--json", token=admin)
    cli("audit", "log", "--limit", "1000", token=admin)
    cli("audit", "checkpoint", "--json", token=admin)
    cli("audit", "verify", "--json", token=admin)
    census = cli("security", "keys", "--json", token=admin).json()
    # The scenario ran encrypted: every object is under the one key, none plain.
    assert census["objects"].get("plain", 0) == 0
    assert census["objects"][census["current_key_id"]] > 0
    cli("db", "status", "--json", token=admin)
    # Errors, at the default log level and with tracebacks (DEBUG).
    unreachable = _with_password(postgres_url, password, port=1)
    malformed = metadata_url.replace("@127.0.0.1:5432", "@127.0.0.1:notaport")
    unknown = f"mysql+nodriver://postgres:{quote(password, safe='')}@127.0.0.1/test"
    for level in ("WARNING", "DEBUG"):
        for wrong in (admin + "x", admin[:-1], admin.upper()):
            cli("data", "list", "--json", token=wrong, code=7, **{env.LOG_LEVEL: level})
            cli("data", "list", token=wrong, code=7, **{env.LOG_LEVEL: level})
        cli("data", "show", "loans@99", "--json", token=scientist, code=3)
        cli("promote", "nope@1", "--to", "live", token=scientist, code=3)
        for url, code in ((unreachable, 10), (malformed, 8), (unknown, 8)):
            for extra in ((), ("--json",)):
                cli("--metadata-url", url, "data", "list", *extra, token=admin, code=code)
                at = {env.METADATA_URL: url, env.LOG_LEVEL: level}
                cli("data", "list", *extra, token=admin, code=code, **at)
            other = tmp_path / f"other-{len(evidence.texts)}"
            cli("--metadata-url", url, "init", str(other), "--json", code=code)
            assert not other.exists()  # a failed init leaves nothing behind

    assert _Hook.received, "no alert reached the webhook"
    evidence.add("webhook deliveries", b"\n".join(_Hook.received))
    evidence.add_files(tmp_path)
    evidence.add("metadata database", _dump_database(postgres_url))
    assert len(evidence.texts) > 100
    leaks = evidence.leaks(named)
    assert not leaks, "\n".join(leaks)
