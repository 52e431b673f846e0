"""Error responses in the two shapes a Huawei Cloud client meets.

* IMS style, ``{"error": {"code": "IMG.xxxx", "message": "..."}}``: what IMS itself answers
  (validation, not found, conflicts, protected images).
* API Gateway style, ``{"error_code": "APIGW.xxxx", "error_msg": "...", "request_id": "..."}``:
  what the gateway in front of IMS answers before IMS is reached (authentication,
  throttling, unknown API, oversized body).

Messages of documented codes are the verbatim texts of Huawei's IMS error-code table;
where the emulator adds detail (which key, which range), the message starts with that text.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from aiohttp import web


class Style(Enum):
    """Which body shape an error is rendered in."""

    IMS = "ims"
    GATEWAY = "gateway"


# IMS codes the emulator answers with, and their documented messages.
BAD_BODY = "IMG.0001"
NAME_TOO_LONG = "IMG.0002"
NAME_FORMAT = "IMG.0003"
DESCRIPTION_TOO_LONG = "IMG.0004"
EMPTY_BODY = "IMG.0007"
NAME_EXISTS = "IMG.0009"
QUOTA_EXCEEDED = "IMG.0015"
ROLE_INVALID = "IMG.0026"
IMAGE_NOT_FOUND = "IMG.0027"
IMAGE_PROTECTED = "IMG.0028"
ATTRIBUTE_CONFLICT = "IMG.0035"
OWNER_ONLY = "IMG.0047"
DESCRIPTION_FORMAT = "IMG.0054"
RAM_DISK_INVALID = "IMG.0055"
OS_VERSION_INVALID = "IMG.0056"
FORMAT_UNSUPPORTED = "IMG.0072"
SHARE_WITH_SELF = "IMG.0076"
SHARE_QUOTA = "IMG.0088"
SHARE_PUBLIC_IMAGE = "IMG.0089"
OWNER_ONLY_DELETE = "IMG.0092"
PUBLIC_IMAGE_DELETE = "IMG.0094"
TAG_INVALID = "IMG.0115"
TAG_QUOTA = "IMG.0116"
# Registration of an OBS object (PUT /v1/cloudimages/{id}/upload) and its job (ims_emulator/registration.py).
URL_FORMAT = "IMG.0017"
JOB_QUERY_FAILED = "IMG.0023"
IMAGE_UNAVAILABLE = "IMG.0046"
IMAGE_FILE_INVALID = "IMG.0057"
IMAGE_FILE_TOO_LARGE = "IMG.0059"
PROJECT_ID_INVALID = "IMG.0067"
BUCKET_NAME_EMPTY = "IMG.0068"
BUCKET_INACCESSIBLE = "IMG.0069"
BUCKET_NAME_INVALID = "IMG.0109"
NAME_HAS_SPACE = "IMG.0175"
REGISTER_FAILED = "IMG.1075"

#: A parameter the API does not document: a create-body key beyond the nine fields, a list
#: query parameter. IMS documents no code for this; IMG.0001 "The request message format is
#: invalid." is the most plausible (INFERRED), and the message names the parameter.
UNKNOWN_PARAMETER = BAD_BODY

MESSAGES: dict[str, str] = {
    BAD_BODY: "The request message format is invalid.",
    NAME_TOO_LONG: "The image name contains more than 128 characters.",
    NAME_FORMAT: "The image name format is invalid.",
    DESCRIPTION_TOO_LONG: "The description contains more than 1024 characters.",
    EMPTY_BODY: "The request body is empty.",
    NAME_EXISTS: "The image name already exists.",
    QUOTA_EXCEEDED: "The number of private images has reached the maximum allowed.",
    ROLE_INVALID: (
        "The role is invalid. You need to apply for the required permissions or pass the real-name authentication."
    ),
    IMAGE_NOT_FOUND: "The image ID in the request does not exist.",
    IMAGE_PROTECTED: "The image in the request is protected.",
    ATTRIBUTE_CONFLICT: "An attribute conflict occurred during the modification.",
    OWNER_ONLY: "This operation can be performed only by the image owner.",
    DESCRIPTION_FORMAT: "The image description format is invalid.",
    RAM_DISK_INVALID: "The memory or disk size is invalid.",
    OS_VERSION_INVALID: "Invalid OS version.",
    FORMAT_UNSUPPORTED: "The specified image format is not supported.",
    SHARE_WITH_SELF: "You cannot share an image with yourself.",
    SHARE_QUOTA: "The number of shared images has reached the maximum allowed.",
    SHARE_PUBLIC_IMAGE: "The public image or Marketplace image cannot be shared.",
    OWNER_ONLY_DELETE: "The image can only be deleted by the owner.",
    PUBLIC_IMAGE_DELETE: "The public image cannot be deleted.",
    TAG_INVALID: "The image tag is invalid.",
    TAG_QUOTA: "The number of image tags exceeds the quota.",
    URL_FORMAT: "The URL format is incorrect.",
    JOB_QUERY_FAILED: "An exception occurred during task query.",
    IMAGE_UNAVAILABLE: "The image is unavailable.",
    IMAGE_FILE_INVALID: (
        "The image file is empty, not found, or in incorrect format, or you do not have enough permission to access "
        "the file."
    ),
    IMAGE_FILE_TOO_LARGE: "The size of the image file exceeds the maximum allowed.",
    PROJECT_ID_INVALID: "The project ID is incorrect.",
    BUCKET_NAME_EMPTY: "The specified bucket name is empty.",
    BUCKET_INACCESSIBLE: "The specified bucket cannot be accessed.",
    BUCKET_NAME_INVALID: "The bucket name contains invalid characters.",
    NAME_HAS_SPACE: "The folder name and image file name cannot contain spaces.",
    REGISTER_FAILED: "Failed to register the image file.",
}

# API Gateway codes (Huawei's API Gateway error-code table).
GW_NOT_FOUND = "APIGW.0101"
GW_UNAUTHORIZED = "APIGW.0301"
GW_THROTTLED = "APIGW.0308"
GW_TOO_LARGE = "APIGW.0201"

# Injected 5xx faults carry a code that no real service uses, so a log line shows at once
# that the failure was made by the emulator.
FAULT_CODE = "EMU.FAULT"


class ApiError(Exception):
    """An error response: raised anywhere in a handler, rendered by the middleware."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        style: Style = Style.IMS,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "")
        self.style = style
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {self.message}")

    def response(self, request_id: str) -> web.Response:
        """The JSON response; ``request_id`` goes into gateway bodies like the real gateway does."""
        body: dict[str, object]
        if self.style is Style.GATEWAY:
            body = {"error_code": self.code, "error_msg": self.message, "request_id": request_id}
        else:
            body = {"error": {"code": self.code, "message": self.message}}
        return web.json_response(body, status=self.status, headers=self.headers)


def bad_request(code: str = BAD_BODY, message: str | None = None) -> ApiError:
    """A 400 IMS error."""
    return ApiError(400, code, message)


def not_found() -> ApiError:
    """The 404 for an unknown image, or one of another project (never reveal which)."""
    return ApiError(404, IMAGE_NOT_FOUND)


def member_not_found(image_id: str, member_id: str) -> ApiError:
    """The 404 for a membership that does not exist, or that the caller may not see.

    IMS documents no code for it; IMG.0027, the emulator's 404 code, is used (INFERRED) with
    Glance's message, so a client can tell it from a missing image by the message only.
    """
    return ApiError(404, IMAGE_NOT_FOUND, f"Member {member_id} not found in the member list of image {image_id}.")


def conflict(message: str) -> ApiError:
    """A 409 IMS attribute conflict (PATCH on a missing/present attribute, upload twice)."""
    return ApiError(409, ATTRIBUTE_CONFLICT, message)


def forbidden(message: str) -> ApiError:
    """A 403 for a read-only or non-removable attribute; IMS documents no code, IMG.0001 is used."""
    return ApiError(403, BAD_BODY, message)


#: Status of a write (PATCH, DELETE, tags, upload) to a public image. IMS's error table lists
#: IMG.0047 and IMG.0094 as 400s of its extension APIs; for the native API the status is
#: undocumented, and Glance answers a write to an image the caller does not own with 403.
#: INFERRED: 403 with the IMS code.
PUBLIC_IMAGE_WRITE_STATUS = 403


def public_image_write(code: str = OWNER_ONLY) -> ApiError:
    """The refusal of a write to a catalogue image: IMG.0047 (IMG.0094 for DELETE), 403 (inferred)."""
    return ApiError(PUBLIC_IMAGE_WRITE_STATUS, code)


def not_owner(code: str = OWNER_ONLY) -> ApiError:
    """A member project's write to an image shared with it: IMG.0047 (IMG.0092 for DELETE), 403 (inferred).

    Like :func:`public_image_write`: the codes are IMS's, the 403 is Glance's answer to a
    write by a project that does not own the image.
    """
    return ApiError(PUBLIC_IMAGE_WRITE_STATUS, code)


def unauthorized(detail: str) -> ApiError:
    """The gateway's 401 for a bad signature, unknown key or token, stale date."""
    return ApiError(401, GW_UNAUTHORIZED, f"Incorrect IAM authentication information: {detail}", style=Style.GATEWAY)
