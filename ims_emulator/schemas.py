"""Static documents: the Glance image schemas, the version list and the OS-version list.

The image schema is the stock Glance one, as IMS serves it. It lacks ``zvhd``/``zvhd2``
and ``shared``, as IMS's does, so it is served for completeness and never used to
validate; :mod:`ims_emulator.rules` holds the real rules.

The OS-version list is the provider's table (:mod:`ims_pulumi.core.os_versions`) plus
:data:`EXTRA_OS_VERSIONS`: current Huawei public OS versions the provider's table does not
know, so that tests can see how the provider copes with a server that is newer than its
built-in table.
"""

from __future__ import annotations

import re
from typing import Any

from ims_pulumi.core.os_versions import OS_VERSIONS, OsVersion


def _typed(kind: str | list[str], description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **extra}


IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    "additionalProperties": {"type": "string"},
    "links": [
        {"href": "{self}", "rel": "self"},
        {"href": "{file}", "rel": "enclosure"},
        {"href": "{schema}", "rel": "describedby"},
    ],
    "properties": {
        "id": _typed(
            "string",
            "An identifier for the image",
            pattern="^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
        ),
        "name": _typed(["null", "string"], "Descriptive name for the image", maxLength=255),
        "status": _typed(
            "string",
            "Status of the image",
            readOnly=True,
            enum=["queued", "saving", "active", "killed", "deleted", "pending_delete"],
        ),
        "visibility": _typed("string", "Scope of image accessibility", enum=["public", "private"]),
        "protected": _typed("boolean", "If true, image will not be deletable."),
        "checksum": _typed(["null", "string"], "md5 hash of image contents.", readOnly=True, maxLength=32),
        "owner": _typed(["null", "string"], "Owner of the image", maxLength=255),
        "size": _typed(["null", "integer"], "Size of image file in bytes", readOnly=True),
        "virtual_size": _typed(["null", "integer"], "Virtual size of image in bytes", readOnly=True),
        "container_format": _typed(
            ["null", "string"], "Format of the container", enum=[None, "ami", "ari", "aki", "bare", "ovf", "ova"]
        ),
        "disk_format": _typed(
            ["null", "string"],
            "Format of the disk",
            enum=[None, "ami", "ari", "aki", "vhd", "vmdk", "raw", "qcow2", "vdi", "iso"],
        ),
        "created_at": _typed("string", "Date and time of image registration", readOnly=True),
        "updated_at": _typed("string", "Date and time of the last image modification", readOnly=True),
        "tags": {
            "type": "array",
            "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "direct_url": _typed("string", "URL to access the image file kept in external store", readOnly=True),
        "min_ram": _typed("integer", "Amount of ram (in MB) required to boot image."),
        "min_disk": _typed("integer", "Amount of disk space (in GB) required to boot image."),
        "self": _typed("string", "An image self url", readOnly=True),
        "file": _typed("string", "An image file url", readOnly=True),
        "schema": _typed("string", "An image schema url", readOnly=True),
        "locations": {
            "type": "array",
            "description": "A set of URLs to access the image file kept in external store",
            "items": {
                "type": "object",
                "properties": {"url": {"type": "string", "maxLength": 255}, "metadata": {"type": "object"}},
                "required": ["url", "metadata"],
            },
        },
    },
}

IMAGES_SCHEMA: dict[str, Any] = {
    "name": "images",
    "properties": {
        "images": {"type": "array", "items": IMAGE_SCHEMA},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
    "links": [
        {"href": "{first}", "rel": "first"},
        {"href": "{next}", "rel": "next"},
        {"href": "{schema}", "rel": "describedby"},
    ],
}

#: Glance's member schema (``GET /v2/schemas/member``), served as is; ``ims_emulator.rules``
#: holds the real member rules (IMS lets a member set only ``accepted`` or ``rejected``).
MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "properties": {
        "member_id": _typed("string", "An identifier for the image member (tenantId)"),
        "image_id": _typed(
            "string",
            "An identifier for the image",
            pattern="^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
        ),
        "created_at": _typed("string", "Date and time of image member creation"),
        "updated_at": _typed("string", "Date and time of last modification of image member"),
        "status": _typed("string", "The status of this image member", enum=["pending", "accepted", "rejected"]),
        "schema": {"readOnly": True, "type": "string"},
    },
}

MEMBERS_SCHEMA: dict[str, Any] = {
    "name": "members",
    "properties": {
        "members": {"type": "array", "items": MEMBER_SCHEMA},
        "schema": {"type": "string"},
    },
    "links": [{"href": "{schema}", "rel": "describedby"}],
}

#: ``(id, status, path)`` of ``GET /``; v2.2 is what IMS reports as current.
VERSIONS = [
    ("v2.2", "CURRENT", "/v2/"),
    ("v2.1", "SUPPORTED", "/v2/"),
    ("v2.0", "SUPPORTED", "/v2/"),
    ("v1.1", "DEPRECATED", "/v1/"),
    ("v1.0", "DEPRECATED", "/v1/"),
]


def versions(base_url: str) -> dict[str, Any]:
    """The ``GET /`` body with absolute links."""
    return {
        "versions": [
            {"id": vid, "status": status, "links": [{"href": base_url + path, "rel": "self"}]}
            for vid, status, path in VERSIONS
        ]
    }


#: OS versions of Huawei's current public images that the provider's table lacks
#: (spelled as Huawei names its public images; the exact strings are inferred, as no
#: request has reached a real region). Keep them out of the provider's table: their
#: point is to be unknown to it.
EXTRA_OS_VERSIONS: tuple[OsVersion, ...] = (
    OsVersion("Ubuntu 24.04 server 64bit", "Ubuntu", "Linux", "64"),
    OsVersion("Debian 12.0.0 64bit", "Debian", "Linux", "64"),
    OsVersion("Rocky Linux 9.0 64bit", "Rocky Linux", "Linux", "64"),
    OsVersion("AlmaLinux 9.0 64bit", "AlmaLinux", "Linux", "64"),
    OsVersion("openEuler 24.03 64bit", "openEuler", "Linux", "64"),
    OsVersion("Windows Server 2022 Datacenter 64bit", "Windows", "Windows", "64"),
)


def _os_key(version: str) -> str:
    """Match without regard to case or white space (Huawei's sources spell versions differently)."""
    return re.sub(r"\s+", "", version).lower()


def _os_table() -> tuple[OsVersion, ...]:
    """The provider's rows, then the extras it does not have (a row it gains later is not doubled)."""
    rows: dict[str, OsVersion] = {}
    for row in (*OS_VERSIONS, *EXTRA_OS_VERSIONS):
        rows.setdefault(_os_key(row.version), row)
    return tuple(rows.values())


#: Every OS version the emulator knows: what ``GET /v1/cloudimages/os_version`` lists, what
#: ``__os_version`` is validated against on create and what ``__os_type``/``__platform``/
#: ``__os_bit`` are derived from.
EMULATOR_OS_VERSIONS: tuple[OsVersion, ...] = _os_table()
_OS_BY_KEY = {_os_key(row.version): row for row in EMULATOR_OS_VERSIONS}


def lookup_os_version(version: str) -> OsVersion | None:
    """The row of ``version`` (case- and space-insensitive), or ``None`` when it is not in the list."""
    return _OS_BY_KEY.get(_os_key(version))


def os_versions() -> list[dict[str, Any]]:
    """``GET /v1/cloudimages/os_version``: the OS list grouped by platform (``os_bit`` an integer)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in EMULATOR_OS_VERSIONS:
        groups.setdefault(row.platform, []).append(
            {
                "platform": row.platform,
                "os_version_key": row.version,
                "os_version": row.version,
                "os_bit": int(row.os_bit),
                "os_type": row.os_type,
            }
        )
    return [{"platform": platform, "version_list": rows} for platform, rows in groups.items()]
