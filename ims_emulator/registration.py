"""Registering an image file from OBS (``PUT /v1/cloudimages/{image_id}/upload``): the rules, as pure functions.

IMS "Registering an Image" (Image extension APIs): the body is ``{"image_url": "<bucket>:<file>"}``
naming an object in an OBS bucket; the image must come from "Creating Image Metadata"; the call
is asynchronous and answers ``200 {"job_id": ...}``; the image becomes ``active`` when the
registration succeeds, and the job ("Querying the Status of an Asynchronous Job",
``GET /v1/{project_id}/jobs/{job_id}``) says ``SUCCESS`` or ``FAIL`` with the reason. The
functions here check a request and build and advance the job document; reading the object is
:mod:`ims_emulator.obs`, the handler is in :mod:`ims_emulator.app`. Each rule says whether it is
documented or inferred; ``ims_emulator/README.md`` has the table.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ims_emulator import errors
from ims_emulator.errors import ApiError, bad_request

#: The file formats "Registering an Image" lists (the SDK's ``image_url`` text too): ZVHD, QCOW2,
#: VHD, RAW, VHDX, QED, VDI, QCOW, ZVHD2, VMDK. One regional page also lists ISO; the SDK, the
#: English reference and Open Telekom Cloud's page do not: the stricter reading leaves it out.
FILE_FORMATS = ("zvhd", "qcow2", "vhd", "raw", "vhdx", "qed", "vdi", "qcow", "zvhd2", "vmdk")
#: The job type of a registration ("Querying the Status of an Asynchronous Job": imsNativeImportImageJob,
#: "Registering an image").
JOB_TYPE = "imsNativeImportImageJob"
#: Job statuses (documented): INIT (initialising), RUNNING, SUCCESS, FAIL.
JOB_INIT, JOB_RUNNING, JOB_SUCCESS, JOB_FAIL = "INIT", "RUNNING", "SUCCESS", "FAIL"
FINISHED = frozenset({JOB_SUCCESS, JOB_FAIL})
#: OBS bucket names (OBS "Bucket naming rules"): 3-63 characters of lower-case letters, digits,
#: '-' and '.', starting and ending with a letter or digit; no '..', '.-' or '-.'; not an IP address.
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
#: Longest OBS object name, in UTF-8 bytes (OBS: 1 to 1024 characters).
MAX_KEY_BYTES = 1024
#: Signatures of the self-identifying formats: (offset, magic) pairs, any of which identifies the
#: format. RAW, ZVHD and ZVHD2 are not checked (anything is raw; IMS documents no ZVHD magic). A VHD
#: also counts when ``conectix`` opens its last 512 bytes (a fixed VHD's footer), see :func:`format_error`.
SIGNATURES: dict[str, tuple[tuple[int, bytes], ...]] = {
    "qcow2": ((0, b"QFI\xfb"),),
    "qcow": ((0, b"QFI\xfb"),),
    "qed": ((0, b"QED\x00"),),
    "vhdx": ((0, b"vhdxfile"),),
    "vmdk": ((0, b"KDMV"), (0, b"COWD"), (0, b"# Disk DescriptorFile")),
    "vdi": ((0x40, b"\x7f\x10\xda\xbe"),),
    "vhd": ((0, b"conectix"),),
}
#: Bytes of the object's start that :func:`format_error` needs (the VDI magic ends at 0x44).
HEAD_BYTES = 64 + 4
#: Bytes of the object's end it needs (a VHD footer).
TAIL_BYTES = 512


@dataclass(frozen=True)
class ImageUrl:
    """An ``image_url`` of a registration: the object ``key`` in ``bucket``."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.bucket}:{self.key}"

    @property
    def file_format(self) -> str:
        """The format the object's name gives (its last extension, lower-cased)."""
        return self.key.rsplit(".", 1)[-1].lower() if "." in self.key.rsplit("/", 1)[-1] else ""


def _url_error(value: str, why: str) -> ApiError:
    return bad_request(errors.URL_FORMAT, f"{errors.MESSAGES[errors.URL_FORMAT]} image_url {value!r}: {why}; "
                                          "expected '<bucket>:<object>', e.g. 'my-bucket:images/disk.qcow2'.")


def check_bucket_name(bucket: str) -> None:
    """OBS's bucket naming rules (documented by OBS); 400 IMG.0109 (documented code) otherwise."""
    problem = None
    if not BUCKET_RE.fullmatch(bucket):
        problem = ("3 to 63 characters of lower-case letters, digits, '-' and '.', starting and ending with a "
                   "letter or digit")
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "no '..', '.-' or '-.'"
    else:
        try:
            ipaddress.IPv4Address(bucket)
            problem = "not an IP address"
        except ValueError:
            pass
    if problem:
        raise bad_request(errors.BUCKET_NAME_INVALID,
                          f"{errors.MESSAGES[errors.BUCKET_NAME_INVALID]} Bucket {bucket!r}: an OBS bucket name has "
                          f"{problem}.")


def parse_image_url(value: str) -> ImageUrl:
    """``<bucket>:<object>`` -> :class:`ImageUrl`, or the documented 400 for each defect.

    The bucket ends at the first ``:`` (a bucket name has none; an object name may). In order:
    no ``:`` (IMG.0017, the URL format code, documented), an empty bucket (IMG.0068, documented),
    an empty object (IMG.0017, inferred), an object name starting with ``/`` (IMG.0017, inferred:
    it is what ``obs://b/k``, ``s3://b/k`` and ``https://host/k`` give), a bad bucket name
    (IMG.0109, documented), an object name with a space (IMG.0175, documented), over 1024 bytes (IMG.0017,
    inferred), without one of the listed extensions (IMG.0072, inferred: the format is told from
    the file name).
    """
    bucket, colon, key = value.partition(":")
    if not colon:
        raise _url_error(value, "no ':' between the bucket and the object")
    if not bucket:
        raise bad_request(errors.BUCKET_NAME_EMPTY, f"{errors.MESSAGES[errors.BUCKET_NAME_EMPTY]} image_url {value!r}.")
    if not key:
        raise _url_error(value, "the object name after ':' is empty")
    if key.startswith("/"):
        raise _url_error(value, "the object name starts with '/' (a URL such as obs://bucket/key is not an image_url)")
    check_bucket_name(bucket)
    if " " in key:
        raise bad_request(errors.NAME_HAS_SPACE, f"{errors.MESSAGES[errors.NAME_HAS_SPACE]} Object {key!r}.")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise _url_error(value, f"the object name is longer than {MAX_KEY_BYTES} bytes")
    url = ImageUrl(bucket, key)
    if url.file_format not in FILE_FORMATS:
        raise bad_request(
            errors.FORMAT_UNSUPPORTED,
            f"{errors.MESSAGES[errors.FORMAT_UNSUPPORTED]} Object {key!r}: registration takes files named "
            f"*.{', *.'.join(FILE_FORMATS)} (IMS \"Registering an Image\").",
        )
    return url


def parse_body(body: object) -> ImageUrl:
    """The body of a registration: exactly ``{"image_url": "<bucket>:<object>"}`` (400 IMG.0001 otherwise).

    ``image_url`` is the one documented field, and mandatory; any other key is refused and
    named, as on create (inferred, the strictest reading).
    """
    if not isinstance(body, dict):
        raise bad_request(message='The request body must be a JSON object: {"image_url": "<bucket>:<object>"}.')
    unknown = sorted(key for key in body if key != "image_url")
    if unknown:
        raise bad_request(message=f"{errors.MESSAGES[errors.BAD_BODY]} parameter(s) {', '.join(map(repr, unknown))} "
                                  "not supported; the registration body takes only image_url.")
    value = body.get("image_url")
    if value is None:
        raise bad_request(message=f"{errors.MESSAGES[errors.BAD_BODY]} image_url is required.")
    if not isinstance(value, str):
        raise bad_request(message=f"{errors.MESSAGES[errors.BAD_BODY]} image_url must be a string.")
    return parse_image_url(value)


def check_registrable(image: dict[str, Any]) -> None:
    """Only an image without data (``queued``) is registered; 400 IMG.0046 otherwise.

    The documented failures of the call are 400, 401, 403 and 404 (no 409): the status is 400,
    the code "The image is unavailable." (inferred).
    """
    if image["status"] != "queued":
        raise bad_request(errors.IMAGE_UNAVAILABLE,
                          f"{errors.MESSAGES[errors.IMAGE_UNAVAILABLE]} Only an image created by POST /v2/images and "
                          f"holding no data (queued) can be registered; this image is {image['status']}.")


def check_size(url: ImageUrl, size: int, limit: int) -> None:
    """An empty object is IMG.0057 (documented: "The image file is empty ..."); one over ``limit``
    bytes IMG.0059 (documented, "less than or equal to 128 GB")."""
    if size == 0:
        raise bad_request(errors.IMAGE_FILE_INVALID, f"{errors.MESSAGES[errors.IMAGE_FILE_INVALID]} {url} is empty.")
    if size > limit:
        raise bad_request(errors.IMAGE_FILE_TOO_LARGE,
                          f"{errors.MESSAGES[errors.IMAGE_FILE_TOO_LARGE]} {url} is {size:,} bytes; registration takes "
                          f"at most {limit:,} bytes.")


def format_error(url: ImageUrl, head: bytes, tail: bytes) -> str | None:
    """Why the object's bytes are not the format its name says, or ``None`` (inferred rule).

    ``head`` is the object's first :data:`HEAD_BYTES`, ``tail`` its last :data:`TAIL_BYTES`.
    Only the self-identifying formats of :data:`SIGNATURES` are checked.
    """
    fmt = url.file_format
    signatures = SIGNATURES.get(fmt)
    if signatures is None:
        return None
    if any(head[offset : offset + len(magic)] == magic for offset, magic in signatures):
        return None
    if fmt == "vhd" and tail[: len(b"conectix")] == b"conectix":
        return None
    return f"{url} is named *.{fmt}, but its bytes are not {fmt.upper()} (no {fmt.upper()} signature)"


def timestamp() -> str:
    """A job time: UTC, ``YYYY-MM-DDThh:mm:ssZ`` (the doc only says "UTC"; its example's own form is inferred away)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_job(image: dict[str, Any]) -> dict[str, Any]:
    """The job of a registration just accepted (``INIT``), as ``GET /v1/{project_id}/jobs/{job_id}`` shows it."""
    return {
        "status": JOB_INIT,
        "job_id": uuid.uuid4().hex,
        "job_type": JOB_TYPE,
        "begin_time": timestamp(),
        "end_time": "",
        "error_code": None,
        "fail_reason": None,
        "entities": {"image_id": image["id"], "image_name": image["name"], "process_percent": 0.0},
    }


def job_progress(job: dict[str, Any], fraction: float) -> dict[str, Any]:
    """``RUNNING`` with ``process_percent`` (a fraction, 0.0-1.0, as in the doc's example 0.20)."""
    entities = {**job["entities"], "process_percent": round(min(max(fraction, 0.0), 1.0), 4)}
    return {**job, "status": JOB_RUNNING, "entities": entities}


def job_succeeded(job: dict[str, Any]) -> dict[str, Any]:
    """``SUCCESS``: the image is ``active``."""
    entities = {**job["entities"], "process_percent": 1.0}
    return {**job, "status": JOB_SUCCESS, "end_time": timestamp(), "entities": entities}


def job_failed(job: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    """``FAIL`` with the IMS error code and the reason."""
    return {**job, "status": JOB_FAIL, "end_time": timestamp(), "error_code": code, "fail_reason": reason}
