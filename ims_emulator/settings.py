"""Behaviour switches for the points the IMS documentation leaves open.

Every default is the strictest reading of Huawei's IMS documents: a request the documents
do not allow is refused, even where Glance (which IMS is built on) would accept it. The
``lenient_*`` switches and ``tag_api_allow_equals``/``allow_protected_patch`` turn on the
Glance-like behaviour instead. Each switch is a CLI flag and can be changed at run time
with ``PATCH /_emulator/config``; ``ims_emulator/README.md`` has the table of every rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The on/off switches; each is a ``--kebab-case`` flag of ``python -m ims_emulator``
#: (``public_images``, on by default, is turned off by ``--no-public-images``).
BOOLEAN_SETTINGS = (
    "lenient_create",
    "lenient_patch",
    "lenient_list",
    "unique_names",
    "allow_protected_patch",
    "tag_api_allow_equals",
    "delete_unknown_204",
    "public_images",
    "keep_image_data",
)


class SettingsError(ValueError):
    """A setting has a wrong type or an unsupported value."""


@dataclass
class Settings:
    """The switches; field names are the JSON keys of ``/_emulator/config``."""

    #: Create takes keys beyond the nine documented ones (custom attributes, ``__description``),
    #: ``min_disk`` 0 and duplicate tags, as Glance does.
    lenient_create: bool = False
    #: PATCH may add, change and remove ``__*`` keys (but the server-computed ones) and IMS's
    #: own attributes (``hw_firmware_type``...) as if they were custom attributes, as Glance does.
    lenient_patch: bool = False
    #: List takes every attribute as an exact-match filter, any value of the enumerated
    #: filters and ``sort_key=updated_at``, as Glance does.
    lenient_list: bool = False
    #: Reject a second image with the same non-empty name in a project (IMG.0009).
    unique_names: bool = False
    #: Let PATCH change ``/protected`` (IMS documents only name, description, custom keys).
    allow_protected_patch: bool = False
    #: Let the tag path API (PUT and DELETE) take ``key=value`` tags (IMS: only letters,
    #: digits, ``_``, ``-``).
    tag_api_allow_equals: bool = False
    #: Longest image name: 128 (attribute table, IMG.0002) or 255 (create request table).
    name_max_length: int = 128
    #: Private images per project before IMG.0015.
    quota: int = 100
    #: Members (projects an image is shared with) per image before IMG.0088; IMS documents
    #: 256 for system- and data-disk images (10 for full-ECS images, which are not emulated).
    member_limit: int = 256
    #: Status of a DELETE of a protected image: 403 (Glance) or 400 (IMS error table).
    protected_delete_status: int = 403
    #: Answer 204 instead of 404 to a DELETE of an unknown image (what real IMS may do).
    delete_unknown_204: bool = False
    #: Seconds an uploaded image stays ``saving`` before it turns ``active``.
    upload_delay: float = 0.2
    #: Every project sees the catalogue of public images (``ims_emulator/catalogue.py``) in
    #: list and show, as in a real region; off, it sees its own images only.
    public_images: bool = True
    #: Write uploaded image data to ``<data>/images/<id>`` instead of only hashing it (see
    #: ``emulator/imagedata.py``); off, an upload of any size costs no disk and constant memory.
    keep_image_data: bool = False
    #: Largest file ``PUT /v2/images/{id}/file`` takes, in bytes. Huawei's current "Uploading an
    #: Image (Native OpenStack API)" page: the file "must be smaller than 2 GB" (older and Open
    #: Telekom Cloud pages: 128 GB); the stricter reading of "2 GB" is 2 * 10^9 bytes, so at most
    #: 1,999,999,999. Larger files go through registration from OBS.
    upload_max_bytes: int = 1_999_999_999
    #: Largest object ``PUT /v1/cloudimages/{id}/upload`` registers, in bytes: IMS's IMG.0059
    #: "Check whether the size of the image file is less than or equal to 128 GB" (10^9 bytes each).
    register_max_bytes: int = 128_000_000_000

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` after validating all of them (all or nothing)."""
        candidate = dataclasses.replace(self)
        known = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise SettingsError(f"unknown setting {key!r}")
            setattr(candidate, key, value)
        candidate.validate()
        for key in changes:
            setattr(self, key, getattr(candidate, key))

    def validate(self) -> None:
        """Raise :class:`SettingsError` when a value is out of its documented choices."""
        for name in BOOLEAN_SETTINGS:
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be a boolean")
        if self.name_max_length not in (128, 255) or isinstance(self.name_max_length, bool):
            raise SettingsError("name_max_length must be 128 or 255")
        if self.protected_delete_status not in (400, 403) or isinstance(self.protected_delete_status, bool):
            raise SettingsError("protected_delete_status must be 400 or 403")
        for name in ("quota", "member_limit", "upload_max_bytes", "register_max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SettingsError(f"{name} must be a non-negative integer")
        if (
            not isinstance(self.upload_delay, int | float)
            or isinstance(self.upload_delay, bool)
            or self.upload_delay < 0
        ):
            raise SettingsError("upload_delay must be a non-negative number")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return dataclasses.asdict(self)
