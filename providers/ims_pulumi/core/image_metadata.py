"""The table of ``ImageMetadata``: one row per field, its kind, wire key, default, change rule
and docs. Everything the provider does with a field follows from its row (see :mod:`.framework`).

To add a plain input: add a row here and the attribute to ``ImageMetadataArgs`` (and the
``if TYPE_CHECKING`` output annotation) in :mod:`.resource`; the README's contributor section
has a worked example.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import content, formats, os_versions, transfer
from .client import CREATE_TOKEN_TAG
from .framework import REPLACE, UPDATE, Apply, ByProfile, ByState, Failure, Field, Role, Table, contains_unknown
from .kinds import (
    Bookkeeping,
    Boolean,
    Checksum,
    Choice,
    Computed,
    ContentSource,
    CreationRef,
    FlatMap,
    Integer,
    OsVersion,
    SecretUrl,
    Services,
    StringSet,
    Text,
    TokenTag,
    unshown_character,
)
from .profiles import PROFILES, ServerProfile

#: Release 0.1 kept the token in this custom attribute; images it created still carry it.
CREATE_TOKEN_PROPERTY = "pulumi_create_token"

MIN_RAM_MAX = 2**31 - 1  # MB; IMS documents no bound: only what a JSON integer of the API can hold
DESCRIPTION_MAX = 1024
PROPERTY_VALUE_MAX = 1024
RESERVED_PROPERTY_PREFIXES = ("__", "os_glance_")
#: Control characters that text meant to be read (descriptions, property values) may hold:
#: tab and line feed. Keys, names and tags take none (see ``kinds.unshown_character``).
PROSE_CHARACTERS = "\t\n"
#: Image attributes of IMS and Glance that are not fields of this table. ``self``, ``file`` and
#: ``schema`` were outputs until release 0.2: they are ``/v2/images/{id}``, ``/v2/images/{id}/file``
#: and ``/v2/schemas/image`` for every image (README "Changelog").
OTHER_IMAGE_ATTRIBUTES = frozenset({
    "id", "locations", "location", "direct_url", "deleted", "deleted_at", "stores", "os_hash_algo",
    "os_hash_value", "os_hidden", "members", "self", "file", "schema",
})


# --- rules of single fields: None when fine, else what is allowed ---------------------------


def _v_name(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str):
        return f"must be a string of 1-{p.name_max} characters"
    if not 1 <= len(value) <= p.name_max:
        return f"must be 1-{p.name_max} characters long (it has {len(value)})"
    if problem := unshown_character(value):
        return problem
    if p.name_pattern is not None:
        if value != value.strip():
            return f"must not start or end with a space; allowed: {p.name_rule}"
        if not p.name_pattern.match(value):
            bad = sorted({c for c in value if not p.name_pattern.match(c)})
            return f"contains {''.join(bad)!r}; allowed: {p.name_rule}"
    return None


def _v_description(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > DESCRIPTION_MAX:
        return f"must be at most {DESCRIPTION_MAX} characters (it has {len(value)})"
    if any(c in value for c in "\r<>"):
        return "must not contain a carriage return, '<' or '>'"
    return unshown_character(value, allow=PROSE_CHARACTERS)


def _v_tags(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, (list, tuple)):
        return 'must be a list of strings like "key=value"'
    limit = p.max_tags - 1  # one tag carries the create token
    if len(set(value)) > limit:
        return (f"has {len(set(value))} tags; at most {limit} are allowed ({p.kind} allows {p.max_tags} per image "
                f"and one carries the resource's create token)")
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 255:
            return f"tag {tag!r} must be a string of 1-255 characters"
        if problem := unshown_character(tag):
            return f"tag {tag!r} {problem}"
        key, sep, _ = tag.partition("=")
        if key.strip() == CREATE_TOKEN_TAG:
            return f"tag {tag!r} uses the key {CREATE_TOKEN_TAG!r}, which the provider reserves for its create token"
        if p.tags_key_value:
            if not sep or not key.strip():
                return f'tag {tag!r} must have the form "key=value" with a non-empty key'
            if key != key.strip():
                return f'tag {tag!r} has spaces around its key; write "{key.strip()}=..."'
    return None


def _v_adopt_id(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z-]{1,64}", value):
        return "must be the id of an existing image (letters, digits and '-')"
    return None


def _properties_rule(reserved: frozenset[str], inputs_by_wire: Mapping[str, str]) -> Callable[[Any, ServerProfile],
                                                                                           str | None]:
    def check(value: Any, p: ServerProfile) -> str | None:
        if not isinstance(value, Mapping):
            return "must be a map of string keys to string values"
        for key, val in value.items():
            if not isinstance(key, str) or not 1 <= len(key) <= 255:
                return f"key {key!r} must be a string of 1-255 characters"
            if problem := unshown_character(key):
                return f"key {key!r} {problem}"
            if key != key.strip():
                return (f"key {key!r} starts or ends with a space, which Glance strips from a PATCH path "
                        f"(it would store {key.strip()!r}); write {key.strip()!r}")
            if key in inputs_by_wire:
                return f"key {key!r} is the image attribute of the input {inputs_by_wire[key]!r}: set that input instead"
            if key in reserved or key.startswith(RESERVED_PROPERTY_PREFIXES):
                return (f"key {key!r} is reserved: an image attribute the server sets, or a '__'/'os_glance_' "
                        f"prefix, or the provider's {CREATE_TOKEN_PROPERTY!r}; choose another key")
            if not isinstance(val, str):
                return f"value of {key!r} must be a string (got {type(val).__name__}); quote numbers and booleans"
            if len(val) > PROPERTY_VALUE_MAX:
                return f"value of {key!r} must be at most {PROPERTY_VALUE_MAX} characters"
            if problem := unshown_character(val, allow=PROSE_CHARACTERS):
                return f"value of {key!r} {problem}"
        return None

    return check


def _const(value: Any) -> Callable[[ServerProfile], Any]:
    return lambda p: value


# --- the table ------------------------------------------------------------------------------

SOURCE_RULE = ByState(Apply.UPLOAD, field="status", when=("queued", "saving", "importing"), settled_when="active")
PROTECTED_RULE = ByProfile(Apply.PATCH, flag="protected_in_place", setting="ims:protectedInPlace")
TAGS_RULE = ByProfile(Apply.TAGS, flag="tags_in_place")

_FIELDS: tuple[Field, ...] = (
    # inputs: the nine fields of POST /v2/images, then description and custom properties
    Field("name", Text(_v_name), "Image name. IMS: 1-128 letters (Chinese characters included), digits, `-`, `.`, "
          "`_` and spaces, no leading or trailing space (the create table says 1-255, the image-attribute rules "
          "1-128: the stricter current rule wins); Glance: 1-255 of any characters.", "name", change=UPDATE, required=True),
    Field("os_version", OsVersion(), "OS version, e.g. `Ubuntu 22.04 server 64bit`: a value of the built-in "
          "table or of the region's `GET /v1/cloudimages/os_version` list (case and spaces do not matter); IMS "
          "derives `os_type`, `platform` and `os_bit` from it.", "__os_version", change=REPLACE,
          default=_const(os_versions.DEFAULT_OS_VERSION)),
    Field("disk_format", Choice("disk_formats"), "Disk format. IMS: zvhd2, vhd, zvhd, raw, qcow2, iso (the union of the "
          "create document's editions; `zvhd` is in older ones).",
          "disk_format", change=REPLACE, default=lambda p: p.default_disk_format),
    Field("container_format", Choice("container_formats"), "Container format. IMS: `bare`, the only value the create document "
          "names (the image schema's list is Glance's stock one).", "container_format",
          change=REPLACE, default=lambda p: p.default_container_format),
    Field("min_disk", Integer("GB", "min_disk_min", "min_disk_max", note=", or left out (the server's default)"),
          "Minimum system disk size in GB (IMS: 1-1024; Glance: 0 or more). Not set: the server's default, "
          "not sent.", "min_disk", change=REPLACE),
    Field("min_ram", Integer("MB", 0, MIN_RAM_MAX), "Minimum memory in MB (0 = none). IMS documents no upper bound: any "
          "32-bit value.", "min_ram",
          change=REPLACE, default=_const(0)),
    Field("tags", StringSet(_v_tags, hidden_prefix=CREATE_TOKEN_TAG + "="), 'Tags, `"key=value"` on IMS (at most 9: '
          'IMS allows 10 and one carries the create token). Order does not matter.', "tags",
          change=TAGS_RULE, default=_const([])),
    Field("protected", Boolean(), "A protected image cannot be deleted.", "protected", change=PROTECTED_RULE,
          default=_const(False), guards_replacement=True),
    Field("visibility", Choice("visibilities"), "Visibility; IMS creates only `private` images.", "visibility",
          change=REPLACE, default=lambda p: p.default_visibility),
    Field("description", Text(_v_description, empty_is_absent=True),
          "Description (wire `__description`): at most 1024 characters, no `<`, `>` "
          "or CR, as the update document says. On IMS it is set by a PATCH right after the create.", "__description", change=UPDATE,
          default=_const("")),
)
# Computed fields. OUTPUT rows are kept in every resource's state; INFO rows (constants of a
# region, or a copy of another field) only in a lookup's answer (ImageInfo): a resource's state
# pays for its bytes at every step of every run (issue 16, README "Changelog").
_OUTPUTS: tuple[Field, ...] = tuple(
    Field(name, Computed(type_name), doc, wire, role=role, huawei_only=huawei)
    for name, wire, type_name, huawei, role, doc in (
        ("status", "status", "str", False, Role.OUTPUT, "Image status: `queued` for metadata only, `active` once data "
         "is uploaded."),
        ("os_type", "__os_type", "str", True, Role.OUTPUT, "OS type derived from `os_version` (`Linux`, `Windows`, "
         "`Other`)."),
        ("platform", "__platform", "str", True, Role.OUTPUT, "OS platform derived from `os_version` (e.g. `Ubuntu`)."),
        ("os_bit", "__os_bit", "str", True, Role.OUTPUT, "`32` or `64`, derived from `os_version`."),
        ("image_type", "__imagetype", "str", True, Role.INFO, "`private`, `shared` or `gold`."),
        ("virtual_env_type", "virtual_env_type", "str", True, Role.INFO, "Virtualisation environment (`FusionCompute`, "
         "...)."),
        ("is_registered", "__isregistered", "str", True, Role.INFO, '`"true"` when the image is registered.'),
        ("image_size", "__image_size", "str", True, Role.INFO, 'Image size in bytes, as a string (`"0"` until data is '
         'uploaded); `size` as a number.'),
        ("image_source_type", "__image_source_type", "str", True, Role.INFO, "Backend storage (`uds`, `swift`)."),
        ("root_origin", "__root_origin", "str", True, Role.INFO, "Origin of the root disk (`file`)."),
        ("owner", "owner", "str", False, Role.OUTPUT, "Project id that owns the image."),
        ("created_at", "created_at", "str", False, Role.OUTPUT, "Creation time, UTC."),
        ("updated_at", "updated_at", "str", False, Role.OUTPUT, "Last update time, UTC."),
        ("size", "size", "int", False, Role.OUTPUT, "Image file size in bytes, once uploaded."),
        ("virtual_size", "virtual_size", "int", False, Role.OUTPUT, "Virtual disk size in bytes, once known."),
    )
)

#: Attribute names a custom property may not take (they are image attributes).
RESERVED_NAMES = frozenset({f.wire for f in (*_FIELDS, *_OUTPUTS) if f.wire}) | OTHER_IMAGE_ATTRIBUTES | {CREATE_TOKEN_PROPERTY}

def _checksum_matches_source(inputs: Mapping[str, Any], profile: ServerProfile, services: Services,
                             olds: Mapping[str, Any]) -> list[Failure]:
    """A declared checksum against the digests the resource class computed (files only; sha512
    and URLs are checked by the provider before and while it sends)."""
    declared, source = inputs.get("checksum"), inputs.get("source")
    if not isinstance(declared, str) or not isinstance(source, Mapping) or contains_unknown(source):
        return []
    algorithm, want = content.parse_checksum(declared)
    have = source.get(algorithm)
    if have and have != want:
        return [Failure("checksum", f"checksum {declared!r} does not match {source.get('location')}: its {algorithm} "
                                    f"is {have}. Fix the file or the checksum; nothing was uploaded")]
    return []


def _transfer_path(inputs: Mapping[str, Any], profile: ServerProfile, services: Services,
                   olds: Mapping[str, Any]) -> list[Failure]:
    """The transfer path of a source that will be transferred (on create, or when the source or the
    disk format changes): refused at preview when no path can carry it (the limit and the fix), and
    shown as one line when it is not the native upload (staged in OBS and registered, or an OBS
    object registered as it is). Decided offline (:func:`.transfer.decide`) from the source's size as
    described, the credentials and the ``ims:obs*`` settings. Bytes an image already holds are not
    decided again: a stack that uploaded them with an earlier release previews without a change."""
    source = inputs.get("source")
    disk_format = inputs.get("disk_format") or profile.default_disk_format
    if not isinstance(source, Mapping) or contains_unknown(source) or source.get("missing") \
            or contains_unknown(disk_format):
        return []
    old_source = olds.get("source")
    if (isinstance(old_source, Mapping) and _SOURCE_KIND.same(old_source, source)
            and (olds.get("disk_format") or profile.default_disk_format) == disk_format):
        return []
    staging = services.staging()
    decision = transfer.decide(source.get("kind"), source.get("size"), profile=profile, disk_format=disk_format,
                               body_limit=services.upload_limit(), staging=staging, final=False)
    if decision.refusal:
        return [Failure("source", f"source {_SOURCE_KIND.display(source)} {decision.refusal}", quote=False)]
    declared = inputs.get("checksum")
    if decision.path is transfer.Path.REGISTER and isinstance(declared, str):
        algorithm = content.parse_checksum(declared)[0]
        if algorithm not in profile.reported_hashes and (staging.mode != "aksk" or not staging.endpoint):
            return [Failure("checksum", (
                f"checksum {declared!r} of {_SOURCE_KIND.display(source)} cannot be checked: {profile.display} "
                f"reports only the {', '.join(profile.reported_hashes)} of registered data, and the provider reads "
                "the object to check another digest, which needs AK/SK and ims:obsEndpoint. Declare "
                "`md5:<digest>` instead, or configure AK/SK and ims:obsEndpoint"))]
    line = transfer.describe_decision(decision, dict(source), inputs.get("name"), staging)
    seen = services.memo.setdefault("transfer-lines", set())
    if line and line not in seen:
        seen.add(line)
        services.inform(line)
    return []


_SOURCE_KIND = ContentSource()

#: The create token's kind: its digest covers the inputs that can replace an image (set below, from the rows).
_CREATE_TOKEN = TokenTag(CREATE_TOKEN_TAG)

IMAGE_METADATA = Table("ImageMetadata", (
    *_FIELDS,
    Field("properties", FlatMap(_properties_rule(RESERVED_NAMES, {f.wire: f.name for f in _FIELDS if f.wire})), "Custom string attributes of the image (keys "
          "the stack manages; attributes added by others are left alone). On IMS they are set by a PATCH right "
          "after the create (custom attributes are documented for update, not for create).", change=UPDATE, default=_const({})),
    Field("source", ContentSource(), "The image file: `pulumi.FileAsset`, `pulumi.RemoteAsset` (http/https), a "
          "path, or an OBS object `obs://bucket/key` (IMS only). Given to the image after the metadata, then the image "
          "is `active`: uploaded natively (`PUT /v2/images/{id}/file`; on IMS files smaller than 2 GB, with AK/SK at "
          "most 12 MB), or on IMS staged in `ims:obsBucket` and registered (`PUT /v1/cloudimages/{id}/upload`), or "
          "an `obs://` object registered as it is. Identified by its bytes: moving or touching the file is no "
          "change.", change=SOURCE_RULE),
    Field("checksum", Checksum(), "`md5:`, `sha256:` or `sha512:` digest the source must have: checked before any "
          "byte is sent. As an output: this value, or the server's MD5 of the uploaded file when not declared.",
          "checksum", change=UPDATE),
    Field("adopt_id", CreationRef(_v_adopt_id, marker="__adopted", identity="__create_token"), "Id of an existing image to take over instead of "
          "creating one (`pulumi import` does not work for dynamic providers). Used when the resource is created; "
          "adding or removing it later changes nothing, changing it to another id replaces the resource.",
          change=REPLACE),
    # Bookkeeping inputs start with "__": the CLI hides such keys from every preview and diff.
    Field("__create_token", _CREATE_TOKEN, "Bookkeeping: identifies the image this resource created "
          "(the resource class sets a base per resource; check makes it `<base>-<digest of the values that "
          "replace>` for a new image and keeps an existing image's; sent on create as the tag "
          "`pulumi-create-token=<token>`).", "tags", role=Role.BOOKKEEPING),
    Field("create_token", Bookkeeping(), "Release 0.1's name of `__create_token`, kept in the state of images it "
          "made (refresh leaves it as it was; never compared).", role=Role.BOOKKEEPING),
    Field("__adopted", Bookkeeping("bool"), "Bookkeeping: `adopt_id` was used when the resource was created "
          "(derived at check from the previous inputs).", role=Role.BOOKKEEPING),
    Field(content.SECRET_URL_KEY, SecretUrl(), "Bookkeeping: the whole URL of a URL source that has user "
          "information or a query string (redacted in `source`), registered by the resource class as a Pulumi secret "
          "and read by the provider at `up`; never sent, compared or output.", role=Role.BOOKKEEPING),
    *_OUTPUTS,
), relations=(_checksum_matches_source, formats.disk_format_matches_source, _transfer_path))
# A replacement is created before the old image is deleted: its create token must differ from the
# old image's, so the token's digest covers every input whose change can replace (on some server,
# or depending on the image's state).
_CREATE_TOKEN.distinguished_by = tuple(
    f.name for f in IMAGE_METADATA.user_inputs
    if f.change.needs_state or any(f.change.apply(p) is Apply.REPLACE for p in PROFILES.values()))
