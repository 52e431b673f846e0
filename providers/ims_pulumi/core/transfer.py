"""Which way an image's bytes reach the server: the transfer path of one image, decided offline.

Huawei documents two ways to give an IMS image its file (``docs/image-content.md``, "Three paths"):

* the **native upload** (``PUT /v2/images/{id}/file``): the file "must be smaller than 2 GB"
  (IMS's current "Uploading an Image (Native OpenStack API)"; older and Open Telekom Cloud pages say
  128 GB: the strictest current reading wins), and a request signed with AK/SK carries at most 12 MB
  (:data:`content.AKSK_BODY_LIMIT`), so with AK/SK only files of at most 12 MB go this way;
* **registration from OBS** ("Registering an Image File as a Private Image",
  ``PUT /v1/cloudimages/{id}/upload`` ``{"image_url": "bucket:object"}``): the file is an object in an
  OBS bucket of the region, at most 128 GB, named with one of ten format extensions. The provider
  either **stages** the source there itself (``ims:obsBucket``, multipart upload signed with the
  account's AK/SK, see :mod:`.staging`) or registers an object the program names as
  ``obs://bucket/key`` without any transfer.

Glance has its own paths (streamed upload, ``web-download`` import) and no registration.

:func:`decide` is pure: from the source's kind and size (as described at preview, or as opened at
``up``), the server profile, the disk format, the credentials' body limit and the OBS settings, it
returns the path and why, or a refusal that names the limit and the fix. ``check`` runs it at
preview (nothing is read but the settings), the workflow again at ``up`` with the size it opened.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import content
from .profiles import ServerProfile

#: Files the native upload takes are smaller than this ("must be smaller than 2 GB", read as 2 x 10^9
#: bytes, the stricter reading): at most 1,999,999,999 bytes.
NATIVE_MAX_BYTES = 2_000_000_000
#: The file formats registration takes, told by the object name's extension ("Registering an Image":
#: ZVHD, QCOW2, VHD, RAW, VHDX, QED, VDI, QCOW, ZVHD2, VMDK; one regional page adds ISO, the SDK,
#: the English reference and Open Telekom Cloud's page do not: the stricter reading leaves it out).
REGISTER_FORMATS = ("zvhd", "qcow2", "vhd", "raw", "vhdx", "qed", "vdi", "qcow", "zvhd2", "vmdk")
#: Where staged objects go in the staging bucket: ``ims-pulumi/<image id>/<digest>.<disk_format>``.
STAGING_PREFIX = "ims-pulumi/"
#: OBS bucket names: 3-63 lower-case letters, digits, '-' and '.', starting and ending with a letter
#: or digit; no '..', '.-' or '-.'; not an IP address (OBS "Bucket naming rules").
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
#: Longest OBS object name in UTF-8 bytes.
MAX_KEY_BYTES = 1024
OBS_SCHEME = "obs://"


class Path(Enum):
    """A way for an image's bytes to reach the server."""

    NATIVE = "native upload"
    STAGE = "stage to OBS and register"
    REGISTER = "register the OBS object"


@dataclass(frozen=True)
class Staging:
    """What the settings allow for OBS: the staging bucket (``ims:obsBucket``, "" when unset), the
    endpoint (``ims:obsEndpoint`` or the region's, "" when neither), and how requests are signed
    (``aksk``, ``token`` or ``none``: only AK/SK can sign OBS requests)."""

    bucket: str = ""
    endpoint: str = ""
    mode: str = "none"

    @property
    def problem(self) -> str | None:
        """Why this configuration cannot stage, or ``None``."""
        if not self.bucket:
            return "set ims:obsBucket (HW_OBS_BUCKET) to a bucket of the region to stage it in OBS and register it"
        if self.mode != "aksk":
            return ("staging in OBS signs with the account's AK/SK (ims:accessKey/ims:secretKey), and this stack "
                    "authenticates with a token, which OBS does not take: use AK/SK")
        if not self.endpoint:
            return ("set ims:obsEndpoint (HW_OBS_ENDPOINT), e.g. https://obs.<region>.myhuaweicloud.com, or "
                    "ims:region, to stage it in OBS")
        return None


@dataclass(frozen=True)
class Decision:
    """The path of one image (``None`` while the size decides and is not known yet), why, and a refusal
    (what no path can carry: the limit and the fix) when there is one."""

    path: Path | None
    reason: str
    refusal: str | None = None


def _mb(count: int) -> str:
    return f"{count:,} bytes"


def decide(kind: Any, size: Any, *, profile: ServerProfile, disk_format: Any, body_limit: int | None,
           staging: Staging, final: bool = True) -> Decision:
    """The transfer path of a source of ``kind`` (``file``, ``url``, ``obs``) and ``size`` bytes (``None``:
    not known, a URL's before it is opened).

    ``body_limit`` is the largest body the credentials may send (12,000,000 with AK/SK, ``None`` with a
    token). With ``final`` false (preview), a URL whose size decides between the native upload and
    staging gets ``path=None``; at ``up`` (``final``) a size still unknown (no ``Content-Length``) is
    staged where staging is configured and AK/SK limit the native upload, else uploaded natively
    (the server refuses what is too large).
    """
    if kind == "obs":
        if not profile.registers_from_obs:
            return Decision(None, "", f"names an OBS object, but {profile.display} has no registration from OBS "
                                      "(only Huawei Cloud IMS registers OBS objects, `PUT /v1/cloudimages/{id}/upload`): "
                                      "use a file or an http(s) URL")
        return Decision(Path.REGISTER, "the object is registered where it is: nothing is transferred")
    if not profile.registers_from_obs:
        return Decision(Path.NATIVE, f"{profile.display}: the provider streams it (or the server imports the URL)")
    if isinstance(size, float):
        size = int(size)
    if isinstance(size, int) and profile.max_file_bytes and size >= profile.max_file_bytes:
        return Decision(None, "", f"is {_mb(size)}; {profile.display} takes image files smaller than "
                                  f"{_mb(profile.max_file_bytes)} (\"Uploading an Image\"; registration from OBS: at "
                                  "most 128 GB): split the data or shrink the image")
    native_max = profile.native_max_bytes
    if not isinstance(size, int):
        if body_limit is None:
            return Decision(Path.NATIVE, "size not known before the transfer: native upload (a token carries files "
                                         f"smaller than {_mb(native_max or 0)})")
        if not final:
            how = "staged in OBS and registered" if staging.problem is None else "refused unless ims:obsBucket is set"
            return Decision(None, f"decided at `pulumi up` from the URL's Content-Length: native upload up to "
                                  f"{_mb(body_limit)} (AK/SK), else {how}")
        if staging.problem is None and disk_format in REGISTER_FORMATS:
            return Decision(Path.STAGE, "size not known before the transfer, and AK/SK carry at most "
                                        f"{_mb(body_limit)}: staged in OBS")
        return Decision(Path.NATIVE, "size not known before the transfer: native upload (the server refuses a body "
                                     "over the AK/SK limit)")
    over_native = native_max is not None and size >= native_max
    over_body = body_limit is not None and size > body_limit
    if not (over_native or over_body):
        return Decision(Path.NATIVE, f"{_mb(size)}: within the native upload's limits")
    why = (f"IMS's native upload takes files smaller than {_mb(native_max or 0)}" if over_native else
           f"requests signed with AK/SK may carry at most {_mb(body_limit or 0)}")
    token_fix = (", or authenticate with an IAM token instead (`pulumi config set --secret ims:authToken ...`, "
                 f"HW_AUTH_TOKEN: a token uploads files smaller than {_mb(native_max or 0)} natively)"
                 if not over_native else "")
    if disk_format not in REGISTER_FORMATS:
        return Decision(None, "", f"is {_mb(size)}, but {why} (IMS \"Uploading an Image\"), and registration from OBS "
                                  f"does not take disk_format {disk_format!r} (it takes {', '.join(REGISTER_FORMATS)})"
                                  f"{token_fix}")
    problem = staging.problem
    if problem is not None:
        return Decision(None, "", f"is {_mb(size)}, but {why} (IMS \"Uploading an Image\"): {problem}{token_fix}")
    return Decision(Path.STAGE, f"{_mb(size)}: {why}")


# --- obs://bucket/key -------------------------------------------------------------------------


def bucket_problem(bucket: str) -> str | None:
    """What breaks OBS's bucket naming rules in ``bucket``, or ``None``."""
    if not _BUCKET.fullmatch(bucket):
        return ("must be 3 to 63 characters of lower-case letters, digits, '-' and '.', starting and ending with a "
                "letter or digit (OBS bucket naming rules)")
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "must not contain '..', '.-' or '-.' (OBS bucket naming rules)"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "must not be an IP address (OBS bucket naming rules)"


def parse_obs(location: str) -> tuple[str, str]:
    """``obs://bucket/key`` -> ``(bucket, key)`` (either may be empty when the location lacks it)."""
    rest = location[len(OBS_SCHEME):] if location.lower().startswith(OBS_SCHEME) else location
    bucket, _, key = rest.partition("/")
    return bucket, key


def obs_problem(location: str) -> str | None:
    """What makes ``obs://bucket/key`` an object registration cannot take (the rules "Registering an
    Image" documents: the bucket's name, no space in the object name, one of the ten format
    extensions), or ``None``."""
    bucket, key = parse_obs(location)
    if not bucket or not key:
        return "must be written obs://<bucket>/<object>, e.g. obs://my-bucket/images/disk.qcow2"
    problem = bucket_problem(bucket)
    if problem:
        return f"names bucket {bucket!r}, which {problem}"
    if " " in key:
        return "has a space in the object name, which registration refuses (IMS \"Registering an Image\")"
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"has an object name longer than {MAX_KEY_BYTES} bytes"
    extension = key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
    if extension not in REGISTER_FORMATS:
        return (f"names an object without one of the extensions registration takes (*.{', *.'.join(REGISTER_FORMATS)}): "
                "IMS tells the image's format from the object name")
    return None


def image_url(bucket: str, key: str) -> str:
    """The ``image_url`` of a registration: ``<bucket>:<object>``."""
    return f"{bucket}:{key}"


def staged_key(image_id: str, source: Any, disk_format: str) -> str:
    """The object a source is staged as for one image: ``ims-pulumi/<image id>/<digest>.<disk_format>``.

    Deterministic: a run that was interrupted finds its multipart upload (or its object) again under
    the same key. The digest is the file's SHA-256 (so an object found complete under the key holds
    those bytes: the provider completes an upload only after checking the digest), or, for a URL,
    one of its identity and declared digest (a URL's object is staged again: its bytes are not known
    before they are read).
    """
    if isinstance(source, dict) and source.get("kind") == "file" and source.get("sha256"):
        digest = str(source["sha256"])[:16]
    else:
        location = source.get("location") if isinstance(source, dict) else source
        identity = content.url_identity(str(location or ""))
        marks = "".join(str(source.get(a) or "") for a in ("md5", "sha256", "sha512")) if isinstance(source, dict) \
            else ""
        digest = "u" + hashlib.sha256(f"{identity}|{marks}".encode()).hexdigest()[:15]
    return f"{image_prefix(image_id)}{digest}.{disk_format}"


def image_prefix(image_id: str) -> str:
    """The folder of an image's staged objects in the staging bucket."""
    return f"{STAGING_PREFIX}{image_id}/"


def describe_decision(decision: Decision, source: Any, image_name: Any, staging: Staging) -> str | None:
    """The line ``pulumi preview`` prints for an image that will not take the native upload (``None`` for
    one that will: the documented default goes without a line)."""
    if decision.path is Path.NATIVE:
        return None
    location = source.get("location") if isinstance(source, dict) else source
    shown = content.redact_url(str(location or ""))
    name = f"image {image_name!r}" if image_name else "image"
    if decision.path is Path.REGISTER:
        bucket, key = parse_obs(str(location or ""))
        return (f"{name}: {shown} will be registered as it is (PUT /v1/cloudimages/{{id}}/upload, image_url "
                f"{image_url(bucket, key)}): {decision.reason}")
    if decision.path is Path.STAGE:
        return (f"{name}: {shown} will be staged in OBS bucket {staging.bucket!r} and registered "
                f"(PUT /v1/cloudimages/{{id}}/upload), not uploaded natively: {decision.reason}")
    return f"{name}: {shown}: {decision.reason}"
