"""The Pulumi package schema of the ``ims`` provider plugin, generated from the tables.

Nothing here is written per field: every resource property comes from a row of its table
(:mod:`ims_pulumi.core.image_metadata`, :mod:`ims_pulumi.sharing`), every function argument from the
signature of the lookup (:func:`ims_pulumi.core.lookup.get_image`) and the filter table, every result
property from :class:`ims_pulumi.core.lookup.ImageInfo`, and the provider's configuration from
:data:`ims_pulumi.core.config.SETTINGS`. Names follow Pulumi's convention: the tables' snake_case
names in camelCase (:func:`camel`), which the generated Python SDK maps back to snake_case.

``python -m ims_pulumi.plugin.schema`` prints the schema as JSON; ``--check FILE`` compares it
with a checked-in copy and ``--write FILE`` refreshes that copy (the drift test uses both).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ..core import lookup
from ..core.config import SETTINGS
from ..core.framework import Apply, Field, Table
from ..core.image_metadata import IMAGE_METADATA
from ..core.profiles import PROFILES
from ..core.sharing import IMAGE_MEMBER, IMAGE_MEMBER_ACCEPTANCE

PACKAGE = "ims"
DISTRIBUTION = "pulumi-ims-image-metadata"
#: Resource tokens and the table each one serves.
RESOURCES: dict[str, Table] = {
    f"{PACKAGE}:index:ImageMetadata": IMAGE_METADATA,
    f"{PACKAGE}:index:ImageMember": IMAGE_MEMBER,
    f"{PACKAGE}:index:ImageMemberAcceptance": IMAGE_MEMBER_ACCEPTANCE,
}
#: Function tokens and the lookup whose signature gives their arguments.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    f"{PACKAGE}:index:getImage": lookup.get_image,
    f"{PACKAGE}:index:getImages": lookup.get_images,
}
IMAGE_INFO_TYPE = f"{PACKAGE}:index:ImageInfo"
#: The result property of ``getImages`` (a list of ImageInfo).
IMAGES_RESULT = "images"
#: Docs of the lookup arguments that are not filters (the filters' docs are in ``lookup.FILTERS``).
_OPTION_DOCS = {
    "most_recent": "With several matches, take the newest (by `created_at`) instead of failing.",
    "sort": "Order: `created_at`, `updated_at` or `name`, with an optional `:asc` or `:desc`.",
    "limit": "At most this many images.",
}
#: Docs of ImageInfo fields that are not fields of the ImageMetadata table.
_INFO_DOCS = {
    "id": "Image id.",
    "self_link": "The image's API path (`self`).",
    "file": "The image file's API path.",
    "schema": "The image schema's API path.",
    "member_status": "This project's membership of a shared image (`pending`, `accepted`, `rejected`), else empty.",
}
#: Schema types of the kinds' ``type_name`` (what a kind holds, as its README column shows it).
_KIND_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "dict[str, str]": {"type": "object", "additionalProperties": {"type": "string"}},
}
#: A content source: an asset or a string (a path, a URL, ``obs://bucket/key``: the engine refuses an
#: asset of that scheme) as an input; as an output, the map that identifies its bytes.
_SOURCE_KIND = "FileAsset | RemoteAsset | str"
_SOURCE_INPUT = {"oneOf": [{"$ref": "pulumi.json#/Asset"}, {"type": "string"}]}
_SOURCE_OUTPUT = {"type": "object", "additionalProperties": {"$ref": "pulumi.json#/Any"}}


def camel(name: str) -> str:
    """The schema name of a table or lookup name: ``os_version`` -> ``osVersion`` (one rule for all)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def version() -> str:
    """The package version (the installed distribution's, as ``pip`` records it)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def _kind_type(f: Field, *, output: bool) -> dict[str, Any]:
    type_name = f.kind.type_name
    if type_name == _SOURCE_KIND:
        spec: dict[str, Any] = json.loads(json.dumps(_SOURCE_OUTPUT if output else _SOURCE_INPUT))  # a deep copy
        return spec
    return dict(_KIND_TYPES[type_name])


def _default(f: Field) -> Any:
    """A field's default when it is one plain value on every server profile, else ``None``."""
    if f.default is None or f.required:
        return None
    values = {json.dumps(f.default(p)) for p in PROFILES.values()}
    if len(values) != 1:
        return None
    value = json.loads(values.pop())
    return value if isinstance(value, (bool, int, float)) or (isinstance(value, str) and value) else None


def always_replaces(f: Field) -> bool:
    """A change of ``f`` replaces the resource on every server and in every state."""
    return not f.change.needs_state and all(f.change.apply(p) is Apply.REPLACE for p in PROFILES.values())


def _property(f: Field, *, output: bool) -> dict[str, Any]:
    spec = _kind_type(f, output=output)
    spec["description"] = f.doc
    if not output:
        default = _default(f)
        if default is not None:
            spec["default"] = default
        if always_replaces(f):
            spec["replaceOnChanges"] = True
    return spec


def schema_fields(table: Table) -> tuple[tuple[Field, ...], tuple[Field, ...]]:
    """The fields a resource shows in the schema: its declared inputs, and inputs plus outputs as its
    properties (bookkeeping is the provider's own, in the state but never in the schema)."""
    return table.user_inputs, (*table.user_inputs, *table.outputs)


def resource_spec(table: Table) -> dict[str, Any]:
    """The schema of one resource from its table."""
    inputs, outputs = schema_fields(table)
    return {
        "description": f"{table.resource}: the same table as the dynamic provider's `{table.resource}`.",
        "inputProperties": {camel(f.name): _property(f, output=False) for f in inputs},
        "requiredInputs": [camel(f.name) for f in inputs if f.required],
        "properties": {camel(f.name): _property(f, output=True) for f in outputs},
        "required": [camel(f.name) for f in outputs if f.required],
    }


def _python_type(hint: Any) -> dict[str, Any]:
    """The schema type of a lookup argument's or ImageInfo field's annotation."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _python_type(args[0])
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if origin in (Sequence, tuple, list, typing.get_origin(Sequence[str])):
        return {"type": "array", "items": _python_type(args[0])}
    if origin in (Mapping, dict, typing.get_origin(Mapping[str, str])):
        return {"type": "object", "additionalProperties": _python_type(args[1])}
    raise TypeError(f"no schema type for {hint!r}")


def lookup_arguments(function: Callable[..., Any]) -> dict[str, Any]:
    """The keyword arguments of a lookup function with their defaults (its signature is the source)."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _function_inputs(function: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(function)
    props: dict[str, Any] = {}
    for name, default in lookup_arguments(function).items():
        spec = _python_type(hints[name])
        f = lookup.FILTERS_BY_NAME.get(name)
        spec["description"] = f.doc if f is not None else _OPTION_DOCS[name]
        if default is not None:
            spec["default"] = default
        props[camel(name)] = spec
    return {"properties": props, "type": "object"}


def image_info_spec() -> dict[str, Any]:
    """The object type of one image a lookup returns (:class:`ims_pulumi.core.lookup.ImageInfo`)."""
    hints = typing.get_type_hints(lookup.ImageInfo)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(lookup.ImageInfo):
        spec = _python_type(hints[f.name])
        row = IMAGE_METADATA.by_name.get(f.name)
        spec["description"] = row.doc if row is not None else _INFO_DOCS[f.name]
        props[camel(f.name)] = spec
        if type(None) not in typing.get_args(hints[f.name]):
            required.append(camel(f.name))
    return {"type": "object", "description": "One image as a lookup returns it.", "properties": props,
            "required": required}


def function_spec(token: str, function: Callable[..., Any]) -> dict[str, Any]:
    """The schema of one function (invoke) from its lookup."""
    ref = {"$ref": f"#/types/{IMAGE_INFO_TYPE}"}
    if typing.get_type_hints(function)["return"] is lookup.ImageInfo:
        # a function's outputs are an object spec (a bare $ref is read as an object without properties)
        outputs: dict[str, Any] = image_info_spec()
    else:
        outputs = {"type": "object", "properties": {IMAGES_RESULT: {
            "type": "array", "items": ref, "description": "The matching images, in the requested order."}},
            "required": [IMAGES_RESULT]}
    return {"description": (inspect.getdoc(function) or "").split("\n\n")[0].replace("``", "`"),
            "inputs": _function_inputs(function), "outputs": outputs}


def config_spec() -> dict[str, Any]:
    """The provider's configuration (``ims:*`` keys, ``HW_*`` variables) from :data:`SETTINGS`."""
    variables: dict[str, Any] = {}
    for s in SETTINGS:
        # No schema ``default``: an SDK would send it explicitly and hide the ``HW_*`` variable.
        default = f" Default `{s.default}`." if s.default else ""
        spec: dict[str, Any] = {"type": "string", "description": f"{s.doc}{default} Environment variable `{s.env}`."}
        if s.secret:
            spec["secret"] = True
        variables[s.key] = spec
    return variables


def build_schema(package_version: str | None = None) -> dict[str, Any]:
    """The whole package schema (what ``GetSchema`` returns)."""
    variables = config_spec()
    return {
        "name": PACKAGE,
        "displayName": "Huawei Cloud IMS image metadata",
        "version": package_version or version(),
        "description": "Image metadata, content and sharing in Huawei Cloud IMS or an OpenStack Glance (v2 API).",
        "keywords": ["pulumi", "huaweicloud", "ims", "glance", "openstack", "category/cloud"],
        "license": "Apache-2.0",
        "config": {"variables": variables},
        "provider": {
            "description": "The ims provider: one endpoint and set of credentials (explicit instances for several).",
            "inputProperties": variables,
        },
        "resources": {token: resource_spec(table) for token, table in RESOURCES.items()},
        "functions": {token: function_spec(token, fn) for token, fn in FUNCTIONS.items()},
        "types": {IMAGE_INFO_TYPE: image_info_spec()},
        "language": {
            "python": {"packageName": "pulumi_ims", "respectSchemaVersion": True,
                       "requires": {"pulumi": ">=3.0.0,<4.0.0"}},
            "nodejs": {"packageName": "@ims/pulumi", "respectSchemaVersion": True},
            "go": {"importBasePath": "github.com/ims/pulumi-ims/sdk/go/ims", "respectSchemaVersion": True,
                   "generateResourceContainerTypes": True},
        },
    }


def render(schema: Mapping[str, Any]) -> str:
    """The schema as the checked-in JSON file holds it (stable key order, two-space indent)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the schema, or check/refresh a checked-in copy (``--check FILE`` / ``--write FILE``)."""
    parser = argparse.ArgumentParser(prog="python -m ims_pulumi.plugin.schema", description=main.__doc__)
    parser.add_argument("--check", metavar="FILE", help="exit 1 if FILE differs from the generated schema")
    parser.add_argument("--write", metavar="FILE", help="write the generated schema to FILE")
    parser.add_argument("--version", dest="package_version", help="the version to put in the schema")
    args = parser.parse_args(argv)
    text = render(build_schema(args.package_version))
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        if Path(args.check).read_text(encoding="utf-8") != text:
            print(f"{args.check} is out of date: run `python -m ims_pulumi.plugin.schema --write {args.check}`",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
