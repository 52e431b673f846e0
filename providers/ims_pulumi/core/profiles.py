"""Server profiles: what one kind of server accepts. ``ims:server`` picks the profile.

Field kinds and change rules read a profile's attributes (``disk_formats``, ``tags_in_place``,
...) instead of branching on which server it is, so a new server kind is a new profile.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerProfile:
    """What one kind of server accepts and how it applies changes."""

    kind: str
    #: How messages and docs name the server.
    display: str
    disk_formats: tuple[str, ...]
    container_formats: tuple[str, ...]
    visibilities: tuple[str, ...]
    default_disk_format: str | None
    default_container_format: str | None
    default_visibility: str
    name_max: int
    name_pattern: re.Pattern[str] | None
    name_rule: str
    tags_key_value: bool
    max_tags: int
    tags_in_place: bool
    protected_in_place: bool
    min_disk_min: int
    min_disk_max: int
    #: The keys a create request may carry (``None``: any). On IMS only the nine fields that
    #: "Creating Image Metadata" documents: everything else is set by a PATCH right after.
    create_keys: frozenset[str] | None
    #: Digests the server reports for uploaded data, which the provider compares with what it sent.
    reported_hashes: tuple[str, ...]
    #: The largest image file the server takes (``None``: no documented limit).
    max_file_bytes: int | None
    #: Whether ``__os_version`` must be a value of the IMS OS version table.
    os_version_table: bool
    #: Whether the create request takes a client-chosen ``id`` (a UUID): Glance does, so a
    #: create whose outcome is unknown is sent again with the same id, and 409 means "it
    #: exists". IMS documents no ``id`` in the create body: the create token finds the image.
    client_ids: bool = False
    #: The largest file the native upload (``PUT /v2/images/{id}/file``) takes, exclusive (``None``: no
    #: documented limit beyond ``max_file_bytes``).
    native_max_bytes: int | None = None
    #: Whether the server registers an OBS object as an image's file (``PUT /v1/cloudimages/{id}/upload``):
    #: files the native upload cannot carry are staged in OBS and registered (:mod:`.transfer`).
    registers_from_obs: bool = False

    def with_overrides(self, *, protected_in_place: bool | None = None) -> ServerProfile:
        """The profile with settings from stack config applied."""
        if protected_in_place is None:
            return self
        return dataclasses.replace(self, protected_in_place=protected_in_place)


IMS = ServerProfile(
    kind="ims",
    display="IMS",
    disk_formats=("zvhd2", "vhd", "zvhd", "raw", "qcow2", "iso"),
    container_formats=("bare",),
    visibilities=("private",),
    default_disk_format="zvhd2",
    default_container_format="bare",
    default_visibility="private",
    # IMS documents both 1-255 (create request) and 1-128 (image attributes, IMG.0002): the
    # stricter reading wins, so a name that passes here passes on every IMS region.
    name_max=128,
    # Huawei's current rule for image names: letters (Chinese characters included), digits,
    # spaces, '-', '.', '_'. Chinese characters: the CJK unified ideographs block.
    name_pattern=re.compile(r"^[A-Za-z0-9\u4e00-\u9fff._\- ]+$"),
    name_rule="letters (Chinese characters included), digits, '-', '.', '_' and spaces, not starting or "
              "ending with a space",
    tags_key_value=True,
    max_tags=10,
    # The tag API only takes letters, digits, '_' and '-': a "key=value" tag cannot go through
    # it, and PATCH does not change tags. A tag change is therefore a replacement on IMS.
    tags_in_place=False,
    # IMS: "only custom attributes, the name and the description may be changed".
    protected_in_place=False,
    # "Creating Image Metadata": min_disk 1-1024 GB; no value means the server's default.
    min_disk_min=1,
    min_disk_max=1024,
    create_keys=frozenset({"__os_version", "visibility", "name", "protected", "container_format", "disk_format",
                           "tags", "min_ram", "min_disk"}),
    reported_hashes=("md5",),  # checksum
    # Any path: smaller than 128 GB (older "Uploading an Image" pages; registration: "at most 128 GB").
    max_file_bytes=128 * 1000**3,
    os_version_table=True,
    # IMS's current "Uploading an Image (Native OpenStack API)": the file "must be smaller than 2 GB";
    # larger files are registered from OBS (the stricter reading: 2 x 10^9 bytes).
    native_max_bytes=2 * 1000**3,
    registers_from_obs=True,
)

GLANCE = ServerProfile(
    kind="glance",
    display="Glance",
    disk_formats=("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"),
    container_formats=("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"),
    visibilities=("private", "shared", "community", "public"),
    default_disk_format=None,
    default_container_format=None,
    default_visibility="shared",
    name_max=255,
    name_pattern=None,
    name_rule="any characters",
    tags_key_value=False,
    max_tags=128,
    tags_in_place=True,
    protected_in_place=True,
    min_disk_min=0,
    min_disk_max=2**31 - 1,
    create_keys=None,  # Glance takes custom properties on create
    reported_hashes=("md5", "sha512"),  # checksum, os_hash_value
    max_file_bytes=None,
    os_version_table=False,
    client_ids=True,
)

PROFILES = {"ims": IMS, "glance": GLANCE}
