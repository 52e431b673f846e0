"""Values between the engine and the tables: floats, unknowns, secrets, assets (plugin-notes.md's gotchas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime import rpc

from ims_pulumi.core import content
from ims_pulumi.core.framework import is_unknown
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.dynamic.resource import source_props
from ims_pulumi.plugin.values import Names, described_sources, engine_props, from_plain, to_plain

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("engine", "plain", "reason"), [
    (PropertyValue(7.0), 7, "a schema integer arrives as a float"),
    (PropertyValue(7.5), 7.5, "a real float stays one"),
    (PropertyValue(True), True, "bool is not a number"),
    (PropertyValue([PropertyValue("a")]), ["a"], "lists are lists, not tuples"),
    (PropertyValue({"k": PropertyValue("v")}), {"k": "v"}, "maps are dicts"),
    (PropertyValue(None), None, "null"),
])
def test_to_plain(engine: PropertyValue, plain: Any, reason: str) -> None:
    got = to_plain(engine)
    assert got == plain and type(got) is type(plain), reason


@pytest.mark.parametrize("engine", [PropertyValue(rpc.UNKNOWN), PropertyValue.computed()])
def test_unknowns_become_the_tables_placeholder(engine: PropertyValue) -> None:
    assert is_unknown(to_plain(engine))


def test_from_plain_sends_floats_and_the_unknown_sentinel() -> None:
    assert from_plain(5).value == 5.0 and isinstance(from_plain(5).value, float)
    assert from_plain(True).value is True
    assert from_plain(to_plain(PropertyValue(rpc.UNKNOWN))).value == rpc.UNKNOWN
    assert from_plain(("a", "b")).value == (PropertyValue("a"), PropertyValue("b"))


def test_engine_props_mark_secrets() -> None:
    names = Names.of(IMAGE_METADATA)
    out = engine_props(names, IMAGE_METADATA, {"name": "n", content.SECRET_URL_KEY: "https://u:p@h/x", "min_ram": 1},
                       secrets={"name"})
    assert out["name"].is_secret, "the program's secret stays secret"
    assert out[content.SECRET_URL_KEY].is_secret, "a URL's secret parts: secret by their kind"
    assert not out["minRam"].is_secret and out["minRam"].value == 1.0


def test_assets_are_described_like_the_dynamic_resource_class(tmp_path: Path) -> None:
    disk = tmp_path / "d.img"
    disk.write_bytes(b"x" * 10)
    got = described_sources(IMAGE_METADATA, {"source": pulumi.FileAsset(str(disk)), "name": "n"})
    assert got["source"] == content.describe(str(disk)) and got["name"] == "n"
    url = described_sources(IMAGE_METADATA, {"source": pulumi.RemoteAsset("https://user:pw@example.com/a.qcow2?sig=1")})
    assert "pw" not in str(url["source"]) and url[content.SECRET_URL_KEY].endswith("?sig=1")


@pytest.mark.parametrize(("checksum", "reason"), [
    ("sha256:" + "ab" * 32, "a declared checksum makes the bytes part of a URL's identity: changing it replaces"),
    (None, "without one, the URL's redacted location is its identity"),
    ("md5:short", "an invalid checksum adds nothing (check reports it)"),
])
def test_a_url_is_identified_as_the_dynamic_resource_class_identifies_it(checksum: str | None, reason: str) -> None:
    url = "https://example.com/disk.qcow2"
    values: dict[str, Any] = {"source": pulumi.RemoteAsset(url), **({"checksum": checksum} if checksum else {})}
    assert described_sources(IMAGE_METADATA, values)["source"] == source_props(pulumi.RemoteAsset(url), checksum)["source"], reason


@pytest.mark.parametrize(("source", "checksum", "reason"), [
    ("obs://bucket/images/disk.qcow2", None, "an OBS object: the engine refuses an asset of that scheme, so a string"),
    ("obs://bucket/images/disk.qcow2", "md5:" + "ab" * 16, "a declared checksum is part of an OBS object's identity"),
    ("https://user:pw@example.com/a.qcow2?sig=1", None, "a URL string: redacted, its secret parts apart"),
    ("PATH", None, "a path string: identified by the file's bytes"),
    ("MISSING", None, "a missing file: described as missing, check names it"),
])
def test_a_string_source_is_described_like_the_dynamic_resource_class(tmp_path: Path, source: str,
                                                                       checksum: str | None, reason: str) -> None:
    disk = tmp_path / "d.img"
    disk.write_bytes(b"x" * 512)
    source = {"PATH": str(disk), "MISSING": str(tmp_path / "gone.img")}.get(source, source)
    values: dict[str, Any] = {"source": source, "name": "n", **({"checksum": checksum} if checksum else {})}
    got = described_sources(IMAGE_METADATA, values)
    # the dynamic resource class's source_props registers content.describe's map, and the URL's secret
    # parts as a secret Output (not made here: an Output needs the program's event loop)
    assert got["source"] == content.describe(source, checksum), reason
    assert got.get(content.SECRET_URL_KEY) == content.secret_url(source), reason
    assert got["name"] == "n"


def test_only_content_sources_are_described() -> None:
    """A string in another field (a name that looks like a URL) stays as the program gave it."""
    values = {"name": "obs://not-a-source", "source": None}
    assert described_sources(IMAGE_METADATA, values) == values
