"""Every environment variable pathtolive reads, in one place.

Settings precedence is flag > environment > ``pathtolive.toml`` > default; this module only
names the variables. Code reads them from an ``environ`` mapping passed in, never from a
module global, so tests can give each call its own environment.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALERT_WEBHOOK_SECRET",
    "ARTIFACT_URL",
    "AUDIT_SIGNING_KEY",
    "DASK_SCHEDULER",
    "ENVIRONMENT_VARIABLES",
    "KEK",
    "LATENCY_BUDGET",
    "LOG_LEVEL",
    "METADATA_URL",
    "OTEL_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "PII_SALT",
    "PROGRESS",
    "REQUIRE_POSTGRES",
    "S3_ENDPOINT_URL",
    "S3_SSE",
    "S3_SSE_KMS_KEY_ID",
    "SERVE_SETTINGS",
    "TEST_ARTIFACTS",
    "TEST_BROWSER",
    "TEST_POSTGRES_URL",
    "TEST_UPDATE_SCREENSHOTS",
    "TOKEN",
    "USER",
    "WORKSPACE",
]

WORKSPACE: Final = "PATHTOLIVE_WORKSPACE"
"""Workspace folder (default: the nearest folder upwards holding pathtolive.toml)."""
METADATA_URL: Final = "PATHTOLIVE_METADATA_URL"
"""Metadata database URL (sqlite:///… or postgresql+psycopg://…)."""
ARTIFACT_URL: Final = "PATHTOLIVE_ARTIFACT_URL"
"""Artifact store URL (a folder, file://… or s3://bucket/prefix)."""
S3_ENDPOINT_URL: Final = "PATHTOLIVE_S3_ENDPOINT_URL"
"""S3 endpoint for S3-compatible stores (MinIO, Ceph, a test server)."""
S3_SSE: Final = "PATHTOLIVE_S3_SSE"
"""S3 server-side encryption asked for on every upload (``AES256`` or ``aws:kms``)."""
S3_SSE_KMS_KEY_ID: Final = "PATHTOLIVE_S3_SSE_KMS_KEY_ID"
"""The KMS key of ``aws:kms`` server-side encryption (default: the bucket's)."""
KEK: Final = "PATHTOLIVE_KEK"
"""Key-encryption key(s) for encryption at rest, base64, comma-separated, the first
encrypting (wins over ``[security] key_file`` / ``key_command``). Never logged."""
USER: Final = "PATHTOLIVE_USER"
"""Name of the local actor when no token is used (default: git user.email, then OS user)."""
TOKEN: Final = "PATHTOLIVE_TOKEN"
"""API token; when set, the actor is the token's principal with the token's role."""
AUDIT_SIGNING_KEY: Final = "PATHTOLIVE_AUDIT_SIGNING_KEY"
"""The audit chain's Ed25519 signing key: a path to its PEM file, or the PEM text itself
(from a secret manager). Wins over ``[audit] signing_key``. Never logged."""
DASK_SCHEDULER: Final = "PATHTOLIVE_DASK_SCHEDULER"
"""Address of the Dask scheduler data-heavy work runs on (``tcp://host:8786``); wins over
``[compute] scheduler``. Unset: in this process, streaming."""
LOG_LEVEL: Final = "PATHTOLIVE_LOG_LEVEL"
"""Log level for pathtolive's own logger (default WARNING)."""
LATENCY_BUDGET: Final = "PATHTOLIVE_LATENCY_BUDGET_SECONDS"
"""Seconds each series of the gates' latency probe may spend timing calls once it has its
fewest calls (default 1.5 for single rows, 1.0 for 1,000-row batches)."""
PROGRESS: Final = "PATHTOLIVE_PROGRESS"
"""Progress of long commands on stderr: ``on`` shows it even when stderr is not a
terminal (as plain lines), ``off`` never; unset, it is shown on a terminal only."""
PII_SALT: Final = "PATHTOLIVE_PII_SALT"
"""Secret that keys the hashes of PII values in the prediction log (default: random per
server process, so hashes do not match across restarts or replicas)."""
ALERT_WEBHOOK_SECRET: Final = "PATHTOLIVE_WEBHOOK_SECRET"
"""Secret that signs alert webhooks (HMAC-SHA256 in the X-Pathtolive-Signature header);
receivers check the signature with the same secret. Never logged."""
SERVE_SETTINGS: Final = "PATHTOLIVE_SERVE_SETTINGS"
"""Internal: the server's settings as JSON, handed to worker processes of `serve --workers`."""
REQUIRE_POSTGRES: Final = "PATHTOLIVE_REQUIRE_POSTGRES"
"""Tests only: when 1, PostgreSQL tests fail instead of skipping if no server answers."""
TEST_ARTIFACTS: Final = "PATHTOLIVE_TEST_ARTIFACTS"
"""Tests only: where the browser suite keeps its screenshots (default: a temporary folder)."""
TEST_BROWSER: Final = "PATHTOLIVE_TEST_BROWSER"
"""Tests only: a headless browser to render HTML reports with and to drive the web
console in (default: found on PATH)."""
TEST_POSTGRES_URL: Final = "PATHTOLIVE_TEST_POSTGRES_URL"
"""Tests only: the PostgreSQL server the contract suite uses."""
TEST_UPDATE_SCREENSHOTS: Final = "PATHTOLIVE_UPDATE_SCREENSHOTS"
"""Tests only: when 1, the browser suite also writes the README's pictures of the console
to ``docs/images/`` (default: to the artifacts folder only)."""

# OpenTelemetry's standard variables, honoured by pathtolive.tracing over [tracing].
OTEL_TRACES_EXPORTER: Final = "OTEL_TRACES_EXPORTER"
"""``otlp`` turns tracing on, ``none`` off, whatever ``[tracing] exporter`` says."""
OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
"""``true`` turns tracing off."""
OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
"""The service name spans are exported under (over ``[tracing] service_name``)."""
OTEL_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""The OTLP/HTTP collector's base URL; traces go to its ``/v1/traces``."""
OTEL_TRACES_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""The full URL traces are posted to (over ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""

ENVIRONMENT_VARIABLES: Final[dict[str, str]] = {
    WORKSPACE: "workspace folder",
    METADATA_URL: "metadata database URL",
    ARTIFACT_URL: "artifact store URL",
    S3_ENDPOINT_URL: "S3 endpoint URL for S3-compatible stores",
    S3_SSE: "S3 server-side encryption (AES256 or aws:kms)",
    S3_SSE_KMS_KEY_ID: "KMS key of aws:kms server-side encryption",
    KEK: "key-encryption key(s) for encryption at rest",
    USER: "local actor name",
    TOKEN: "API token (actor and role come from it)",
    AUDIT_SIGNING_KEY: "audit checkpoint signing key (a PEM file's path, or the PEM)",
    DASK_SCHEDULER: "Dask scheduler address for batch scoring and partitioned data",
    LOG_LEVEL: "log level",
    LATENCY_BUDGET: "seconds the gates' latency probe spends timing each series",
    PROGRESS: "progress on stderr: on, off (default: on a terminal only)",
    PII_SALT: "secret keying the hashes of PII in the prediction log",
    ALERT_WEBHOOK_SECRET: "secret signing alert webhooks",
    SERVE_SETTINGS: "internal: server settings handed to worker processes",
    REQUIRE_POSTGRES: "tests: fail instead of skip without PostgreSQL",
    TEST_POSTGRES_URL: "tests: PostgreSQL URL",
    TEST_BROWSER: "tests: headless browser for the HTML report and the console suite",
    TEST_ARTIFACTS: "tests: folder for the browser suite's screenshots",
    TEST_UPDATE_SCREENSHOTS: "tests: write the README's console pictures to docs/images/",
}
