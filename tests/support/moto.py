"""A real S3 API for tests: moto in server mode on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pathtolive import env

S3_BUCKET = "pathtolive-contracts"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}
S3_REGION = "us-east-1"


@dataclass(frozen=True)
class MotoS3:
    """A moto S3 server on loopback and a boto3 client for it."""

    endpoint_url: str
    client: Any

    def storage_options(self) -> dict[str, Any]:
        return {
            **S3_CREDENTIALS,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": S3_REGION},
        }

    def workspace_environ(self, prefix: str) -> dict[str, str]:
        """The environment of a workspace whose artifact store is ``prefix`` in the
        bucket: the AWS credentials, the region and this server as the endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["key"],
            "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["secret"],
            "AWS_DEFAULT_REGION": S3_REGION,
            env.S3_ENDPOINT_URL: self.endpoint_url,
            env.ARTIFACT_URL: f"s3://{S3_BUCKET}/{prefix}",
        }

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=S3_BUCKET, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def run_moto_s3() -> Iterator[MotoS3]:
    """A real S3 API (moto in server mode) on 127.0.0.1, with one bucket."""
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    # The server logs every request through werkzeug; keep test output readable.
    werkzeug_logger = logging.getLogger("werkzeug")
    previous_level = werkzeug_logger.level
    werkzeug_logger.setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=S3_CREDENTIALS["key"],
            aws_secret_access_key=S3_CREDENTIALS["secret"],
            region_name=S3_REGION,
        )
        client.create_bucket(Bucket=S3_BUCKET)
        yield MotoS3(endpoint_url=endpoint_url, client=client)
    finally:
        server.stop()
        werkzeug_logger.setLevel(previous_level)
