"""The field table of ``ImageMetadata``: one place that says, per field, its wire name,
type, default, validation, whether a change updates in place or replaces, and its docs.

Everything here is pure and offline: :func:`check_inputs` (validation and defaults),
:func:`plan` (update versus replace), :func:`to_create_body`, :func:`patch_ops` and
:func:`outputs_from_image` are what the provider's methods call. They tolerate unknown
values (``pulumi.output.Unknown`` during preview) by treating them as "will change".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from . import os_versions

#: The custom property that ties an image to the Pulumi resource that created it, so that a
#: create whose response was lost (or a run killed after the POST) finds the image again
#: instead of making a second one.
CREATE_TOKEN_PROPERTY = "pulumi_create_token"


class Change(Enum):
    """How a changed value is applied."""

    UPDATE = "update in place"
    REPLACE = "replace"
    SERVER = "in place where the server allows it, else replace"
    NONE = "never compared (computed or bookkeeping)"


@dataclass(frozen=True)
class ServerProfile:
    """What one kind of server accepts. ``ims:server`` picks the profile."""

    kind: str
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
    min_disk_max: int
    huawei_fields: bool

    def with_overrides(self, *, protected_in_place: bool | None = None) -> ServerProfile:
        """The profile with settings from stack config applied."""
        if protected_in_place is None:
            return self
        return _replace(self, protected_in_place=protected_in_place)


def _replace(profile: ServerProfile, **changes: Any) -> ServerProfile:
    from dataclasses import replace

    return replace(profile, **changes)


IMS = ServerProfile(
    kind="ims",
    disk_formats=("zvhd2", "vhd", "zvhd", "raw", "qcow2", "iso"),
    container_formats=("bare",),
    visibilities=("private",),
    default_disk_format="zvhd2",
    default_container_format="bare",
    default_visibility="private",
    # IMS documents both 1-255 (create request) and 1-128 (image attributes, IMG.0002): the
    # stricter reading wins, so a name that passes here passes on every IMS region.
    name_max=128,
    name_pattern=re.compile(r"^[A-Za-z0-9._\- ]+$"),
    name_rule="letters, digits, '-', '.', '_' and spaces, not starting or ending with a space",
    tags_key_value=True,
    max_tags=10,
    # The tag API only takes letters, digits, '_' and '-': a "key=value" tag cannot go through
    # it, and PATCH does not change tags. A tag change is therefore a replacement on IMS.
    tags_in_place=False,
    # IMS: "only custom attributes, the name and the description may be changed".
    protected_in_place=False,
    min_disk_max=1024,
    huawei_fields=True,
)

GLANCE = ServerProfile(
    kind="glance",
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
    min_disk_max=2**31 - 1,
    huawei_fields=False,
)

PROFILES = {"ims": IMS, "glance": GLANCE}

MIN_RAM_MAX = 1024 * 1024  # MB (1 TiB); IMS documents no bound, this catches unit mistakes
DESCRIPTION_MAX = 1024
PROPERTY_VALUE_MAX = 1024
RESERVED_PROPERTY_PREFIXES = ("__", "os_glance_")

Validator = Callable[[Any, ServerProfile], str | None]


@dataclass(frozen=True)
class Field:
    """One row of the table.

    ``name`` is the Python/Pulumi name; ``wire`` the JSON key of the IMS image object
    (``None`` for bookkeeping inputs that are not sent as such). ``input`` fields are what
    the user declares; all others are computed outputs.
    """

    name: str
    wire: str | None
    doc: str
    type: str
    input: bool = False
    change: Change = Change.NONE
    required: bool = False
    default: Callable[[ServerProfile], Any] | None = None
    validate: Validator | None = None
    patchable: bool = False  # changed with a json-patch op on the wire attribute
    huawei_only: bool = False  # a Huawei extension Glance does not return
    secret: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# --- validators: return None when fine, else what is allowed ---------------------------


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def _v_name(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str):
        return f"must be a string of 1-{p.name_max} characters"
    if not 1 <= len(value) <= p.name_max:
        return f"must be 1-{p.name_max} characters long (it has {len(value)})"
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
    return None


def _v_os_version(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str):
        return "must be a string from the IMS OS version table"
    if p.kind == "ims" and os_versions.lookup(value) is None:
        close = [r.version for r in os_versions.OS_VERSIONS if value.split(" ")[0].lower() in r.version.lower()]
        hint = f"; similar: {', '.join(close[:5])}" if close else ""
        return f"is not an IMS OS version (see README 'OS versions' or GET /v1/cloudimages/os_version){hint}"
    return None


def _v_choice(attr: str) -> Validator:
    def check(value: Any, p: ServerProfile) -> str | None:
        allowed: tuple[str, ...] = getattr(p, attr)
        if not isinstance(value, str) or value not in allowed:
            return f"must be one of {', '.join(allowed)} on a {p.kind} server"
        return None

    return check


def _v_bool(value: Any, p: ServerProfile) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _v_min_ram(value: Any, p: ServerProfile) -> str | None:
    if not _is_int(value) or not 0 <= value <= MIN_RAM_MAX:
        return f"must be a whole number of MB from 0 to {MIN_RAM_MAX}"
    return None


def _v_min_disk(value: Any, p: ServerProfile) -> str | None:
    if not _is_int(value) or not 0 <= value <= p.min_disk_max:
        return f"must be a whole number of GB from 0 to {p.min_disk_max} (0 = no minimum)"
    return None


def _v_tags(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, (list, tuple)):
        return 'must be a list of strings like "key=value"'
    if len(set(value)) > p.max_tags:
        return f"has {len(set(value))} tags; at most {p.max_tags} are allowed"
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 255:
            return f"tag {tag!r} must be a string of 1-255 characters"
        if p.tags_key_value:
            key, sep, _ = tag.partition("=")
            if not sep or not key.strip() or key != key.strip():
                return f'tag {tag!r} must have the form "key=value" with a non-empty key'
    return None


def _v_properties(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a map of string keys to string values"
    for key, val in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 255:
            return f"key {key!r} must be a string of 1-255 characters"
        if key in RESERVED_NAMES or key.startswith(RESERVED_PROPERTY_PREFIXES):
            return (
                f"key {key!r} is reserved (image attributes, '__' and 'os_glance_' prefixes and "
                f"{CREATE_TOKEN_PROPERTY!r}); use the dedicated input or another key"
            )
        if not isinstance(val, str):
            return f"value of {key!r} must be a string (got {type(val).__name__}); quote numbers and booleans"
        if len(val) > PROPERTY_VALUE_MAX:
            return f"value of {key!r} must be at most {PROPERTY_VALUE_MAX} characters"
    return None


def _v_adopt_id(value: Any, p: ServerProfile) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Za-z-]{1,64}", value):
        return "must be the id of an existing image (letters, digits and '-')"
    return None


def _const(value: Any) -> Callable[[ServerProfile], Any]:
    return lambda p: value


# --- the table ----------------------------------------------------------------------------

FIELDS: tuple[Field, ...] = (
    # inputs: the nine fields of POST /v2/images, then description and custom properties
    Field("name", "name", "Image name (IMS: 1-128 letters, digits, `-`, `.`, `_` and spaces, no leading or "
          "trailing space; Glance: 1-255 of any characters).", "str", input=True, change=Change.UPDATE, required=True,
          validate=_v_name, patchable=True),
    Field("os_version", "__os_version", "OS version from the IMS table, e.g. `Ubuntu 22.04 server 64bit`; "
          "IMS derives `os_type`, `platform` and `os_bit` from it.", "str", input=True, change=Change.REPLACE,
          default=_const(os_versions.DEFAULT_OS_VERSION), validate=_v_os_version),
    Field("disk_format", "disk_format", "Disk format (IMS: zvhd2, vhd, zvhd, raw, qcow2, iso).", "str",
          input=True, change=Change.REPLACE, default=lambda p: p.default_disk_format,
          validate=_v_choice("disk_formats")),
    Field("container_format", "container_format", "Container format (IMS: bare).", "str", input=True,
          change=Change.REPLACE, default=lambda p: p.default_container_format,
          validate=_v_choice("container_formats")),
    Field("min_disk", "min_disk", "Minimum system disk size in GB (IMS: 0-1024, 0 = none).", "int",
          input=True, change=Change.REPLACE, default=_const(0), validate=_v_min_disk),
    Field("min_ram", "min_ram", "Minimum memory in MB (0 = none).", "int", input=True,
          change=Change.REPLACE, default=_const(0), validate=_v_min_ram),
    Field("tags", "tags", 'Tags, `"key=value"` on IMS (at most 10). Order does not matter.', "list[str]",
          input=True, change=Change.SERVER, default=_const([]), validate=_v_tags),
    Field("protected", "protected", "A protected image cannot be deleted.", "bool", input=True,
          change=Change.SERVER, default=_const(False), validate=_v_bool, patchable=True),
    Field("visibility", "visibility", "Visibility; IMS creates only `private` images.", "str", input=True,
          change=Change.REPLACE, default=lambda p: p.default_visibility, validate=_v_choice("visibilities")),
    Field("description", "__description", "Description (at most 1024 characters, no `<`, `>` or CR).", "str",
          input=True, change=Change.UPDATE, default=_const(""), validate=_v_description, patchable=True),
    Field("properties", None, "Custom string attributes of the image (keys the stack manages; "
          "attributes added by others are left alone).", "dict[str, str]", input=True, change=Change.UPDATE,
          default=_const({}), validate=_v_properties),
    Field("adopt_id", None, "Id of an existing image to take over instead of creating one "
          "(`pulumi import` does not work for dynamic providers). Used when the resource is created; "
          "adding or removing it later changes nothing, changing it to another id replaces the resource.",
          "str", input=True, change=Change.REPLACE, validate=_v_adopt_id),
    Field("create_token", None, "Bookkeeping: identifies the image this resource created (set by the "
          "resource class; stored on the image as `pulumi_create_token`).", "str", input=True),
    # outputs computed by the server
    Field("status", "status", "Image status: `queued` for metadata only, `active` once data is uploaded.", "str"),
    Field("os_type", "__os_type", "OS type derived from `os_version` (`Linux`, `Windows`, `Other`).", "str",
          huawei_only=True),
    Field("platform", "__platform", "OS platform derived from `os_version` (e.g. `Ubuntu`).", "str",
          huawei_only=True),
    Field("os_bit", "__os_bit", "`32` or `64`, derived from `os_version`.", "str", huawei_only=True),
    Field("image_type", "__imagetype", "`private`, `shared` or `gold`.", "str", huawei_only=True),
    Field("virtual_env_type", "virtual_env_type", "Virtualisation environment (`FusionCompute`, ...).", "str",
          huawei_only=True),
    Field("is_registered", "__isregistered", '`"true"` when the image is registered.', "str", huawei_only=True),
    Field("image_size", "__image_size", 'Image size in bytes, as a string (`"0"` until data is uploaded).',
          "str", huawei_only=True),
    Field("image_source_type", "__image_source_type", "Backend storage (`uds`, `swift`).", "str",
          huawei_only=True),
    Field("root_origin", "__root_origin", "Origin of the root disk (`file`).", "str", huawei_only=True),
    Field("owner", "owner", "Project id that owns the image.", "str"),
    Field("created_at", "created_at", "Creation time, UTC.", "str"),
    Field("updated_at", "updated_at", "Last update time, UTC.", "str"),
    Field("self_link", "self", "API path of the image.", "str"),
    Field("file", "file", "API path of the image file.", "str"),
    Field("schema", "schema", "API path of the image schema.", "str"),
    Field("checksum", "checksum", "MD5 of the image file, once uploaded.", "str"),
    Field("size", "size", "Image file size in bytes, once uploaded.", "int"),
    Field("virtual_size", "virtual_size", "Virtual disk size in bytes, once known.", "int"),
)

BY_NAME = {f.name: f for f in FIELDS}
INPUTS = tuple(f for f in FIELDS if f.input)
OUTPUTS = tuple(f for f in FIELDS if not f.input)
USER_INPUTS = tuple(f for f in INPUTS if f.name not in ("create_token",))
#: Attribute names a custom property may not take (they are image attributes).
RESERVED_NAMES = frozenset(
    {f.wire for f in FIELDS if f.wire}
    | {"id", "locations", "location", "direct_url", "deleted", "deleted_at", "stores", "os_hash_algo",
       "os_hash_value", "os_hidden", "members", "min_ram", "min_disk", CREATE_TOKEN_PROPERTY}
)


def is_unknown(value: Any) -> bool:
    """True for Pulumi's unknown placeholder (a value that is only known after apply)."""
    return type(value).__name__ == "Unknown" and type(value).__module__.startswith("pulumi")


def contains_unknown(value: Any) -> bool:
    """True if ``value`` is unknown or holds an unknown (``tags=[other.output, "a=b"]`` in preview)."""
    if is_unknown(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    return False


# --- check ------------------------------------------------------------------------------


@dataclass
class Failure:
    """One invalid input: the property and a message that says what is allowed."""

    property: str
    reason: str


def check_inputs(
    olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile
) -> tuple[dict[str, Any], list[Failure]]:
    """Validate ``news``, fill defaults as the server would, normalise values.

    Returns the inputs to store and the failures. Unknown values pass through untouched.
    ``olds`` (the previous inputs, empty on create) is used to refuse changes that have no
    path on this server (see :func:`impossible_changes`).
    """
    out: dict[str, Any] = {}
    failures: list[Failure] = []
    known = {f.name for f in INPUTS}
    outputs = {f.name for f in OUTPUTS}
    for key, value in news.items():
        if key in outputs and value is None:
            continue  # placeholders the resource class declares so outputs exist as attributes
        if key not in known and not key.startswith("__"):
            allowed = ", ".join(f.name for f in USER_INPUTS)
            failures.append(Failure(key, f"unknown input {key!r}; ImageMetadata accepts: {allowed}"))
    for f in INPUTS:
        value = news.get(f.name)
        if value is None:
            if f.required:
                failures.append(Failure(f.name, f"{f.name} is required ({f.doc})"))
                continue
            if f.default is None:
                continue
            value = f.default(profile)
            if value is None:
                continue
        if contains_unknown(value):
            out[f.name] = value  # validated at `up`, when the value is known
            continue
        problem = f.validate(value, profile) if f.validate else None
        if problem:
            failures.append(Failure(f.name, f"{f.name} {_show(value)} {problem}"))
            continue
        out[f.name] = _normalise(f, value)
    for key, value in news.items():
        if key.startswith("__"):
            out[key] = value  # __provider and other engine-owned keys
    if olds and not failures:
        failures += impossible_changes(olds, out, profile)
    return out, failures


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _normalise(f: Field, value: Any) -> Any:
    if f.name == "os_version":
        return os_versions.canonical(value) or value
    if f.type == "int":
        return int(value)
    if f.name == "tags":
        return sorted(set(value))  # tag order is not kept by servers: never let it cause a diff
    if f.name == "properties":
        return dict(sorted(value.items()))
    return value


# --- diff -------------------------------------------------------------------------------


@dataclass
class Plan:
    """What applying new inputs to an existing image takes."""

    changed: list[str]
    replaces: list[str]

    @property
    def changes(self) -> bool:
        """Whether anything changes."""
        return bool(self.changed)


def same_value(f: Field, old: Any, new: Any) -> bool:
    """Whether two values of ``f`` are the same for the user (tag order, empty description)."""
    if f.name == "tags":
        return sorted(set(old or [])) == sorted(set(new or []))
    if f.name == "properties":
        return dict(old or {}) == dict(new or {})
    if f.name in ("description",):
        return (old or "") == (new or "")
    return bool(old == new)


def in_place(f: Field, profile: ServerProfile) -> bool:
    """Whether a change of ``f`` is applied without replacing the image on this server."""
    if f.change is Change.UPDATE:
        return True
    if f.change is Change.SERVER:
        return profile.tags_in_place if f.name == "tags" else profile.protected_in_place
    return False


def plan(olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile) -> Plan:
    """Compare the fields the user declares (never server-added attributes).

    ``olds`` are the previous outputs (which echo the inputs), ``news`` the checked inputs.
    """
    changed: list[str] = []
    replaces: list[str] = []
    for f in USER_INPUTS:
        old, new = olds.get(f.name), news.get(f.name)
        if not contains_unknown(new) and same_value(f, old, new):
            continue
        if f.name == "adopt_id" and (old is None or new is None):
            continue  # only matters at creation: adding or dropping it later changes nothing
        changed.append(f.name)
        if not in_place(f, profile):
            replaces.append(f.name)
    return Plan(changed, replaces)


def impossible_changes(olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile) -> list[Failure]:
    """Changes that no update or replacement can apply; reported at preview, never at apply."""
    p = plan(olds, news, profile)
    if not p.replaces or not olds.get("protected"):
        return []
    if p.replaces == ["protected"]:
        return [Failure("protected", (
            f"protected cannot be changed from true to false on this {profile.kind} server: its API refuses to "
            "change `protected` on an existing image, and replacing the image would need to delete the protected "
            "one. Keep protected=True, or remove the protection outside Pulumi and run `pulumi refresh`; if your "
            "endpoint does allow PATCH of /protected, set `pulumi config set ims:protectedInPlace true`."))]
    fields = ", ".join(n for n in p.replaces if n != "protected")
    how = ("first run `pulumi up` with only protected=False, then make this change"
           if profile.protected_in_place else
           "its protection cannot be removed through this server's API; remove it outside Pulumi first")
    return [Failure(p.replaces[0], (
        f"changing {fields} replaces the image, which means deleting the current one, but it is protected: {how}"))]


# --- wire mapping -------------------------------------------------------------------------


def to_create_body(inputs: Mapping[str, Any], profile: ServerProfile) -> dict[str, Any]:
    """The JSON body of ``POST /v2/images`` for checked inputs."""
    body: dict[str, Any] = {}
    for f in INPUTS:
        value = inputs.get(f.name)
        if f.wire is None or value is None:
            continue
        if f.name == "description" and not value:
            continue
        # Pulumi numbers reach create() as floats (1024.0); IMS wants JSON integers.
        body[f.wire] = int(value) if f.type == "int" else value
    body.update(inputs.get("properties") or {})
    if inputs.get("create_token"):
        body[CREATE_TOKEN_PROPERTY] = inputs["create_token"]
    return body


def patch_ops(current: Mapping[str, Any], desired: Mapping[str, Any], profile: ServerProfile) -> list[dict[str, Any]]:
    """json-patch (v2.1 dialect) operations that turn ``current`` outputs into ``desired`` inputs.

    ``add`` for attributes the image does not have yet, ``replace`` for those it has,
    ``remove`` for managed custom properties the user dropped. Tags are not patched (the
    tag API does that); fields that replace never get here.
    """
    ops: list[dict[str, Any]] = []
    for f in INPUTS:
        if not f.patchable or f.wire is None or not in_place(f, profile):
            continue
        old, new = current.get(f.name), desired.get(f.name)
        if same_value(f, old, new):
            continue
        if f.name == "description" and not new:
            if old:
                ops.append({"op": "remove", "path": f"/{f.wire}"})
            continue
        present = old is not None and not (f.name == "description" and old == "")
        ops.append({"op": "replace" if present else "add", "path": f"/{f.wire}", "value": new})
    old_props: Mapping[str, str] = current.get("properties") or {}
    new_props: Mapping[str, str] = desired.get("properties") or {}
    for key in sorted(set(old_props) | set(new_props)):
        if key not in new_props:
            ops.append({"op": "remove", "path": f"/{key}"})
        elif key not in old_props:
            ops.append({"op": "add", "path": f"/{key}", "value": new_props[key]})
        elif old_props[key] != new_props[key]:
            ops.append({"op": "replace", "path": f"/{key}", "value": new_props[key]})
    return ops


def tag_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Tags to add and tags to remove."""
    old, new = set(current.get("tags") or []), set(desired.get("tags") or [])
    return sorted(new - old), sorted(old - new)


def managed_properties(image: Mapping[str, Any], keys: list[str] | set[str]) -> dict[str, str]:
    """The custom properties the stack manages, as the server has them now."""
    return {k: str(image[k]) for k in sorted(keys) if k in image}


def inputs_from_image(
    image: Mapping[str, Any], managed_keys: set[str], profile: ServerProfile, previous: Mapping[str, Any]
) -> dict[str, Any]:
    """The user-owned inputs as the server has them (for refresh: drift flows back)."""
    out: dict[str, Any] = {}
    for f in USER_INPUTS:
        if f.wire is not None:
            value = image.get(f.wire)
            if f.name == "description":
                value = value or ""
            elif f.name == "tags":
                value = sorted(set(value or []))
            elif f.name == "os_version" and value is not None:
                value = os_versions.canonical(value) or value
            elif value is None and previous.get(f.name) is None:
                continue
            out[f.name] = value
        elif f.name == "properties":
            out[f.name] = managed_properties(image, managed_keys)
        elif previous.get(f.name) is not None:
            out[f.name] = previous[f.name]
    if previous.get("create_token"):
        out["create_token"] = previous["create_token"]
    return out


def outputs_from_image(image: Mapping[str, Any], inputs: Mapping[str, Any], profile: ServerProfile) -> dict[str, Any]:
    """All outputs: the inputs as the server applied them, plus every computed field.

    Huawei-only fields a Glance server does not return become empty strings, not errors.
    """
    managed = set((inputs.get("properties") or {}).keys())
    outs = inputs_from_image(image, managed, profile, inputs)
    for f in OUTPUTS:
        value = image.get(f.wire) if f.wire else None
        if value is None and f.type == "str":
            value = ""
        outs[f.name] = value if f.type != "str" or isinstance(value, str) else str(value)
    return outs
