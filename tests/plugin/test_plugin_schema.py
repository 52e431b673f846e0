"""The plugin's schema is generated from the tables: names, types, required, defaults, secrets,
replaceOnChanges; the checked-in copy matches; the SDK layer the plugin uses is still there."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ims_pulumi.core import lookup
from ims_pulumi.core.config import SETTINGS
from ims_pulumi.core.framework import Role
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.lookup import FILTERS
from ims_pulumi.plugin import schema
from ims_pulumi.plugin.values import Names, schema_name

pytestmark = pytest.mark.unit

CHECKED_IN = Path(schema.__file__).with_name("schema.json")
SPEC = schema.build_schema()
IMAGE = SPEC["resources"]["ims:index:ImageMetadata"]


@pytest.mark.parametrize(("name", "camel"), [
    ("name", "name"),  # one word: as it is
    ("os_version", "osVersion"),  # the issue's examples
    ("min_ram", "minRam"),
    ("tags_any", "tagsAny"),  # lookup arguments follow the same rule
    ("self_link", "selfLink"),
    ("__create_token", "__create_token"),  # bookkeeping: the engine hides "__" keys; never renamed
])
def test_one_naming_rule(name: str, camel: str) -> None:
    assert schema_name(name) == camel


def test_names_round_trip_for_every_field() -> None:
    names = Names.of(IMAGE_METADATA)
    for f in IMAGE_METADATA.fields:
        assert names.table_name(names.engine_name(f.name)) == f.name
    assert names.table_name("noSuchInput") == "noSuchInput", "left for check to name it"


def test_every_declared_input_and_output_is_a_property() -> None:
    assert set(IMAGE["inputProperties"]) == {schema.camel(f.name) for f in IMAGE_METADATA.user_inputs}
    outputs = {schema.camel(f.name) for f in (*IMAGE_METADATA.user_inputs, *IMAGE_METADATA.outputs)}
    assert set(IMAGE["properties"]) == outputs
    assert not any(k.startswith("_") for k in IMAGE["properties"]), "bookkeeping is not part of the schema"
    assert not {schema.camel(f.name) for f in IMAGE_METADATA.infos} & set(IMAGE["properties"]), "lookup-only"


@pytest.mark.parametrize(("prop", "type_", "reason"), [
    ("minDisk", "integer", "Integer kind"),
    ("protected", "boolean", "Boolean kind"),
    ("tags", "array", "StringSet kind"),
    ("properties", "object", "FlatMap kind"),
    ("osVersion", "string", "Text kinds"),
])
def test_types_come_from_the_kinds(prop: str, type_: str, reason: str) -> None:
    assert IMAGE["inputProperties"][prop]["type"] == type_, reason


def test_source_is_an_asset_or_string_input_and_a_map_output() -> None:
    """A string too: the engine refuses an asset of the ``obs`` scheme, so ``obs://bucket/key`` (like a
    path or a URL) travels as a string, as the dynamic provider takes it."""
    assert IMAGE["inputProperties"]["source"]["oneOf"] == [{"$ref": "pulumi.json#/Asset"}, {"type": "string"}]
    assert IMAGE["properties"]["source"]["type"] == "object"


def test_required_defaults_and_replace_on_changes() -> None:
    inputs = IMAGE["inputProperties"]
    assert IMAGE["requiredInputs"] == ["name"]
    assert inputs["minRam"]["default"] == 0 and inputs["protected"]["default"] is False
    assert "default" not in inputs["diskFormat"], "differs between IMS and Glance: no single default"
    replace = {k for k, v in inputs.items() if v.get("replaceOnChanges")}
    assert replace == {"osVersion", "diskFormat", "containerFormat", "minDisk", "minRam", "visibility", "adoptId"}
    assert "protected" not in replace and "tags" not in replace, "in place on some server"
    assert "source" not in replace, "in place while the image is queued"


def test_config_from_settings_with_secrets_and_no_defaults() -> None:
    variables = SPEC["config"]["variables"]
    assert set(variables) == {s.key for s in SETTINGS}
    assert {k for k, v in variables.items() if v.get("secret")} == {s.key for s in SETTINGS if s.secret}
    assert not any("default" in v for v in variables.values()), "an SDK default would hide the HW_* variable"
    assert SPEC["provider"]["inputProperties"] == variables


def test_functions_take_every_filter_of_the_lookup_table() -> None:
    for token in ("ims:index:getImage", "ims:index:getImages"):
        args = SPEC["functions"][token]["inputs"]["properties"]
        assert {schema.camel(f.name) for f in FILTERS} <= set(args)
    assert SPEC["functions"]["ims:index:getImage"]["inputs"]["properties"]["mostRecent"]["type"] == "boolean"
    assert SPEC["functions"]["ims:index:getImages"]["outputs"]["properties"]["images"]["type"] == "array"
    info = SPEC["types"]["ims:index:ImageInfo"]["properties"]
    assert {"osType", "platform", "osBit", "status", "memberStatus"} <= set(info)


def test_member_resources_and_their_import_ids() -> None:
    member = SPEC["resources"]["ims:index:ImageMember"]
    assert member["requiredInputs"] == ["imageId", "memberId"]
    acceptance = SPEC["resources"]["ims:index:ImageMemberAcceptance"]["inputProperties"]
    assert acceptance["status"]["default"] == "accepted" and not acceptance["status"].get("replaceOnChanges")


def test_checked_in_schema_is_current() -> None:
    """Drift: regenerate with `python -m ims_pulumi.plugin.schema --write providers/ims_pulumi/plugin/schema.json`."""
    generated = json.loads(schema.render(schema.build_schema("0.0.0")))
    checked_in = json.loads(CHECKED_IN.read_text())
    checked_in["version"] = generated["version"] = "0.0.0"
    assert checked_in == generated


def test_check_command_reports_drift(tmp_path: Path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    run = subprocess.run([sys.executable, "-m", "ims_pulumi.plugin.schema", "--check", str(stale)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "out of date" in run.stderr


def test_sdk_layer_the_plugin_uses_is_there() -> None:
    """The experimental layer may change with an SDK upgrade: fail here, not in a user's deployment."""
    from pulumi.provider.experimental import provider as p
    from pulumi.provider.experimental.server import ProviderServicer

    for name in ("check", "diff", "create", "read", "update", "delete", "invoke", "get_schema", "configure"):
        assert callable(getattr(p.Provider, name))
    for cls in ("CheckRequest", "DiffResponse", "PropertyDiff", "CreateResponse", "ReadResponse", "InvokeResponse"):
        assert hasattr(p, cls)
    assert ProviderServicer.__init__.__code__.co_varnames[1:5] == ("args", "version", "provider", "engine_address")


def test_role_outputs_never_inputs() -> None:
    outputs = {schema.camel(f.name) for f in IMAGE_METADATA.fields if f.role is Role.OUTPUT}
    assert not outputs & set(IMAGE["inputProperties"])


def test_function_outputs_are_object_specs() -> None:
    """A function's outputs are an object spec: a bare ``$ref`` there reads as an object without properties
    (pulumi-yaml 1.25 crashed on ``${found.id}`` with a nil pointer, found with a YAML program)."""
    for token, fn in SPEC["functions"].items():
        assert "$ref" not in fn["outputs"] and fn["outputs"]["properties"], token
    assert SPEC["functions"]["ims:index:getImage"]["outputs"]["properties"] == \
        SPEC["types"]["ims:index:ImageInfo"]["properties"]


def test_typed_mirrors_match_the_tables() -> None:
    """The lookups' signatures (the functions' arguments in the schema) take every filter row, and
    ImageInfo (their result type) has every output of the ImageMetadata table: a new row shows up in
    the plugin, or this test says where it is missing."""
    filters = {f.name for f in FILTERS}
    assert set(schema.lookup_arguments(lookup.get_image)) == filters | {"most_recent"}
    assert set(schema.lookup_arguments(lookup.get_images)) == filters | {"sort", "limit"}
    info = {f.name for f in dataclasses.fields(lookup.ImageInfo)}
    assert {f.name for f in (*IMAGE_METADATA.outputs, *IMAGE_METADATA.infos)} <= info
