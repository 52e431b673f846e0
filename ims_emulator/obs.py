"""The object store the emulator reads registered image files from: OBS, played by any S3-compatible server.

Huawei OBS speaks an S3-compatible API (AWS Signature V4) beside its own; the tests and
``make up`` run a real S3-compatible server locally (versitygw, ``scripts/s3/serve.sh``). The
emulator is pointed at it with ``--obs-endpoint URL --obs-credentials AK:SK`` (``--obs-region``
when the server is not in ``us-east-1``). It only reads: ``HeadBucket`` and ``HeadObject`` while
the registration request is answered (a missing bucket or object is that request's 400), then
``GetObject``, streamed in chunks in a worker thread, while the job runs: the image's ``size``,
``checksum`` (MD5) and ``os_hash_value`` (SHA-512) are computed from the object's bytes, in
constant memory whatever the size.

The client is boto3 (imported only when an object store is configured), with path-style
addressing and SigV4; CRC checksums are sent and checked only where S3 requires them, as
S3-compatible servers (OBS among them) do not all know AWS's newer checksum headers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ims_emulator import errors
from ims_emulator.errors import ApiError
from ims_emulator.imagedata import Digests
from ims_emulator.registration import HEAD_BYTES, TAIL_BYTES, ImageUrl

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Region S3 requests are signed for when none is given (versitygw's and boto3's default).
DEFAULT_REGION = "us-east-1"
#: Bytes read (and hashed) per worker-thread hop while a registration reads its object.
READ_CHUNK = 4 << 20
#: Storage class of a registrable object ("must be Standard"); S3 omits the header for it.
STANDARD = "STANDARD"


class ObjectReadError(Exception):
    """Reading the object failed while the job ran: the job fails with ``code`` and this message."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


def parse_credentials(value: str) -> tuple[str, str]:
    """``AK:SK`` -> ``(AK, SK)``; the secret key may itself contain ``:``."""
    access_key, colon, secret_key = value.partition(":")
    if not (colon and access_key and secret_key):
        raise ValueError(f"expected AK:SK, got {value!r}")
    return access_key, secret_key


def parse_endpoint(value: str) -> str:
    """An ``http(s)://host[:port]`` URL of the object store, without a trailing ``/``."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"expected an http(s)://host[:port] URL, got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class ObsSettings:
    """Where the object store is and the credentials the emulator reads with."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = DEFAULT_REGION


@dataclass
class ObjectInfo:
    """What ``HeadObject`` said of an object."""

    size: int
    storage_class: str


@dataclass
class ReadResult:
    """An object read whole: its digests, its first and last bytes (for the format check)."""

    digests: Digests
    head: bytes
    tail: bytes


def _status(exc: Exception) -> int | None:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def _code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class ObjectStore:
    """Reads of one S3-compatible object store; the boto3 client is made on first use and shared."""

    def __init__(self, settings: ObsSettings) -> None:
        self.settings = settings
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def client(self) -> S3Client:
        """The boto3 S3 client (thread-safe; made once)."""
        with self._lock:
            if self._client is None:
                import boto3  # only with an object store configured: the emulator starts without it otherwise
                from botocore.config import Config

                config = Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=5,
                    read_timeout=60,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._client = boto3.client(
                    "s3",
                    endpoint_url=self.settings.endpoint,
                    aws_access_key_id=self.settings.access_key,
                    aws_secret_access_key=self.settings.secret_key,
                    region_name=self.settings.region,
                    config=config,
                )
            return self._client

    def _unreachable(self, exc: Exception) -> ApiError:
        # Not the caller's fault: the emulator's own object store is down or misconfigured.
        return ApiError(500, errors.BUCKET_INACCESSIBLE,
                        f"{errors.MESSAGES[errors.BUCKET_INACCESSIBLE]} The emulator cannot reach its object store at "
                        f"{self.settings.endpoint}: {exc}")

    async def stat(self, url: ImageUrl) -> ObjectInfo:
        """``HeadBucket`` then ``HeadObject``; the registration's 400 when either says no.

        A bucket that does not exist or cannot be read with the emulator's credentials is
        IMG.0069 "The specified bucket cannot be accessed." (inferred mapping); an object that
        does not exist or cannot be read, or is not of the Standard storage class, IMG.0057
        (documented: "... not found ... or you do not have enough permission to access the file";
        the storage class constraint is documented, its code inferred).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            await asyncio.to_thread(client.head_bucket, Bucket=url.bucket)
        except ClientError as exc:
            why = {404: "does not exist", 403: "cannot be read with the emulator's --obs-credentials"}.get(
                _status(exc) or 0, f"answered {_status(exc)} {_code(exc)}")
            raise ApiError(400, errors.BUCKET_INACCESSIBLE,
                           f"{errors.MESSAGES[errors.BUCKET_INACCESSIBLE]} Bucket {url.bucket!r} {why}.") from None
        except BotoCoreError as exc:
            raise self._unreachable(exc) from None
        try:
            head = await asyncio.to_thread(client.head_object, Bucket=url.bucket, Key=url.key)
        except ClientError as exc:
            why = {404: "does not exist", 403: "cannot be read with the emulator's --obs-credentials"}.get(
                _status(exc) or 0, f"answered {_status(exc)} {_code(exc)}")
            raise ApiError(400, errors.IMAGE_FILE_INVALID,
                           f"{errors.MESSAGES[errors.IMAGE_FILE_INVALID]} Object {url.key!r} of bucket {url.bucket!r} "
                           f"{why}.") from None
        except BotoCoreError as exc:
            raise self._unreachable(exc) from None
        storage_class = str(head.get("StorageClass") or STANDARD)
        if storage_class != STANDARD:
            raise ApiError(400, errors.IMAGE_FILE_INVALID,
                           f"{errors.MESSAGES[errors.IMAGE_FILE_INVALID]} {url} is of storage class {storage_class}; "
                           "registration takes Standard objects only.")
        return ObjectInfo(size=int(head["ContentLength"]), storage_class=storage_class)

    async def read(self, url: ImageUrl, progress: Callable[[int], None]) -> ReadResult:
        """Read the object whole, hashing it chunk by chunk in a worker thread; ``progress(bytes so far)``
        is called on the event loop after each chunk. Raises :class:`ObjectReadError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        try:
            response = await asyncio.to_thread(client.get_object, Bucket=url.bucket, Key=url.key)
        except ClientError as exc:
            raise ObjectReadError(errors.IMAGE_FILE_INVALID,
                                  f"{errors.MESSAGES[errors.IMAGE_FILE_INVALID]} Reading {url} failed: "
                                  f"{_status(exc)} {_code(exc)}.") from None
        except BotoCoreError as exc:
            raise ObjectReadError(errors.REGISTER_FAILED,
                                  f"{errors.MESSAGES[errors.REGISTER_FAILED]} Reading {url} failed: {exc}") from None
        body = response["Body"]
        state = _Reading()
        try:
            while await asyncio.to_thread(state.pump, body):
                progress(state.digests.size)
        except (BotoCoreError, OSError, ValueError) as exc:
            raise ObjectReadError(errors.REGISTER_FAILED,
                                  f"{errors.MESSAGES[errors.REGISTER_FAILED]} Reading {url} broke off after "
                                  f"{state.digests.size:,} bytes: {exc}") from None
        finally:
            body.close()
        return ReadResult(state.digests, bytes(state.head), bytes(state.tail))


@dataclass
class _Reading:
    """The state of one object read: only ever touched by one thread at a time (sequential hops)."""

    digests: Digests = field(default_factory=Digests)
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)

    def pump(self, body: Any) -> bool:
        """Read and hash one chunk; ``False`` at the end of the object."""
        chunk: bytes = body.read(READ_CHUNK)
        if not chunk:
            return False
        self.digests.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.tail = (self.tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
        return True
