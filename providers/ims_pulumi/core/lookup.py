"""Lookups: find existing images by name, tags, OS and properties (``get_image``, ``get_images``).

Python dynamic providers cannot register invokes (pulumi/pulumi#9958), so lookups run in the
program process: they read the same settings as the provider (``ims:*`` stack config, then the
``HW_*`` variables), call the list API directly and return plain values (``get_image``) or
``Output`` values (``get_image_output``) that resolve in preview too.

Which filters the server applies and which are applied here is one table (:data:`FILTERS`):
every filter a server documents goes into the query; the rest (regular expressions, any-of and
none-of tags, custom properties, ...) is applied to every page of the result, so a client-side
filter never misses an image on a later page. A filter that a server cannot express even on
the client (``os_type`` on Glance, which has no such field) fails with a message instead of
silently matching nothing.

Expected failures (no match, several matches, a filter the server cannot serve, a lookup whose
settings or request fail) raise :class:`ImageLookupError`, a :class:`pulumi.RunError`: the CLI
shows its one line, without a Python traceback. A lookup that must wait for a resource of the
same program (an ``ImageMemberAcceptance`` that makes a shared image visible, say) takes
``opts=pulumi.InvokeOutputOptions(depends_on=[resource])``, as the SDK's own invokes do.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pulumi

from . import os_versions
from .client import CREATE_TOKEN_TAG, ImsClient
from .config import resolve
from .errors import ImsError
from .image_metadata import IMAGE_METADATA, RESERVED_NAMES
from .profiles import ServerProfile

#: Image attributes of IMS and Glance that are not custom properties (beyond the table's).
_SYSTEM_ATTRIBUTES = frozenset({
    "__originalimagename", "__backup_id", "__productcode", "__data_origin", "__lazyloading", "hw_firmware_type",
    "active_at", "max_ram", "enterprise_project_id", "_sys_enterprise_project_id", "__os_feature_list",
    "__image_location", "__is_config_init", "__system__cmkid", "hw_vif_multiqueue_enabled", "__support_agent_list",
    "__account_code", "__sequence_num", "__is_offshelved", "member_status", "properties", "os_hash_algo",
    "os_hash_value", "os_hidden", "stores",
})
DEFAULT_STATUSES = ("active", "queued")
SORT_KEYS = ("created_at", "updated_at", "name")
PAGE_SIZE = 100


class ImageLookupError(ImsError, pulumi.RunError):
    """A lookup found no image, or several where one was asked for, or cannot be expressed.

    A :class:`pulumi.RunError`: a program that lets it propagate ends with its message alone
    (the SDK's way to stop a program without a stack trace).
    """


@dataclass(frozen=True)
class ImageInfo:
    """One image as a lookup returns it: ``id`` and the same fields as ``ImageMetadata``'s outputs."""

    id: str
    name: str = ""
    os_version: str = ""
    disk_format: str = ""
    container_format: str = ""
    min_disk: int = 0
    min_ram: int = 0
    tags: tuple[str, ...] = ()
    protected: bool = False
    visibility: str = ""
    description: str = ""
    #: The image's custom attributes (every string attribute that is not an image attribute).
    properties: Mapping[str, str] = field(default_factory=dict)
    status: str = ""
    os_type: str = ""
    platform: str = ""
    os_bit: str = ""
    image_type: str = ""
    virtual_env_type: str = ""
    is_registered: str = ""
    image_size: str = ""
    image_source_type: str = ""
    root_origin: str = ""
    owner: str = ""
    created_at: str = ""
    updated_at: str = ""
    self_link: str = ""
    file: str = ""
    schema: str = ""
    checksum: str = ""
    size: int | None = None
    virtual_size: int | None = None
    #: This project's membership of a shared image (``pending``, ``accepted``, ``rejected``), else "".
    member_status: str = ""

    @classmethod
    def from_image(cls, image: Mapping[str, Any]) -> ImageInfo:
        """The info of one image object of the API."""
        custom = custom_attributes(image)
        outs = IMAGE_METADATA.outputs_from_image(image, {"properties": custom}, info=True)
        values: dict[str, Any] = {"id": str(image["id"]), "member_status": str(image.get("member_status") or "")}
        for f in fields(cls):
            if f.name in outs and f.name not in values:
                values[f.name] = outs[f.name]
        values["tags"] = tuple(t for t in outs.get("tags") or () if not t.startswith(CREATE_TOKEN_TAG + "="))
        values["description"] = outs.get("description") or ""
        values["os_version"] = outs.get("os_version") or ""
        for name in ("min_disk", "min_ram"):
            values[name] = int(outs.get(name) or 0)
        values["protected"] = bool(outs.get("protected"))
        # Not outputs of ImageMetadata (derivable from the id), still part of a lookup's answer.
        values.update(self_link=str(image.get("self") or ""), file=str(image.get("file") or ""),
                      schema=str(image.get("schema") or ""))
        for name in ("name", "disk_format", "container_format", "visibility"):
            values[name] = str(outs.get(name) or "")
        return cls(**values)


#: The wire keys of the table's fields (``checksum`` too, which RESERVED_NAMES, made before the last rows, lacks).
_TABLE_KEYS = frozenset(f.wire for f in IMAGE_METADATA.fields if f.wire)


def _is_custom(key: str) -> bool:
    return (key not in RESERVED_NAMES and key not in _TABLE_KEYS and key not in _SYSTEM_ATTRIBUTES
            and not key.startswith("__"))


def custom_attributes(image: Mapping[str, Any]) -> dict[str, str]:
    """The image's custom attributes: every plain attribute that is neither a field of the table nor one
    the server sets (what a lookup returns as ``properties``, and what an import reads back)."""
    return {k: str(v) for k, v in image.items() if _is_custom(k) and isinstance(v, (str, int, float, bool))}


# --- the filter table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One lookup filter: where each server applies it, and the client-side test.

    ``server`` maps a profile kind to its documented query parameter (absent: applied here);
    ``unsupported`` lists profile kinds on which the field does not exist at all.
    """

    name: str
    doc: str
    match: Callable[[Mapping[str, Any], Any], bool]
    server: Mapping[str, str] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()
    #: The value names one image, read directly (``GET /v2/images/{id}``) instead of listed.
    direct: bool = False


def _attr(wire: str) -> Callable[[Mapping[str, Any], Any], bool]:
    return lambda image, value: str(image.get(wire, "")) == str(value)


def _tags(image: Mapping[str, Any]) -> set[str]:
    return set(image.get("tags") or [])


FILTERS: tuple[Filter, ...] = (
    Filter("id", "Image id.", _attr("id"), direct=True),
    Filter("name", "Exact name.", _attr("name"), {"ims": "name", "glance": "name"}),
    Filter("name_regex", "Python regular expression searched in the name.",
           lambda image, value: re.search(value, str(image.get("name", ""))) is not None),
    Filter("visibility", "`private`, `public`, `shared` (Glance also `community`).", _attr("visibility"),
           {"ims": "visibility", "glance": "visibility"}),
    Filter("image_type", "IMS `__imagetype`: `gold` (public), `private`, `shared`, `market`.", _attr("__imagetype"),
           {"ims": "__imagetype"}, unsupported=("glance",)),
    Filter("os_type", "IMS `__os_type`: `Linux`, `Windows`, `Other`.", _attr("__os_type"), {"ims": "__os_type"},
           unsupported=("glance",)),
    Filter("platform", "IMS `__platform`, e.g. `Ubuntu`.", _attr("__platform"), {"ims": "__platform"},
           unsupported=("glance",)),
    Filter("os_bit", "IMS `__os_bit`: `32` or `64`.", _attr("__os_bit"), {"ims": "__os_bit"},
           unsupported=("glance",)),
    Filter("os_version", "`__os_version` (case and spaces do not matter).",
           lambda image, value: os_versions.key(str(image.get("__os_version", ""))) == os_versions.key(value)),
    Filter("disk_format", "Disk format.", _attr("disk_format"), {"ims": "disk_format", "glance": "disk_format"}),
    Filter("container_format", "Container format.", _attr("container_format"),
           {"ims": "container_format", "glance": "container_format"}),
    Filter("status", "Status; default `active` or `queued` (never killed or deleted images).", _attr("status"),
           {"ims": "status", "glance": "status"}),
    Filter("owner", "Owning project id.", _attr("owner"), {"ims": "owner", "glance": "owner"}),
    Filter("member_status", "This project's membership of a shared image: `pending`, `accepted`, `rejected` "
           "(implies `visibility=shared` on IMS).", _attr("member_status"),
           {"ims": "member_status", "glance": "member_status"}),
    Filter("tags", "Every one of these tags.", lambda image, value: set(value) <= _tags(image),
           {"ims": "tag", "glance": "tag"}),
    Filter("tags_any", "At least one of these tags.", lambda image, value: bool(set(value) & _tags(image))),
    Filter("not_tags", "None of these tags.", lambda image, value: not set(value) & _tags(image)),
    Filter("properties", "Custom attributes, exact match on every key given.",
           lambda image, value: all(str(image.get(k)) == str(v) and k in image for k, v in value.items())),
)
FILTERS_BY_NAME = {f.name: f for f in FILTERS}


@dataclass(frozen=True)
class QueryPlan:
    """How one lookup runs: the query sent to the server and the filters applied here."""

    server: tuple[tuple[str, str], ...]
    client: tuple[tuple[str, Any], ...]
    by_id: str | None = None


def plan_query(filters: Mapping[str, Any], profile: ServerProfile) -> QueryPlan:
    """Split ``filters`` (names of :data:`FILTERS` to values; ``None`` = not given) for ``profile``."""
    given = {k: v for k, v in filters.items() if v is not None}
    for name in given:
        if name not in FILTERS_BY_NAME:
            raise ImageLookupError(f"unknown lookup filter {name!r}; filters: {', '.join(FILTERS_BY_NAME)}")
    server: list[tuple[str, str]] = []
    client: list[tuple[str, Any]] = []
    by_id: str | None = None
    for name, value in given.items():
        f = FILTERS_BY_NAME[name]
        if profile.kind in f.unsupported:
            raise ImageLookupError(
                f"filter {name}={value!r} cannot be used on a {profile.display} server: its images have no such "
                f"field ({f.doc}); drop it, or use another filter such as name_regex or properties")
        param = f.server.get(profile.kind)
        client.append((name, value))  # every filter is checked here too: a server that ignores one cannot leak
        if f.direct:
            by_id = str(value)
            continue
        if param is None:
            continue
        if isinstance(value, (list, tuple)):
            # IMS documents one `tag` value; Glance takes several (all must match)
            values = list(value)[:1] if profile.kind == "ims" else list(value)
            server += [(param, str(v)) for v in values]
        elif isinstance(value, bool):
            server.append((param, str(value).lower()))
        else:
            server.append((param, str(value)))
    if "member_status" in given and "visibility" not in given and profile.kind == "ims":
        server.append(("visibility", "shared"))  # IMS: member_status requires visibility=shared
    if "status" not in given:
        client.append(("status_default", DEFAULT_STATUSES))
    return QueryPlan(tuple(server), tuple(client), by_id)


def _passes(image: Mapping[str, Any], name: str, value: Any) -> bool:
    if name == "status_default":
        return image.get("status") in value
    return FILTERS_BY_NAME[name].match(image, value)


def _sort_key(spec: str) -> tuple[str, bool]:
    key, _, direction = spec.partition(":")
    direction = direction or ("asc" if key == "name" else "desc")
    if key not in SORT_KEYS or direction not in ("asc", "desc"):
        raise ImageLookupError(f"sort {spec!r} must be one of {', '.join(SORT_KEYS)} with an optional "
                               "':asc' or ':desc', e.g. 'created_at:desc'")
    return key, direction == "desc"


def _ordered(images: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    key, descending = _sort_key(spec)
    # ties by id, always ascending: equal timestamps never make the order (or most_recent) vary
    by_id = sorted(images, key=lambda i: str(i["id"]))
    return sorted(by_id, key=lambda i: str(i.get(key) or ""), reverse=descending)


# --- running lookups -------------------------------------------------------------------------------------


class Lookups:
    """Lookups against one endpoint with one set of credentials; identical lookups are cached."""

    def __init__(self, client: ImsClient, profile: ServerProfile) -> None:
        self.client = client
        self.profile = profile
        self._cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def matching(self, filters: Mapping[str, Any]) -> tuple[list[dict[str, Any]], QueryPlan, list[dict[str, Any]]]:
        """Images passing every filter, the plan, and what the server returned (for hints)."""
        plan = plan_query(filters, self.profile)
        key = (plan.server, plan.by_id)
        with self._lock:
            fetched = self._cache.get(key)
        if fetched is None:
            if plan.by_id is not None:
                one = self.client.get_image(plan.by_id)
                fetched = [one] if one else []
            else:
                fetched = list(self.client.list_images(plan.server, limit=PAGE_SIZE, operation="look up images"))
            with self._lock:
                self._cache[key] = fetched
        found = [i for i in fetched if all(_passes(i, name, value) for name, value in plan.client)]
        return found, plan, fetched

    def get_images(self, *, sort: str = "created_at:desc", limit: int | None = None,
                   **filters: Any) -> list[ImageInfo]:
        """Every image matching ``filters``, ordered by ``sort``, at most ``limit``."""
        found, _, _ = self.matching(filters)
        ordered = _ordered(found, sort)
        if limit is not None:
            if limit < 1:
                raise ImageLookupError(f"limit must be 1 or more, not {limit!r}")
            ordered = ordered[:limit]
        return [ImageInfo.from_image(i) for i in ordered]

    def get_image(self, *, most_recent: bool = False, **filters: Any) -> ImageInfo:
        """The one image matching ``filters`` (the newest by ``created_at`` with ``most_recent``)."""
        found, plan, fetched = self.matching(filters)
        shown = _describe(filters)
        if not found:
            raise ImageLookupError(f"no image matches {shown}.{_relaxations(fetched, plan)}")
        ordered = _ordered(found, "created_at:desc")
        if len(ordered) > 1 and not most_recent:
            listed = "; ".join(f"{i['id']} {i.get('name', '')!r} created {i.get('created_at', '')}"
                               for i in ordered[:5])
            more = f" and {len(ordered) - 5} more" if len(ordered) > 5 else ""
            raise ImageLookupError(f"{len(ordered)} images match {shown}: {listed}{more}. Add a filter "
                                   "(name, tags, properties, ...) or most_recent=True to take the newest")
        return ImageInfo.from_image(ordered[0])


def _describe(filters: Mapping[str, Any]) -> str:
    given = {k: v for k, v in filters.items() if v is not None}
    return ", ".join(f"{k}={v!r}" for k, v in given.items()) if given else "(no filters)"


def _relaxations(fetched: list[dict[str, Any]], plan: QueryPlan) -> str:
    """Which single filter, dropped, would find something (among what the server returned)."""
    hints = []
    for index, (name, _value) in enumerate(plan.client):
        rest = plan.client[:index] + plan.client[index + 1:]
        count = sum(1 for i in fetched if all(_passes(i, n, v) for n, v in rest))
        if count:
            label = "the default status filter (active or queued): pass status=..." if name == "status_default" \
                else f"{name}"
            hints.append(f"without {label}: {count} image(s)")
    server = ", ".join(f"{k}={v}" for k, v in plan.server)
    where = f" The server was asked for {server}." if server else ""
    if hints:
        return (where + " Closest relaxations: " + "; ".join(hints[:5]) + ". Change or drop that filter; if a "
                "resource of this program makes the image match (an ImageMemberAcceptance, a tag), let the lookup "
                "wait for it: get_image_output(..., opts=pulumi.InvokeOutputOptions(depends_on=[resource]))")
    return where + " Check the filters, the project (ims:projectId) and the endpoint."


# --- the program-side entry points -----------------------------------------------------------------------

_DEFAULTS: dict[tuple[str, str, str], Lookups] = {}
_DEFAULTS_LOCK = threading.Lock()


def _default() -> Lookups:
    """The lookups of this program: settings from ``ims:*`` stack config, then ``HW_*`` variables.

    Kept for the program process's life, so identical lookups make one set of API calls.
    """
    config = pulumi.Config("ims")
    settings = resolve(lambda key: config.get(key))
    creds = settings.credentials
    key = (settings.endpoint, creds.project_id, creds.mode)
    with _DEFAULTS_LOCK:
        if key not in _DEFAULTS:
            _DEFAULTS[key] = Lookups(ImsClient.from_config(settings), settings.profile)
        return _DEFAULTS[key]


def get_image(*, id: str | None = None, name: str | None = None, name_regex: str | None = None,
              visibility: str | None = None, image_type: str | None = None, os_type: str | None = None,
              platform: str | None = None, os_bit: str | None = None, os_version: str | None = None,
              disk_format: str | None = None, container_format: str | None = None, status: str | None = None,
              owner: str | None = None, member_status: str | None = None, tags: Sequence[str] | None = None,
              tags_any: Sequence[str] | None = None, not_tags: Sequence[str] | None = None,
              properties: Mapping[str, str] | None = None, most_recent: bool = False) -> ImageInfo:
    """The one image matching every given filter (see the README's filter table).

    No match, or several without ``most_recent``, raises :class:`ImageLookupError` with what to change.
    """
    filters = dict(id=id, name=name, name_regex=name_regex, visibility=visibility, image_type=image_type,
                   os_type=os_type, platform=platform, os_bit=os_bit, os_version=os_version, disk_format=disk_format,
                   container_format=container_format, status=status, owner=owner, member_status=member_status,
                   tags=tags, tags_any=tags_any, not_tags=not_tags, properties=properties)
    with _one_line("get_image", filters):
        return find_image(_default(), most_recent=most_recent, **filters)


def get_images(*, id: str | None = None, name: str | None = None, name_regex: str | None = None,
               visibility: str | None = None, image_type: str | None = None, os_type: str | None = None,
               platform: str | None = None, os_bit: str | None = None, os_version: str | None = None,
               disk_format: str | None = None, container_format: str | None = None, status: str | None = None,
               owner: str | None = None, member_status: str | None = None, tags: Sequence[str] | None = None,
               tags_any: Sequence[str] | None = None, not_tags: Sequence[str] | None = None,
               properties: Mapping[str, str] | None = None, sort: str = "created_at:desc",
               limit: int | None = None) -> list[ImageInfo]:
    """Every image matching every given filter, ordered by ``sort`` (``created_at``, ``updated_at`` or
    ``name``, with ``:asc`` or ``:desc``), at most ``limit``."""
    filters = dict(id=id, name=name, name_regex=name_regex, visibility=visibility, image_type=image_type,
                   os_type=os_type, platform=platform, os_bit=os_bit, os_version=os_version, disk_format=disk_format,
                   container_format=container_format, status=status, owner=owner, member_status=member_status,
                   tags=tags, tags_any=tags_any, not_tags=not_tags, properties=properties)
    with _one_line("get_images", filters):
        return find_images(_default(), sort=sort, limit=limit, **filters)


# --- the lookups on plain values: the functions above and the plugin's invokes call these ----------------


def find_image(lookups: Lookups, *, most_recent: bool = False, **filters: Any) -> ImageInfo:
    """:func:`get_image` against ``lookups`` (any expected failure one :class:`ImageLookupError` line)."""
    with _one_line("get_image", filters):
        return lookups.get_image(most_recent=most_recent, **filters)


def find_images(lookups: Lookups, *, sort: str = "created_at:desc", limit: int | None = None,
                **filters: Any) -> list[ImageInfo]:
    """:func:`get_images` against ``lookups``."""
    with _one_line("get_images", filters):
        return lookups.get_images(sort=sort, limit=limit, **filters)


@contextlib.contextmanager
def _one_line(call: str, filters: Mapping[str, Any]) -> Iterator[None]:
    """Any expected failure of a lookup (its settings, a refused request) as an :class:`ImageLookupError`
    naming the lookup: one line in the CLI. Unexpected errors keep their traceback."""
    try:
        yield
    except ImageLookupError:
        raise
    except ImsError as exc:
        raise ImageLookupError(f"{call}({_describe(filters)}): {exc}") from exc






