"""Every request the provider sends to IMS, with the Huawei document that documents it.

This table is the provider's promise that it uses only what Huawei documents: the README's
"Requests the provider sends" table is generated from it, and the tests record every request
of a full lifecycle and check each against it (:func:`problems`), so a request, body field or
query parameter that is not listed here fails the tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .image_metadata import RESERVED_NAMES

NATIVE = "IMS API Reference > Native OpenStack APIs > Image (Native OpenStack APIs)"
SHARING = "IMS API Reference > Native OpenStack APIs > Image Sharing (Native OpenStack APIs)"


@dataclass(frozen=True)
class Request:
    """One documented request: method, path template, what it may carry, where it is documented."""

    method: str
    path: str
    doc: str
    #: JSON body keys (create) or JSON-patch paths (update) it may send.
    body: tuple[str, ...] = ()
    #: Query parameters it may send.
    query: tuple[str, ...] = ()
    #: JSON-patch paths may also name custom attributes (any key that is not an image attribute).
    custom_attributes: bool = False
    note: str = ""
    #: What the request serves: ``image`` (ImageMetadata, lookups), ``sharing`` or ``content``.
    group: str = "image"

    def matches(self, method: str, path: str) -> bool:
        """Whether a sent request is this one."""
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(self.path)) + "$"
        return method == self.method and re.match(pattern, path) is not None


IMS_REQUESTS: tuple[Request, ...] = (
    Request("POST", "/v2/images", f"{NATIVE} > Creating Image Metadata (Native OpenStack API)",
            body=("__os_version", "visibility", "name", "protected", "container_format", "disk_format", "tags",
                  "min_ram", "min_disk"),
            note="IMS: only the nine documented fields (no `id`: IMS documents none). The create token travels "
                 "as one of `tags` (`pulumi-create-token=<token>`); description and custom properties follow by "
                 "PATCH. Glance: every declared field, custom properties included, plus `id`, a UUID the provider "
                 "chooses per create and sends again unchanged after an uncertain failure (409: the image "
                 "exists)."),
    Request("GET", "/v2/images", f"{NATIVE} > Querying Images (Native OpenStack API)",
            query=("tag", "limit", "marker", "name", "visibility", "__imagetype", "__os_type", "__platform", "__os_bit",
                   "disk_format", "container_format", "status", "owner", "member_status", "created_at"),
            note="Once per provider process at preview (`visibility=private&limit=1`: endpoint and credentials "
                 "work; off with `ims:skipCredentialsValidation`); finding an image again by its create-token tag "
                 "before a create; after a create whose outcome is unknown and whose token finds nothing, "
                 "`name=<name>&created_at=gte:<attempt start - 2 min>` finds an image the server stored without "
                 "its tags (IMS only; see \"Failure behaviour\"); `get_image`/`get_images` "
                 "with the filters the document lists (the others are applied to every page); pages follow the "
                 "`next` link."),
    Request("GET", "/v2/images/{image_id}", f"{NATIVE} > Querying Image Details (Native OpenStack API)",
            note="Refresh, adoption, confirming a delete, re-reading after an uncertain update."),
    Request("PATCH", "/v2/images/{image_id}", f"{NATIVE} > Updating Image Information (Native OpenStack API)",
            body=("/name", "/__description"), custom_attributes=True,
            note="`application/openstack-images-v2.1-json-patch`; name, description and custom attributes, "
                 "the only attributes the document lets users change. `/protected` only with "
                 "`ims:protectedInPlace true` (not documented by IMS)."),
    Request("DELETE", "/v2/images/{image_id}", f"{NATIVE} > Deleting an Image (Native OpenStack API)",
            note="No body."),
    Request("PUT", "/v2/images/{image_id}/file", f"{NATIVE} > Uploading an Image (Native OpenStack API)",
            note="`application/octet-stream`, streamed; files smaller than 2 GB, and with AK/SK (the body "
                 "`UNSIGNED-PAYLOAD`) at most 12 MB (the document's limits); larger files are staged in OBS and "
                 "registered (below).", group="content"),
    Request("POST", "/v2/images/{image_id}/members", f"{SHARING} > Adding an Image Member (Native OpenStack API)",
            body=("member",), note="`ImageMember` create.", group="sharing"),
    Request("GET", "/v2/images/{image_id}/members/{member_id}",
            f"{SHARING} > Querying Image Member Details (Native OpenStack API)",
            note="Before adding (an existing membership is taken over) and on refresh.", group="sharing"),
    Request("PUT", "/v2/images/{image_id}/members/{member_id}",
            f"{SHARING} > Updating an Image Member Status (Native OpenStack API)", body=("status",),
            note="`ImageMemberAcceptance` create, update, and delete (back to `rejected`).", group="sharing"),
    Request("DELETE", "/v2/images/{image_id}/members/{member_id}",
            f"{SHARING} > Deleting an Image Member (Native OpenStack API)", note="`ImageMember` delete.",
            group="sharing"),
    Request("GET", "/v1/cloudimages/os_version", "IMS API Reference > APIs > Image > Querying Supported Image OSs",
            note="At most once per provider process, only for an `os_version` the built-in table does not know."),
    Request("PUT", "/v1/cloudimages/{image_id}/upload",
            "IMS API Reference > APIs > Image > Registering an Image File as a Private Image (`RegisterImage`)",
            body=("image_url",),
            note="`{\"image_url\": \"<bucket>:<object>\"}` only, into an image the provider created (`queued`): a "
                 "source staged in `ims:obsBucket` (files IMS's native upload cannot carry: 2 GB or more, or over "
                 "12 MB with AK/SK) or an `obs://bucket/key` source. Asynchronous: answers a `job_id`; the image goes "
                 "`saving`, then `active` (or `killed`).", group="content"),
    Request("GET", "/v1/{project_id}/jobs/{job_id}",
            "IMS API Reference > APIs > Asynchronous Job Query > Querying the Status of an Asynchronous Job",
            note="Polled after a registration (backing off to 2 s) until `SUCCESS` or `FAIL`: its `process_percent` "
                 "is the resource's status line, its `fail_reason` goes into the error. Without a project id (a "
                 "token and no `ims:projectId`) the image is polled instead.", group="content"),
)

OBS = "OBS API Reference > APIs"


@dataclass(frozen=True)
class ObsRequest:
    """One request to OBS (its S3-compatible API, sent by boto3): the S3 operation, its HTTP form, the
    OBS document, and the parameters the provider passes."""

    operation: str
    http: str
    doc: str
    params: tuple[str, ...]
    note: str = ""


#: Every object-store request of the provider (``core/staging.py``): staging a source in
#: ``ims:obsBucket``, cleaning up, and reading an ``obs://`` object to check a declared digest.
OBS_REQUESTS: tuple[ObsRequest, ...] = (
    ObsRequest("ListMultipartUploads", "GET /{bucket}?uploads&prefix=",
               f"{OBS} > Operations on Multipart Upload > Listing Initiated Multipart Uploads in a Bucket",
               ("Bucket", "Prefix", "KeyMarker", "UploadIdMarker"),
               "Before staging (an upload an interrupted run left is continued, others of the image aborted) and "
               "when cleaning up (`ims-pulumi/<image id>/`)."),
    ObsRequest("ListParts", "GET /{bucket}/{key}?uploadId=",
               f"{OBS} > Operations on Multipart Upload > Listing Uploaded Parts",
               ("Bucket", "Key", "UploadId", "PartNumberMarker"),
               "Continuing an upload: a part whose MD5 and size match the source is not sent again."),
    ObsRequest("HeadObject", "HEAD /{bucket}/{key}", f"{OBS} > Operations on Objects > Querying Object Metadata",
               ("Bucket", "Key"), "A file's object already complete under its key (named by its SHA-256) is "
                                  "registered without a transfer."),
    ObsRequest("CreateMultipartUpload", "POST /{bucket}/{key}?uploads",
               f"{OBS} > Operations on Multipart Upload > Initiating a Multipart Upload",
               ("Bucket", "Key", "ContentType"), "Key `ims-pulumi/<image id>/<digest>.<disk_format>`."),
    ObsRequest("UploadPart", "PUT /{bucket}/{key}?partNumber=&uploadId=",
               f"{OBS} > Operations on Multipart Upload > Uploading Parts",
               ("Bucket", "Key", "UploadId", "PartNumber", "Body", "ContentLength", "ContentMD5"),
               "Parts of 8 MiB (more above 80 GB), 6 at a time, retried; `Content-MD5` on a part sent again "
               "over an interrupted upload's."),
    ObsRequest("CompleteMultipartUpload", "POST /{bucket}/{key}?uploadId=",
               f"{OBS} > Operations on Multipart Upload > Merging Parts",
               ("Bucket", "Key", "UploadId", "MultipartUpload"),
               "Only once the digests of the bytes sent match the declared `checksum` and the source's identity."),
    ObsRequest("AbortMultipartUpload", "DELETE /{bucket}/{key}?uploadId=",
               f"{OBS} > Operations on Multipart Upload > Canceling a Multipart Upload Task",
               ("Bucket", "Key", "UploadId"),
               "Bytes that do not match, an earlier source's upload, clean-up (after `active`, at destroy)."),
    ObsRequest("ListObjects", "GET /{bucket}?prefix=", f"{OBS} > Operations on Buckets > Listing Objects in a Bucket",
               ("Bucket", "Prefix", "Marker"), "Clean-up: the image's staged objects."),
    ObsRequest("DeleteObject", "DELETE /{bucket}/{key}", f"{OBS} > Operations on Objects > Deleting an Object",
               ("Bucket", "Key"), "Once the image is `active` (or its registration failed), and at destroy; not "
                                  "with `ims:obsKeepStaged true`."),
    ObsRequest("GetObject", "GET /{bucket}/{key}", f"{OBS} > Operations on Objects > Downloading an Object",
               ("Bucket", "Key"), "Only for an `obs://` source whose declared `checksum` is not an MD5 (IMS reports "
                                  "only the MD5 of registered data): the object is read and hashed."),
)


def obs_problems(operation: str, params: Mapping[str, Any]) -> list[str]:
    """What in one object-store call the table does not list (empty when all of it is)."""
    request = next((r for r in OBS_REQUESTS if r.operation == operation), None)
    if request is None:
        return [f"{operation} is not an object-store request of the table"]
    return [f"{operation}: parameter {key!r} is not listed" for key in params if key not in request.params]


def find(method: str, path: str, requests: Sequence[Request] = IMS_REQUESTS) -> Request | None:
    """The documented request a sent one is, if any."""
    return next((r for r in requests if r.matches(method, path)), None)


def problems(method: str, url: str, body: Any, requests: Sequence[Request] = IMS_REQUESTS,
             extra_patch_paths: Iterable[str] = ()) -> list[str]:
    """What in one sent request the table does not list (empty when all of it is documented).

    ``url`` may carry a query; ``body`` is the JSON value sent (or ``None``).
    """
    parts = urlsplit(url)
    request = find(method, parts.path, requests)
    if request is None:
        return [f"{method} {parts.path} is not a documented request"]
    out = [f"{method} {request.path}: query parameter {key!r} is not documented"
           for key, _ in parse_qsl(parts.query, keep_blank_values=True) if key not in request.query]
    if isinstance(body, (bytes, str)) and body:
        body = json.loads(body)
    if method == "PATCH":
        allowed = set(request.body) | set(extra_patch_paths)
        for op in body or []:
            path = str(op.get("path", ""))
            custom = request.custom_attributes and _custom_attribute(path.lstrip("/"))
            if path not in allowed and not custom:
                out.append(f"PATCH {request.path}: path {path!r} is not documented")
    elif isinstance(body, Mapping):
        out += [f"{method} {request.path}: body field {key!r} is not documented"
                for key in body if key not in request.body]
    elif body:
        out.append(f"{method} {request.path}: a body is not documented")
    return out


def _custom_attribute(key: str) -> bool:
    return bool(key) and key not in RESERVED_NAMES and not key.startswith("__")


def readme_rows() -> list[tuple[str, str, str, str]]:
    """README rows: request, what it carries, Huawei document, why the provider sends it."""
    rows = []
    for r in IMS_REQUESTS:
        carries = []
        if r.body:
            carries.append(("paths " if r.method == "PATCH" else "body ") + ", ".join(f"`{k}`" for k in r.body)
                           + (" and custom attributes" if r.custom_attributes else ""))
        if r.query:
            carries.append("query " + ", ".join(f"`{k}`" for k in r.query))
        rows.append((f"`{r.method} {r.path}`", "; ".join(carries) or "nothing", r.doc, r.note))
    for o in OBS_REQUESTS:
        rows.append((f"OBS `{o.http}` (S3 `{o.operation}`)", "parameters " + ", ".join(f"`{p}`" for p in o.params),
                     o.doc, o.note))
    return rows
