"""The S3-compatible bucket, through boto3. Credentials come the way boto3 reads them; the
service points AWS_SHARED_CREDENTIALS_FILE at a secret file (an AWS credentials file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from .retention import taken_at
from .settings import Settings


class BucketError(Exception):
    """What the bucket refused or lacks, as one sentence."""


class Bucket:
    def __init__(self, settings: Settings) -> None:
        self.name = settings.bucket
        self.prefix = settings.prefix
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url or None,
            region_name=settings.region,
            config=Config(
                connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        # One thread: the container's process limit is small, and one dump at a time is plenty.
        self.transfer = TransferConfig(use_threads=False)

    def upload(self, path: Path) -> None:
        self.client.upload_file(str(path), self.name, self.prefix + path.name, Config=self.transfer)

    def names(self) -> list[str]:
        """The dumps in the bucket (under the prefix), oldest first."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=self.prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if "/" not in name and taken_at(name) is not None:
                    found.append(name)
        return sorted(found, key=lambda n: (taken_at(n), n))

    def latest(self) -> str:
        names = self.names()
        if not names:
            raise BucketError(f"The bucket {self.name} holds no dump yet.")
        return names[-1]

    def chunks(self, name: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.name, Key=self.prefix + name)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise BucketError(f"The bucket {self.name} holds no dump named {name}.") from None
            raise
        yield from body.iter_chunks(1 << 20)

    def download(self, name: str, path: Path) -> None:
        with path.open("wb") as out:
            for chunk in self.chunks(name):
                out.write(chunk)

    def delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.name,
                Delete={"Objects": [{"Key": self.prefix + n} for n in batch], "Quiet": True},
            )
