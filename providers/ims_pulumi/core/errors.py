"""Typed errors of the IMS client and provider.

Every message carries what a user needs to act: the operation, HTTP status, the API error
code and message, the request id (to quote to Huawei support) and, where known, what to do.
Credentials never appear in these messages: they are built only from responses and from
values the user declared.
"""

from __future__ import annotations

import json
import re
from typing import Any


class ImsError(Exception):
    """Base class of every expected failure; the provider shows ``str(error)`` without a traceback."""


class ConfigError(ImsError):
    """The provider configuration (``ims:*`` stack config / ``HW_*`` environment) is missing or inconsistent."""


class TransportError(ImsError):
    """The request did not get an HTTP response (DNS, connect, TLS, reset, timeout).

    ``sent`` tells whether the request may have reached the server: ``False`` only when the
    connection was never established, which makes even a POST safe to retry.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class SourceError(ImsError):
    """An image's source cannot be read as declared: a URL that does not answer 200, a server that
    compresses although the identity encoding was asked for, or a source that yields more or fewer
    bytes than it announced. The message names a URL only in its redacted form (no user
    information, no query string: ``content.redact_url``)."""


class ObjectStoreError(ImsError):
    """A request to the object store (OBS, through its S3-compatible API) failed: ``operation`` (what the
    provider was doing), ``status`` (HTTP status, 0 without a response), ``code`` (the S3/OBS error
    code), ``message``, ``request_id`` and ``hint`` (what to do)."""

    def __init__(self, *, operation: str, status: int = 0, code: str = "", message: str = "", request_id: str = "",
                 hint: str = "") -> None:
        self.operation, self.status, self.code, self.api_message = operation, status, code, message
        self.request_id, self.hint = request_id, hint
        text = f"{operation} failed" + (f": HTTP {status}" if status else "")
        if code:
            text += f" {printable(code)}"
        if message:
            text += f": {printable(message.rstrip('.'))}"
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text + (f". {hint}" if hint else ""))


def printable(text: str) -> str:
    """Text a server sent, safe for a terminal and one line: every character that is not printable
    (newlines, ESC of ANSI sequences, bidirectional overrides...) is written as its escape (``\\n``,
    ``\\x1b``, ``\\u202e``), as ``repr`` would; servers echo what they were sent."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ApiError(ImsError):
    """An HTTP error response from IMS, the API gateway or Glance."""

    hint: str = ""

    def __init__(
        self,
        *,
        operation: str,
        status: int,
        code: str = "",
        message: str = "",
        request_id: str = "",
        hint: str = "",
    ) -> None:
        self.operation = operation
        self.status = status
        self.code = code
        self.api_message = message
        self.request_id = request_id
        if hint:
            self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [f"{self.operation} failed: HTTP {self.status}"]
        if self.code:
            parts[0] += f" {printable(self.code)}"
        if self.api_message:
            parts.append(printable(self.api_message.rstrip(".")))
        text = ": ".join(parts)
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.hint:
            text += f". {self.hint}"
        return text


class BadRequest(ApiError):
    """400: the server refused the values sent."""


class AuthenticationFailed(ApiError):
    """401: wrong or expired credentials, or a bad signature."""

    hint = (
        "Check ims:accessKey/ims:secretKey (HW_ACCESS_KEY/HW_SECRET_KEY) or ims:authToken, "
        "that the machine clock is correct (signatures older than 15 minutes are refused), "
        "and that ims:projectId (HW_PROJECT_ID) belongs to these credentials"
    )


class PermissionDenied(ApiError):
    """403: authenticated, but not allowed (IAM policy, protected image, read-only attribute)."""

    hint = "Grant the IAM user the IMS permissions it needs (for example IMS FullAccess) in this project"


class NotFound(ApiError):
    """404: the image (or route) does not exist in this project."""


class Conflict(ApiError):
    """409: the request conflicts with the image's current state."""


class UnsupportedMediaType(ApiError):
    """415: the server does not accept the content type."""


class RateLimited(ApiError):
    """429: throttled by the API gateway; retried automatically, raised when retries ran out."""

    hint = "The API gateway throttled the calls; retry later or lower pulumi's --parallel"


class ServerError(ApiError):
    """5xx: the service failed; retried automatically for idempotent requests."""

    hint = "The service failed; it is safe to run the command again"


class QuotaExceeded(BadRequest):
    """IMG.0015: the private-image quota of the project is used up."""

    hint = "Delete unused private images or ask Huawei Cloud to raise the image quota, then run again"


class NameConflict(BadRequest):
    """IMG.0009: the server requires unique names and the name is taken."""

    hint = "Choose another name, or adopt the existing image with adopt_id"


class ImageProtected(ApiError):
    """The image is protected and cannot be deleted (IMG.0028, or Glance's 403)."""

    hint = (
        "Remove the protection first: set protected=False and run `pulumi up` where the endpoint lets PATCH "
        "change it (Glance, or IMS with ims:protectedInPlace true); otherwise unprotect the image in the Huawei "
        "Cloud console (Image Management Service > the image > Modify), set protected=False and run `pulumi "
        "refresh`; then destroy or replace it. On the local emulator: `curl -X PATCH -H 'X-Emulator-Control: 1' -H 'Content-Type: application/json' "
        "-d '{\"allow_protected_patch\": true}' <endpoint>/_emulator/config` and `pulumi config set ims:protectedInPlace true`"
    )


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    415: UnsupportedMediaType,
    429: RateLimited,
}
_BY_CODE: dict[str, type[ApiError]] = {
    "IMG.0015": QuotaExceeded,
    "IMG.0009": NameConflict,
    "IMG.0028": ImageProtected,
}


def parse_error_body(body: bytes | str) -> tuple[str, str]:
    """Extract ``(code, message)`` from any of the three error body shapes.

    IMS: ``{"error": {"code": "IMG.0001", "message": ".."}}``; API gateway:
    ``{"error_code": "APIGW.0301", "error_msg": ".."}``; Glance/WebOb:
    ``{"code": "404 Not Found", "title": "Not Found", "message": ".."}``. Anything else
    (HTML, plain text) is returned as a trimmed message.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        return "", _plain(text)
    candidates = [data]
    if isinstance(data, dict):
        candidates += [v for v in data.values() if isinstance(v, dict)]
    for item in candidates:
        if not isinstance(item, dict):
            continue
        for code_key, msg_key in (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message")):
            if code_key in item or msg_key in item:
                code = str(item.get(code_key) or "")
                # Glance puts the status line in "code" ("404 Not Found"); it is not an API code.
                if code[:3].isdigit():
                    code = ""
                return code, _plain(str(item.get(msg_key) or item.get("title") or ""))
    return "", _plain(text)


def _plain(text: str) -> str:
    """One line of text: Glance puts HTML (``<br />``) even in its JSON messages."""
    return " ".join(re.sub(r"<[^>]*>", " ", text).split())[:500]


def error_for(
    operation: str, status: int, body: bytes | str, request_id: str = ""
) -> ApiError:
    """Map one HTTP error response to the most specific :class:`ApiError` subclass."""
    code, message = parse_error_body(body)
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    if cls is PermissionDenied and "protected" in message.lower():
        cls = ImageProtected  # Glance: 403 "Image x is protected and cannot be deleted."
    return cls(operation=operation, status=status, code=code, message=message, request_id=request_id)


# ---- an image that is not as the resource needs it --------------------------------------------
# Raised by the core's workflows (content upload/import and verification, adoption, sharing) with
# the facts as attributes, so that callers and tests act on types and values, not on prose; the
# message is built from those attributes and is what users see.


class ImageError(ImsError):
    """An image (or its membership) is not what the resource needs.

    ``image_id``: the image; ``expected``: what the resource needed (a status, a digest, a
    visibility); ``found``: what there is instead (``None`` when not known); ``hint``: what to do.
    """

    def __init__(self, message: str, *, image_id: str, expected: Any = None, found: Any = None,
                 hint: str = "") -> None:
        super().__init__(message)
        self.image_id = image_id
        self.expected = expected
        self.found = found
        self.hint = hint


class ContentError(ImageError):
    """The image's data is not (or could not be made) the declared source's bytes.

    ``deleted``: the image was deleted because the failing create made it (the next run starts
    over); otherwise the image is kept and the next run continues with it.
    """

    def __init__(self, message: str, *, image_id: str, expected: Any = None, found: Any = None, hint: str = "",
                 deleted: bool = False) -> None:
        super().__init__(message, image_id=image_id, expected=expected, found=found, hint=hint)
        self.deleted = deleted


class UploadLeftImage(ContentError):
    """The server received the whole upload but left the image in ``found`` instead of ``active``
    (``killed``: it refused the data, typically a file whose format is not ``disk_format``)."""

    def __init__(self, *, image_id: str, status: Any, size: int, deleted: bool = False) -> None:
        self.size = size
        hint = "Check the file's format against disk_format, then run `pulumi up` again"
        super().__init__(f"upload to image {image_id} failed: the server left the image {status!r} after receiving "
                         f"{size:,} bytes. {hint}", image_id=image_id, expected="active", found=status, hint=hint,
                         deleted=deleted)


class UploadInterrupted(ContentError):
    """The upload broke off (``cause``: the error that ended it, retries spent) and the image is in
    ``found`` (``None``: gone); the next run uploads again into the same image."""

    def __init__(self, *, image_id: str, status: Any, cause: ImsError, deleted: bool = False) -> None:
        self.cause = cause
        hint = "run `pulumi up` again to upload again into it (no second image is made)"
        super().__init__(f"{cause}. The image {image_id} is {status or 'gone'!r}: {hint}", image_id=image_id,
                         expected="active", found=status, hint=hint, deleted=deleted)


class ImportFailed(ContentError):
    """The server's own import (``method``, Glance's ``web-download``) of ``location`` ended with the
    image ``found`` (``queued`` again, or ``killed``) instead of ``active``.

    ``failed_stores``: Glance's ``os_glance_failed_import``; ``probe``: what the URL answers from the
    provider's machine (one clause, no part of the URL).
    """

    def __init__(self, *, image_id: str, location: str, method: str, status: Any, failed_stores: Any = None,
                 probe: str = "", deleted: bool = False) -> None:
        self.location, self.method, self.failed_stores, self.probe = location, method, failed_stores, probe
        again = ("run `pulumi up` again" if deleted else
                 "run `pulumi up` again (it imports into the same image, no second image is made)")
        hint = (f"Check that the URL answers 200 from the server's network, then {again}, or set "
                "`ims:urlImport stream` to stream the URL through the provider")
        stores = f" (os_glance_failed_import: {failed_stores})" if failed_stores else ""
        gone = " and was deleted: the next `pulumi up` starts over" if deleted else ""
        super().__init__(f"image {image_id}: the server could not import {location} ({method}): the image is "
                         f"{status!r} again{stores}{gone}; {probe}. {hint}", image_id=image_id, expected="active",
                         found=status, hint=hint, deleted=deleted)


class RegistrationFailed(ContentError):
    """A registration from OBS (``PUT /v1/cloudimages/{id}/upload`` of ``image_url``) ended with the image
    ``found`` instead of ``active``: its job (``job_id``, ``None`` when the provider had none to follow)
    says ``FAIL`` with ``code`` and ``reason`` (IMS's ``error_code`` and ``fail_reason``)."""

    def __init__(self, *, image_id: str, image_url: str, status: Any, job_id: str | None = None, code: Any = None,
                 reason: Any = None, deleted: bool = False) -> None:
        self.image_url, self.job_id, self.code, self.reason = image_url, job_id, code, reason
        if deleted:
            again = "the next `pulumi up` starts over with a new image"
        elif status == "killed":
            again = "run `pulumi refresh` and `pulumi up` (a killed image takes no data: a new one is made)"
        else:
            again = "run `pulumi up` again (it registers again into the same image once it is `queued`)"
        hint = f"Check the file's format against disk_format and that IMS can read the object, then {again}"
        job = f"job {job_id} " if job_id else ""
        why = ": ".join(str(part) for part in (code, reason) if part) or "no reason given"
        gone = " and was deleted" if deleted else ""
        super().__init__(f"image {image_id}: the registration of {image_url} failed ({job}FAIL: {why}): the image is "
                         f"{status or 'gone'!r}{gone}. {hint}", image_id=image_id, expected="active", found=status,
                         hint=hint, deleted=deleted)


class ChecksumMismatch(ContentError):
    """The declared ``checksum`` (``algorithm`` ``expected``) is not the source's (``found``).

    ``stage`` says where it was found: ``file`` (a file's bytes, before anything was sent;
    ``detail`` is the comparison's own text and ``found`` may be ``None``), ``upload`` (the bytes
    that were sent) or ``url`` (the digest a URL source was identified by).
    """

    def __init__(self, *, image_id: str, algorithm: str, expected: str, found: str | None, stage: str,
                 location: Any = None, detail: str = "", deleted: bool = False) -> None:
        self.algorithm, self.stage, self.location, self.detail = algorithm, stage, location, detail
        if stage == "file":
            hint = "fix the file or the checksum"
            message = f"upload to image {image_id}: {detail}"
        elif stage == "upload":
            # deleted: the image this create made; the next run, with the fix, makes another
            hint = ("fix the source or the checksum and run " +
                    ("`pulumi up` again" if deleted else "`pulumi up --replace`"))
            message = (f"upload to image {image_id}: the bytes have {algorithm} {found}, but checksum declares "
                       f"{expected}" + (f" (the image was deleted): {hint}" if deleted else f"; {hint}"))
        elif stage == "url":
            hint = "fix the checksum or the source"
            message = (f"image {image_id}: checksum declares {algorithm} {expected}, but {location} was identified by "
                       f"{algorithm} {found}: {hint}")
        else:
            raise ValueError(f"unknown stage {stage!r}")
        super().__init__(message, image_id=image_id, expected=expected, found=found, hint=hint, deleted=deleted)


class DigestMismatch(ContentError):
    """The server reports ``algorithm`` ``found`` for the image's data, but the source's bytes have
    ``expected``: ``sent`` (the bytes this run uploaded were corrupted on the way) or not (the image
    already held other bytes than the declared source)."""

    def __init__(self, *, image_id: str, algorithm: str, expected: str, found: str, sent: bool) -> None:
        self.algorithm, self.sent = algorithm, sent
        hint = ("The upload was corrupted on the way: run `pulumi up` again after `pulumi refresh`" if sent else
                "The image holds other bytes than the declared source: declare that file, or replace the image")
        super().__init__(f"image {image_id}: the server reports {algorithm} {found}, but the source's bytes have "
                         f"{expected}. {hint}", image_id=image_id, expected=expected, found=found, hint=hint)


class UrlContentMismatch(ContentError):
    """The data the server read from a URL (an import, or an image found ``active``) is not the
    declared content: ``problems``, one clause each (a digest or size the server reports against the
    declared checksum or the source's identity)."""

    def __init__(self, *, image_id: str, location: str, problems: list[str], deleted: bool = False) -> None:
        self.location, self.problems = location, list(problems)
        hint = ("fix the URL or the checksum and run `pulumi up` again" if deleted else
                "Fix the URL or the checksum and run `pulumi up --replace`")
        super().__init__(f"image {image_id}: the data read from {location} is not the declared content: "
                         f"{'; '.join(problems)}. {'The image was deleted: ' if deleted else ''}{hint}",
                         image_id=image_id, found=self.problems, hint=hint, deleted=deleted)


class SourceChanged(ContentError):
    """The source's bytes changed between the preview (SHA-256 ``expected``, the resource's identity)
    and the upload (SHA-256 ``found`` of what was sent): the image holds the uploaded bytes. A staged
    upload is checked by SHA-256 too where the preview described the file (else by MD5: its ``found``
    is ``md5:<hex>``), and is aborted: nothing is registered."""

    def __init__(self, *, image_id: str, location: Any, expected: str, found: str) -> None:
        self.location = location
        hint = "run `pulumi up` again to record the bytes that were uploaded"
        super().__init__(f"upload to image {image_id}: {location} changed between the preview and the upload (its "
                         f"SHA-256 differs): {hint}", image_id=image_id, expected=expected, found=found, hint=hint)


class AdoptionMismatch(ImageError):
    """The image to adopt (``adopt_id``) differs in fields only a replacement could change:
    ``fields`` (their names) and ``details`` (one ``name: declared ..., the image has ...`` each)."""

    def __init__(self, *, image_id: str, fields: list[str], details: list[str]) -> None:
        self.fields, self.details = list(fields), list(details)
        hint = "declare the image's values instead"
        super().__init__(f"adopt image {image_id}: these fields cannot be changed in place, {hint}: "
                         f"{'; '.join(details)}", image_id=image_id, found=self.details, hint=hint)


class SharingError(ImageError):
    """A membership call was refused for a reason of the image itself (``cause``: the API's refusal)."""

    def __init__(self, message: str, *, image_id: str, cause: ApiError, expected: Any = None, found: Any = None,
                 hint: str = "") -> None:
        super().__init__(message, image_id=image_id, expected=expected, found=found, hint=hint)
        self.cause = cause


class NotShareable(SharingError):
    """Glance refused to add a member because the image's visibility (``found``) is not ``shared``."""

    def __init__(self, *, image_id: str, visibility: Any, cause: ApiError) -> None:
        hint = "set visibility='shared' on its ImageMetadata and run `pulumi up`, then add the member"
        super().__init__(f"{cause.operation} failed: HTTP {cause.status}: {cause.api_message.rstrip('.')}. Image "
                         f"{image_id} has visibility={visibility!r}; on Glance only images with visibility='shared' "
                         f"have members: {hint}", image_id=image_id, cause=cause, expected="shared", found=visibility,
                         hint=hint)


class NotShared(SharingError):
    """The image is not shared with ``member_id`` (the consumer's side): ``owner`` (``None``: not
    known) must add the member first."""

    def __init__(self, *, image_id: str, member_id: str, owner: str | None, cause: ApiError) -> None:
        self.member_id, self.owner = member_id, owner
        who = f"project {owner}" if owner else "the image's owner"
        hint = (f"{who} must add it as a member first (an ImageMember with member_id={member_id!r} in the owner's "
                "stack), then run `pulumi up` here again")
        super().__init__(f"{cause}. Image {image_id} is not shared with project {member_id}: {hint}",
                         image_id=image_id, cause=cause, expected=member_id, hint=hint)
