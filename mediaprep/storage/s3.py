"""S3-compatible object storage through boto3.

One put_object of bytes with the exact ContentLength and the true ContentType: no multipart, no
aws-chunked streaming (boto3 >= 1.36 streams with checksum trailers by default, which many
S3-compatible servers store or reject; the checksum setting defaults to "when_required"). Retries
use botocore's standard mode. A repeated upload is a HEAD that finds the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import (
    NoSuchBucket,
    StorageDenied,
    StorageFailed,
    StorageTimeout,
    StorageUnavailable,
    UsageError,
)
from ..settings import Settings
from . import Stored, checked_content, content_key


class S3Store:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        base_url: str | None = None,
        presign_seconds: int = 0,
        cache_control: str | None = None,
    ) -> None:
        if not base_url and presign_seconds <= 0:
            raise UsageError("an S3 store needs a public base URL or presigned URLs (s3_presign_seconds)")
        if presign_seconds > 604800:
            raise UsageError("presigned URLs last at most 604800 s (7 days) with SigV4")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.base_url = (base_url or "").rstrip("/")
        self.presign_seconds = presign_seconds
        self.cache_control = cache_control

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        if not settings.s3_bucket:
            raise UsageError("store=s3 needs a bucket: set MEDIAPREP_S3_BUCKET")
        return cls(
            make_client(settings),
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            base_url=settings.base_url if settings.s3_presign_seconds <= 0 else None,
            presign_seconds=settings.s3_presign_seconds,
            cache_control=settings.cache_control,
        )

    def put(self, data: bytes, mime: str) -> Stored:
        data, mime = checked_content(data, mime)
        key = content_key(data, mime, self.prefix)
        if self.exists(key):
            return Stored(key=key, url=self.url(key), bytes=len(data), mime=mime, created=False)
        extra = {"CacheControl": self.cache_control} if self.cache_control else {}
        with _mapped_errors(self.bucket):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentLength=len(data), ContentType=mime, **extra
            )
        return Stored(key=key, url=self.url(key), bytes=len(data), mime=mime, created=True)

    def exists(self, key: str) -> bool:
        try:
            with _mapped_errors(self.bucket, missing_ok=True):
                self.client.head_object(Bucket=self.bucket, Key=key)
        except _Missing:
            return False
        return True

    def url(self, key: str) -> str:
        if self.presign_seconds > 0:
            return str(
                self.client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.presign_seconds
                )
            )
        return f"{self.base_url}/{key}"


def make_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
        connect_timeout=settings.s3_timeout,
        read_timeout=settings.s3_timeout,
        request_checksum_calculation=settings.s3_checksum,
        response_checksum_validation=settings.s3_checksum,
        s3={"addressing_style": settings.s3_addressing},
        signature_version="s3v4",  # presigned URLs: SigV4, up to 7 days
    )
    # Credentials come the usual AWS ways (environment, profile, instance role).
    try:
        return boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region or "us-east-1", config=config
        )
    except ValueError as exc:  # botocore's "Invalid endpoint: ...", a region it cannot use
        raise UsageError(f"the S3 settings are not usable: {exc}") from None


class _Missing(Exception):
    pass


@contextmanager
def _mapped_errors(bucket: str, missing_ok: bool = False) -> Iterator[None]:
    """Turn botocore's failures into the storage errors of mediaprep's tree."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise StorageDenied(f"no usable credentials for the storage server ({exc}): set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE") from None
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        raise StorageTimeout(f"the storage server did not answer in time: {exc}") from None
    except (EndpointConnectionError, ConnectionClosedError) as exc:
        raise StorageUnavailable(f"cannot reach the storage server: {exc}") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "NoSuchBucket":
            raise NoSuchBucket(f"bucket {bucket!r} does not exist") from None
        if missing_ok and (code in ("404", "NoSuchKey", "NotFound") or status == 404):
            raise _Missing() from None
        denied = ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch")
        if code in denied or status == 403:
            raise StorageDenied(f"the storage server refused access to {bucket!r}: {code}") from None
        raise StorageFailed(f"the storage server answered {status} {code}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:  # the rest of botocore's own failures (TLS, proxy, a reply it cannot read)
        raise StorageFailed(f"the upload failed: {exc}") from None
