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
