"""A real S3 API for tests: moto in server mode on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.s3 import S3_BUCKET, S3_REGION, S3Server

__all__ = ["S3_BUCKET", "S3_CREDENTIALS", "S3_REGION", "MotoS3", "run_moto_s3"]

S3_CREDENTIALS = {"key": "testing", "secret": "testing"}

MotoS3 = S3Server
"""moto's server is one :class:`S3Server` among others (see :mod:`tests.support.seaweed`)."""


def run_moto_s3() -> Iterator[S3Server]:
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
        yield S3Server(
            endpoint_url=endpoint_url,
            client=client,
            name="moto",
            bucket=S3_BUCKET,
            access_key=S3_CREDENTIALS["key"],
            secret_key=S3_CREDENTIALS["secret"],
            region=S3_REGION,
        )
    finally:
        server.stop()
        werkzeug_logger.setLevel(previous_level)
