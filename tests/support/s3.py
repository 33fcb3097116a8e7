"""An S3 server for tests, whichever implements it: moto's emulator or SeaweedFS's gateway.

Both run on loopback with one bucket and one pair of credentials; tests reach them
through the store (an ``s3://`` URL plus the environment of :meth:`S3Server.environ`)
and behind its back through :attr:`S3Server.client`, a boto3 client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pathtolive import env

__all__ = ["S3_BUCKET", "S3_REGION", "S3Server"]

S3_BUCKET = "pathtolive-contracts"
S3_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """An S3 API on loopback, its bucket, its credentials and a boto3 client for it."""

    endpoint_url: str
    client: Any
    name: str = "moto"
    bucket: str = S3_BUCKET
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = S3_REGION

    def storage_options(self) -> dict[str, Any]:
        """s3fs options for this server (as :class:`FsspecArtifactStore` takes them)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def url(self, prefix: str) -> str:
        """The ``s3://`` URL of ``prefix`` in the bucket."""
        return f"s3://{self.bucket}/{prefix}"

    def environ(self) -> dict[str, str]:
        """The variables that point pathtolive at this server: the AWS credentials and
        region, and this server as the S3 endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            env.S3_ENDPOINT_URL: self.endpoint_url,
        }

    def workspace_environ(self, prefix: str) -> dict[str, str]:
        """The environment of a workspace whose artifact store is ``prefix`` in the
        bucket: :meth:`environ` plus ``PATHTOLIVE_ARTIFACT_URL``."""
        return {**self.environ(), env.ARTIFACT_URL: self.url(prefix)}

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def put(self, key: str, data: bytes) -> None:
        """Write ``key`` behind the store's back."""
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete(self, key: str) -> None:
        """Remove ``key`` behind the store's back."""
        self.client.delete_object(Bucket=self.bucket, Key=key)
