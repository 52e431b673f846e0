"""Static documents: the Glance image schemas, the version list and the OS-version list.

The image schema is the stock Glance one (ims-api.md 2.9). It lacks ``zvhd``/``zvhd2``
and ``shared``, as IMS's does, so it is served for completeness and never used to
validate; :mod:`emulator.rules` holds the real rules.
"""

from __future__ import annotations

from typing import Any

from ims_pulumi.os_versions import OS_VERSIONS


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


def os_versions() -> list[dict[str, Any]]:
    """``GET /v1/cloudimages/os_version``: the OS table grouped by platform (``os_bit`` an integer)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in OS_VERSIONS:
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
