"""IMS validation rules: building a new image, PATCH, tags, list parameters and members (sharing).

Pure functions over plain dicts; they raise :class:`~ims_emulator.errors.ApiError` and never
touch the store. By default each rule is the strictest reading of Huawei's IMS documents;
the ``lenient_*`` settings accept what Glance (which IMS is built on) accepts. Where IMS
documents nothing and refusing makes no sense (e.g. the status of a read-only PATCH), the
rule follows Glance. ``ims_emulator/README.md`` lists every rule and its switch.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard

from ims_emulator import errors
from ims_emulator.errors import ApiError, bad_request, conflict, forbidden
from ims_emulator.imagedata import OS_HASH_ALGO
from ims_emulator.schemas import lookup_os_version
from ims_emulator.settings import Settings
from ims_pulumi.core.os_versions import DEFAULT_OS_VERSION

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: The nine request fields of ``POST /v2/images`` (IMS "Creating Image Metadata") and the
#: values the server applies when one is left out. ``min_disk``: the documented range is
#: 1..1024 GB, so 0 is only the emulator's stand-in for "the server's own default" (inferred).
CREATE_DEFAULTS: dict[str, Any] = {
    "name": "",
    "visibility": "private",
    "protected": False,
    "container_format": "bare",
    "disk_format": "zvhd2",
    "tags": [],
    "min_ram": 0,
    "min_disk": 0,
    "__os_version": DEFAULT_OS_VERSION,
}
CREATE_KEYS = frozenset(CREATE_DEFAULTS)

#: Attributes the server computes; ``__os_version`` is also frozen after create.
SERVER_PROPERTIES = frozenset(
    {
        "__os_version",
        "__os_type",
        "__platform",
        "__os_bit",
        "__imagetype",
        "__isregistered",
        "__image_size",
        "__image_source_type",
        "__root_origin",
    }
)

#: Attributes no PATCH may touch: IMS lets users change only the name, the description
#: and custom attributes; the rest (and Glance's read-only list) answer 403.
READ_ONLY = SERVER_PROPERTIES | {
    "id",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "active_at",
    "file",
    "self",
    "schema",
    "direct_url",
    "owner",
    "visibility",
    "container_format",
    "disk_format",
    "min_ram",
    "min_disk",
    "tags",
    "protected",
    "virtual_env_type",
    "os_hash_algo",
    "os_hash_value",
}

#: Image attributes IMS itself defines (image object of "Querying Image Details") that are
#: neither server-computed nor user-updatable; with every other ``__*`` key but
#: ``__description`` they are refused by PATCH unless ``lenient_patch`` is on.
IMS_ATTRIBUTES = frozenset(
    {"hw_firmware_type", "max_ram", "enterprise_project_id", "_sys_enterprise_project_id", "hw_vif_multiqueue_enabled"}
)

#: Glance's reserved attributes (403 on create and PATCH).
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})

#: Base attributes that exist on every image, so ``remove`` is refused (Glance).
BASE = frozenset({"name", "protected"})

DESCRIPTION = "__description"
DISK_FORMATS = frozenset({"zvhd2", "vhd", "zvhd", "raw", "qcow2", "iso"})
MAX_TAGS = 10
MAX_TAG_LENGTH = 255
MAX_DESCRIPTION = 1024
MIN_DISK_GB = 1
MAX_DISK_GB = 1024

#: Image names: letters (ASCII and the CJK unified ideographs, i.e. Chinese characters),
#: digits, ``.``, ``_``, ``-`` and spaces; no leading or trailing space is checked apart.
NAME_RE = re.compile(r"[A-Za-z0-9\u4e00-\u9fff._\- ]+")
PATH_TAG_RE = re.compile(r"[A-Za-z0-9_\-]+")

JSON_PATCH_V21 = "application/openstack-images-v2.1-json-patch"
JSON_PATCH_V20 = "application/openstack-images-v2.0-json-patch"
PATCH_TYPES = (JSON_PATCH_V21, JSON_PATCH_V20)

#: The documented sort keys; ``lenient_list`` adds Glance's ``updated_at``.
SORT_KEYS = ("name", "container_format", "disk_format", "status", "id", "size", "created_at")
LENIENT_SORT_KEYS = (*SORT_KEYS, "updated_at")
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
TIME_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "!="}
FILTER_KEY_RE = re.compile(r"[A-Za-z0-9_.:\-]+")
#: Filters whose stored JSON value is not a string, with the parser of the query value.
TYPED_FILTERS = {"min_ram": int, "min_disk": int, "size": int, "virtual_size": int, "protected": bool}
#: The documented exact-match filters of ``GET /v2/images`` (besides ``tag``, ``created_at``,
#: ``updated_at`` and paging); ``lenient_list`` takes any attribute, as Glance does.
DOCUMENTED_FILTERS = frozenset(
    {
        "__isregistered",
        "__imagetype",
        "protected",
        "visibility",
        "owner",
        "id",
        "name",
        "status",
        "container_format",
        "disk_format",
        "min_ram",
        "min_disk",
        "__os_bit",
        "__os_type",
        "__platform",
        "member_status",
        "__support_kvm",
        "__support_xen",
        "__support_largememory",
        "__support_diskintensive",
        "__support_highperformance",
        "__support_xen_hana",
        "__support_kvm_infiniband",
        "__support_xen_gpu_type",
        "__support_kvm_gpu_type",
    }
)
#: Filters whose values the documents enumerate; other values are refused unless ``lenient_list``.
FILTER_VALUES: dict[str, tuple[str, ...]] = {
    "visibility": ("public", "private", "shared"),
    "status": ("queued", "saving", "deleted", "killed", "active"),
    "__imagetype": ("gold", "private", "shared", "market"),
    "member_status": ("accepted", "rejected", "pending"),
}


def now() -> str:
    """The current UTC time in the IMS wire format (no fractions)."""
    return datetime.now(UTC).strftime(TIME_FORMAT)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_only(key: str) -> ApiError:
    return forbidden(f"Attribute '{key}' is read-only.")


def check_name(value: object, settings: Settings) -> str:
    """IMS image-name rules: 1..128 (or 255) of letters (Chinese ones too), digits, ``-``, ``.``, ``_``, space."""
    if not isinstance(value, str):
        raise bad_request(message="Attribute 'name' must be a string.")
    if len(value) > settings.name_max_length:
        raise bad_request(
            errors.NAME_TOO_LONG, f"The image name contains more than {settings.name_max_length} characters."
        )
    if not NAME_RE.fullmatch(value) or value != value.strip():
        raise bad_request(errors.NAME_FORMAT)
    return value


def check_description(value: object) -> str:
    """``__description``: at most 1024 characters, no carriage return, ``<`` or ``>``."""
    if not isinstance(value, str):
        raise bad_request(message="Attribute '__description' must be a string.")
    if len(value) > MAX_DESCRIPTION:
        raise bad_request(errors.DESCRIPTION_TOO_LONG)
    if any(c in value for c in "\r<>"):
        raise bad_request(errors.DESCRIPTION_FORMAT)
    return value


def check_custom(key: str, value: object) -> str:
    """Custom attributes are strings, as in the image schema's ``additionalProperties``."""
    if not key:
        raise bad_request(message="Attribute names must not be empty.")
    if not isinstance(value, str):
        raise bad_request(message=f"Attribute '{key}' must be a string.")
    return value


def _check_body_tag(tag: object) -> str:
    """A create-body tag: 1..255 characters of the form ``key=value`` with a non-empty key."""
    if isinstance(tag, str) and len(tag) <= MAX_TAG_LENGTH:
        key, equals, _ = tag.partition("=")
        if key and equals:
            return tag
    raise bad_request(errors.TAG_INVALID, f"The image tag is invalid: {tag!r} (expected 'key=value').")


def _check_tags(value: object, settings: Settings) -> list[str]:
    if not isinstance(value, list):
        raise bad_request(message="Attribute 'tags' must be a list of strings.")
    checked = [_check_body_tag(t) for t in value]
    tags = list(dict.fromkeys(checked))  # Glance keeps tags as a set
    if len(tags) != len(checked) and not settings.lenient_create:
        twice = next(t for t in tags if checked.count(t) > 1)
        raise bad_request(errors.TAG_INVALID, f"The image tag is invalid: {twice!r} is given more than once.")
    if len(tags) > MAX_TAGS:
        raise bad_request(errors.TAG_QUOTA)
    return tags


def _check_int(key: str, value: object, low: int, high: int | None, unit: str) -> int:
    if not _is_int(value) or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise bad_request(
            errors.RAM_DISK_INVALID,
            f"The memory or disk size is invalid: '{key}' must be an integer {allowed} ({unit}).",
        )
    return value


def _check_keys(body: dict[str, Any], settings: Settings) -> None:
    """Strict: only the nine documented keys. Lenient: Glance's read-only/reserved keys are 403."""
    if not settings.lenient_create:
        unknown = sorted(key for key in body if key not in CREATE_KEYS)
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            what = f"parameter {names} is" if len(unknown) == 1 else f"parameters {names} are"
            raise bad_request(
                errors.UNKNOWN_PARAMETER,
                f"The request message format is invalid: {what} not supported; "
                f"POST /v2/images takes only {', '.join(sorted(CREATE_KEYS))}.",
            )
        return
    for key in body:
        if key in RESERVED or (key in READ_ONLY and key not in CREATE_KEYS):
            raise _read_only(key)


def new_image(body: object, image_id: str, project: str, settings: Settings) -> dict[str, Any]:
    """Validate a create body and build the full stored image object.

    Strict (default): only the nine documented keys, ``min_disk`` 1..1024 GB when given (left
    out, the server's default applies: 0 here), no tag twice. ``lenient_create``: other keys
    are custom string attributes (``__description`` the description), ``min_disk`` may be 0
    and duplicate tags merge, as in Glance.
    """
    if not isinstance(body, dict):
        raise bad_request(message="The request body must be a JSON object.")
    _check_keys(body, settings)
    fields = {**CREATE_DEFAULTS, **body}

    os_version = fields["__os_version"]
    if not isinstance(os_version, str):
        raise bad_request(message="Attribute '__os_version' must be a string.")
    row = lookup_os_version(os_version)
    if row is None:
        raise bad_request(errors.OS_VERSION_INVALID)
    if fields["visibility"] != "private":
        raise bad_request(message="Only private images can be created: 'visibility' must be 'private'.")
    name = fields["name"] if "name" not in body else check_name(body["name"], settings)
    if not isinstance(fields["protected"], bool):
        raise bad_request(message="Attribute 'protected' must be a boolean.")
    if fields["container_format"] != "bare":
        raise bad_request(
            errors.FORMAT_UNSUPPORTED, "The specified image format is not supported: container_format must be 'bare'."
        )
    if fields["disk_format"] not in DISK_FORMATS:
        raise bad_request(errors.FORMAT_UNSUPPORTED)
    tags = _check_tags(fields["tags"], settings)
    min_ram = _check_int("min_ram", fields["min_ram"], 0, None, "MB")
    min_disk = fields["min_disk"]
    if "min_disk" in body:
        low = 0 if settings.lenient_create else MIN_DISK_GB
        min_disk = _check_int("min_disk", body["min_disk"], low, MAX_DISK_GB, "GB")

    custom: dict[str, str] = {}
    for key, value in body.items():
        if key == DESCRIPTION:
            custom[key] = check_description(value)
        elif key not in CREATE_KEYS:
            custom[key] = check_custom(key, value)

    stamp = now()
    return {
        "id": image_id,
        "name": name,
        "status": "queued",
        "visibility": "private",
        "protected": fields["protected"],
        "container_format": "bare",
        "disk_format": fields["disk_format"],
        "min_ram": min_ram,
        "min_disk": min_disk,
        "tags": tags,
        "owner": project,
        "created_at": stamp,
        "updated_at": stamp,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
        "checksum": None,
        "size": None,
        "virtual_size": None,
        "virtual_env_type": "FusionCompute",
        "__os_version": row.version,
        "__os_type": row.os_type,
        "__platform": row.platform,
        "__os_bit": row.os_bit,
        "__imagetype": "private",
        "__isregistered": "true",
        "__image_size": "0",
        "__image_source_type": "uds",
        "__root_origin": "file",
        **custom,
    }


_MISSING = object()


@dataclass(frozen=True)
class PatchOp:
    """One normalised PATCH operation on a top-level attribute."""

    op: Literal["add", "replace", "remove"]
    key: str
    value: Any = _MISSING


def _pointer_key(path: object) -> str:
    """The attribute named by a JSON pointer; only top-level attributes can be patched.

    RFC 6901: the pointer is split at ``/`` first, then ``~1`` is read as ``/`` and ``~0`` as
    ``~``; any other ``~`` (``~2``, a trailing ``~``) is refused, as Glance refuses it.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise bad_request(message=f"Invalid JSON pointer: {path!r}.")
    if re.search(r"~(?![01])", path):
        raise bad_request(message=f"Invalid JSON pointer: {path!r} contains '~' not part of a recognized "
                                  "escape sequence (~0 for '~', ~1 for '/').")
    first, *rest = path[1:].split("/")
    key = first.replace("~1", "/").replace("~0", "~")
    if key != key.strip():
        # Glance strips each token, so the attribute changed would be another one: the strictest
        # reading refuses what the servers do not agree on
        raise bad_request(message=f"Invalid JSON pointer: {path!r} has spaces around its token (Glance strips "
                                  "them and changes another attribute).")
    if key in RESERVED or key in READ_ONLY:
        return key  # refused with 403 when applied, whatever the rest of the pointer is
    if rest or not key:
        raise bad_request(message=f"Invalid JSON pointer: {path!r}; only top-level attributes can be changed.")
    return key


def parse_patch(content_type: str, body: object) -> list[PatchOp]:
    """Normalise both JSON-patch dialects (v2.1 ``op``/``path``, v2.0 ``replace: path``)."""
    if not isinstance(body, list):
        raise bad_request(message="The PATCH body must be a JSON list of operations.")
    ops: list[PatchOp] = []
    for item in body:
        if not isinstance(item, dict):
            raise bad_request(message="Each PATCH operation must be a JSON object.")
        if content_type == JSON_PATCH_V21:
            op, path = item.get("op"), item.get("path")
        else:
            names = [k for k in ("add", "replace", "remove") if k in item]
            if len(names) != 1:
                raise bad_request(message="Each operation needs exactly one of 'add', 'replace', 'remove'.")
            op, path = names[0], item[names[0]]
        if op not in ("add", "replace", "remove"):
            raise bad_request(message=f"Unsupported PATCH operation: {op!r}.")
        if op != "remove" and "value" not in item:
            raise bad_request(message=f"Operation {op!r} needs a 'value'.")
        ops.append(PatchOp(op, _pointer_key(path), item.get("value", _MISSING) if op != "remove" else _MISSING))
    return ops


def apply_patch(image: dict[str, Any], content_type: str, ops: Iterable[PatchOp], settings: Settings) -> dict[str, Any]:
    """Return a patched copy of ``image``; any failing operation fails the whole PATCH.

    In the v2.1 dialect ``add`` of an existing attribute replaces it (IMS doc); in v2.0 it
    is a 409 (Glance). ``replace``/``remove`` of a missing attribute is a 409.
    """
    result = copy.deepcopy(image)
    for op in ops:
        key = op.key
        if key in RESERVED or (key in READ_ONLY and not (key == "protected" and settings.allow_protected_patch)):
            raise _read_only(key)
        if is_ims_attribute(key) and not settings.lenient_patch:
            raise forbidden(
                f"Attribute '{key}' is read-only: IMS lets a PATCH change only the name, "
                "'__description' and custom attributes."
            )
        present = key in result
        if op.op == "remove":
            if key in BASE:
                raise forbidden(f"Property '{key}' may not be removed.")
            if not present:
                raise conflict(f"Property '{key}' does not exist.")
            del result[key]
            continue
        if op.op == "replace" and not present:
            raise conflict(f"Property '{key}' does not exist.")
        if op.op == "add" and present and content_type == JSON_PATCH_V20:
            raise conflict(f"Property '{key}' already present.")
        result[key] = _check_value(key, op.value, settings)
    return result


def is_ims_attribute(key: str) -> bool:
    """Whether ``key`` names an attribute of IMS itself rather than a custom one (``__*`` but ``__description``)."""
    return (key.startswith("__") and key != DESCRIPTION) or key in IMS_ATTRIBUTES


def _check_value(key: str, value: object, settings: Settings) -> Any:
    if key == "name":
        return check_name(value, settings)
    if key == DESCRIPTION:
        return check_description(value)
    if key == "protected":
        if not isinstance(value, bool):
            raise bad_request(message="Attribute 'protected' must be a boolean.")
        return value
    return check_custom(key, value)


def check_path_tag(tag: str, settings: Settings) -> str:
    """A tag of ``PUT``/``DELETE /v2/images/{id}/tags/{tag}``: letters, digits, ``_``, ``-`` only.

    With ``tag_api_allow_equals`` a ``key=value`` tag as in the create body is accepted too.
    """
    if len(tag) <= MAX_TAG_LENGTH and PATH_TAG_RE.fullmatch(tag):
        return tag
    if settings.tag_api_allow_equals:
        return _check_body_tag(tag)
    raise bad_request(errors.TAG_INVALID, "The image tag is invalid: only letters, digits, '_' and '-' are allowed.")


@dataclass
class ListQuery:
    """A validated ``GET /v2/images`` query."""

    equals: list[tuple[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    times: list[tuple[str, str, str]] = field(default_factory=list)  # (column, SQL operator, time)
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    #: The caller's parameters except ``marker``/``limit``, repeated in ``first``/``next``.
    link_params: list[tuple[str, str]] = field(default_factory=list)
    #: ``member_status`` filter: ``None`` lists own, public and *accepted* shared images
    #: (Glance's default); a tuple lists only images shared with the caller whose
    #: membership has one of these statuses (empty: none).
    member_status: tuple[str, ...] | None = None


def _parse_time_filter(key: str, value: str) -> tuple[str, str, str]:
    op, sep, when = value.partition(":")
    if not sep or op not in TIME_OPS:
        raise bad_request(message=f"Invalid {key} filter {value!r}: expected op:time with op in {sorted(TIME_OPS)}.")
    for fmt in (TIME_FORMAT, "%Y-%m-%d %H:%M:%S"):
        try:
            return key, TIME_OPS[op], datetime.strptime(when, fmt).strftime(TIME_FORMAT)
        except ValueError:
            continue
    raise bad_request(message=f"Invalid time in {key} filter: {when!r}.")


def _parse_typed(key: str, value: str) -> Any:
    if TYPED_FILTERS[key] is bool:
        if value.lower() not in ("true", "false"):
            raise bad_request(message=f"Invalid {key} filter {value!r}: expected true or false.")
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        raise bad_request(message=f"Invalid {key} filter {value!r}: expected an integer.") from None


def _unsupported_parameter(key: str) -> ApiError:
    return bad_request(
        errors.UNKNOWN_PARAMETER,
        f"The request message format is invalid: query parameter {key!r} is not supported by GET /v2/images.",
    )


def parse_list_query(pairs: Iterable[tuple[str, str]], settings: Settings) -> ListQuery:
    """Validate list parameters like Glance (400 on a bad limit, sort key or direction).

    Every parameter that is not a paging/sorting one is an exact-match filter on the
    attribute of that name; ``tag`` may repeat. Strict (default): only the documented
    filters, sort keys and enumerated values. ``lenient_list``: any attribute (custom ones
    too) and any value, and ``sort_key=updated_at``, as Glance does.
    """
    lenient = settings.lenient_list
    sort_keys = LENIENT_SORT_KEYS if lenient else SORT_KEYS
    query = ListQuery()
    seen_sort: set[str] = set()
    for key, value in pairs:
        if key in ("sort_key", "sort_dir"):
            if key in seen_sort:
                raise bad_request(message=f"Only one {key} is supported.")
            seen_sort.add(key)
        if key == "limit":
            if not value.isdigit() or int(value) < 1:
                raise bad_request(message="limit param must be a positive integer.")
            query.limit = min(int(value), MAX_LIMIT)
            continue
        if key == "marker":
            query.marker = value
            continue
        query.link_params.append((key, value))
        if key == "sort_key":
            if value not in sort_keys:
                raise bad_request(message=f"Invalid sort key: {value}. It should be one of {', '.join(sort_keys)}.")
            query.sort_key = value
        elif key == "sort_dir":
            if value not in ("asc", "desc"):
                raise bad_request(message=f"Invalid sort direction: {value}.")
            query.sort_dir = value
        elif key == "tag":
            query.tags.append(value)
        elif key in ("created_at", "updated_at"):
            query.times.append(_parse_time_filter(key, value))
        elif not FILTER_KEY_RE.fullmatch(key):
            raise bad_request(message=f"Invalid filter: {key!r}.")
        elif not lenient and key not in DOCUMENTED_FILTERS:
            raise _unsupported_parameter(key)
        elif not lenient and key in FILTER_VALUES and value not in FILTER_VALUES[key]:
            raise bad_request(
                message=f"Invalid {key} filter {value!r}: expected one of {', '.join(FILTER_VALUES[key])}."
            )
        elif key in TYPED_FILTERS:
            query.equals.append((key, _parse_typed(key, value)))
        else:
            query.equals.append((key, value))
    statuses = {value for key, value in query.equals if key == "member_status"}
    if statuses and not lenient and ("visibility", "shared") not in query.equals:
        raise bad_request(message="The member_status filter needs visibility=shared.")
    if statuses:
        query.equals = [(key, value) for key, value in query.equals if key != "member_status"]
        if lenient and statuses == {ANY_MEMBER_STATUS}:
            query.member_status = MEMBER_STATUSES  # Glance's member_status=all
        else:
            # Every filter must match: two different statuses match nothing.
            query.member_status = tuple(statuses) if len(statuses) == 1 else ()
    return query


def start_upload(image: dict[str, Any]) -> dict[str, Any]:
    """``queued`` -> ``saving``; any other status is a 409 (Glance: data only once)."""
    if image["status"] != "queued":
        raise conflict(f"Image data can only be uploaded to a queued image; this image is {image['status']}.")
    return {**image, "status": "saving", "updated_at": now()}


def finish_upload(image: dict[str, Any], size: int, checksum: str, os_hash_value: str) -> dict[str, Any]:
    """Record the uploaded data; the image stays ``saving`` until :func:`activate`.

    ``checksum`` is the MD5 (IMS), ``os_hash_value`` the SHA-512 (Glance's
    ``os_hash_algo``/``os_hash_value``). ``virtual_size`` stays ``null``: the emulator does
    not inspect the disk format, and the virtual size of a qcow2/zvhd2 file is not its size.
    """
    return {
        **image,
        "size": size,
        "virtual_size": None,
        "checksum": checksum,
        "os_hash_algo": OS_HASH_ALGO,
        "os_hash_value": os_hash_value,
        "__image_size": str(size),
        "updated_at": now(),
    }


def activate(image: dict[str, Any]) -> dict[str, Any]:
    """``saving`` -> ``active`` once the (pretended) conversion is done."""
    stamp = now()
    return {**image, "status": "active", "active_at": stamp, "updated_at": stamp}


def kill_upload(image: dict[str, Any]) -> dict[str, Any]:
    """``saving`` -> ``killed``: the data arrived but the import failed (``kill_upload`` fault)."""
    return {**image, "status": "killed", "updated_at": now()}


def abort_upload(image: dict[str, Any]) -> dict[str, Any]:
    """Back to ``queued`` after a failed upload, as Glance does, so it can be retried."""
    return {**image, "status": "queued", "updated_at": now()}


# --- members (sharing) -----------------------------------------------------------------------

#: The statuses of a membership; a new one is ``pending``.
MEMBER_STATUSES = ("pending", "accepted", "rejected")
#: What the member project may set (IMS documents ``accepted`` and ``rejected`` only).
SETTABLE_MEMBER_STATUSES = ("accepted", "rejected")
#: A project id as IAM issues them: 32 lower-case hex characters.
PROJECT_ID_RE = re.compile(r"[0-9a-f]{32}")
#: Paging of ``GET /v2/images/{id}/members`` (IMS: ``limit`` 1..1000, default 500).
MEMBER_DEFAULT_LIMIT = 500
MEMBER_MAX_LIMIT = 1000
#: The list-member-status value Glance takes for "any status" (``lenient_list`` only).
ANY_MEMBER_STATUS = "all"


def _body_keys(body: object, allowed: tuple[str, ...], required: str, what: str) -> dict[str, Any]:
    """A JSON object with ``required`` and no key outside ``allowed`` (400 IMG.0001 otherwise)."""
    if not isinstance(body, dict):
        raise bad_request(message=f"The request body of {what} must be a JSON object.")
    unknown = sorted(key for key in body if key not in allowed)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise bad_request(
            errors.UNKNOWN_PARAMETER,
            f"The request message format is invalid: {names} not supported; {what} takes only {', '.join(allowed)}.",
        )
    if required not in body:
        raise bad_request(message=f"The request message format is invalid: {what} needs {required!r}.")
    return body


def new_member_id(body: object) -> str:
    """The project of ``POST /v2/images/{id}/members`` ``{"member": "<project id>"}``."""
    member = _body_keys(body, ("member",), "member", "POST /v2/images/{id}/members")["member"]
    if not isinstance(member, str) or not PROJECT_ID_RE.fullmatch(member):
        raise bad_request(
            message=f"The request message format is invalid: 'member' must be a project id "
            f"(32 lower-case hex characters), got {member!r}."
        )
    return member


def member_status_update(body: object) -> str:
    """The status of ``PUT /v2/images/{id}/members/{member}``; ``vault_id`` is checked and ignored."""
    fields = _body_keys(body, ("status", "vault_id"), "status", "PUT /v2/images/{id}/members/{member_id}")
    status = fields["status"]
    if status not in SETTABLE_MEMBER_STATUSES:
        raise bad_request(
            message=f"The request message format is invalid: 'status' must be one of "
            f"{', '.join(SETTABLE_MEMBER_STATUSES)}, got {status!r}."
        )
    if "vault_id" in fields and not isinstance(fields["vault_id"], str):
        raise bad_request(message="The request message format is invalid: 'vault_id' must be a string.")
    return str(status)


def new_member(image_id: str, member_id: str) -> dict[str, Any]:
    """A new membership, as ``POST`` answers it: ``pending``."""
    stamp = now()
    return {
        "status": "pending",
        "created_at": stamp,
        "updated_at": stamp,
        "image_id": image_id,
        "member_id": member_id,
        "schema": "/v2/schemas/member",
    }


def member_view(image: dict[str, Any], member_status: str) -> dict[str, Any]:
    """The image as a member project sees it: ``shared``, with its own ``member_status``.

    The stored document (what the owner sees) is never changed by sharing.
    """
    return {**image, "visibility": "shared", "__imagetype": "shared", "member_status": member_status}


@dataclass(frozen=True)
class MemberQuery:
    """A validated ``GET /v2/images/{id}/members`` query."""

    limit: int = MEMBER_DEFAULT_LIMIT
    #: The member id after which the page starts (decoded from the base64 ``marker``).
    after: str | None = None


def encode_member_marker(member_id: str) -> str:
    """``page_info.next_marker``: the last member id of the page, base64 (URL-safe, unpadded)."""
    return base64.urlsafe_b64encode(member_id.encode()).decode().rstrip("=")


def parse_member_query(pairs: Iterable[tuple[str, str]]) -> MemberQuery:
    """``limit`` 1..1000 (default 500) and a base64 ``marker``; any other parameter is 400 IMG.0001."""
    limit, after = MEMBER_DEFAULT_LIMIT, None
    for key, value in pairs:
        if key == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MEMBER_MAX_LIMIT:
                raise bad_request(message=f"limit must be an integer from 1 to {MEMBER_MAX_LIMIT}, got {value!r}.")
            limit = int(value)
        elif key == "marker":
            try:
                after = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            except ValueError:
                raise bad_request(message=f"marker {value!r} is not a marker of this member list.") from None
        else:
            raise bad_request(
                errors.UNKNOWN_PARAMETER,
                f"The request message format is invalid: query parameter {key!r} is not supported by "
                "GET /v2/images/{id}/members (only limit and marker).",
            )
    return MemberQuery(limit, after)
