"""The plugin's Provider methods against the emulator, called as the engine calls them: the same
behaviour as the dynamic provider (tests/contract/test_provider.py), in the schema's names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import rpc

from ims_emulator.process import Emulator
from ims_pulumi.core.errors import ImsError
from ims_pulumi.core.lookup import ImageLookupError
from tests.emulator.projects import MEMBER as MEMBER_PROJECT
from tests.emulator.projects import MEMBER_AK, MEMBER_SK, OWNER, OWNER_AK, OWNER_SK, SHARING_ARGS
from tests.plugin.plugin_driver import Driver, plain

pytestmark = pytest.mark.contract

IMAGE = "ims:index:ImageMetadata"
MEMBER = "ims:index:ImageMember"
ACCEPT = "ims:index:ImageMemberAcceptance"


@pytest.fixture
def drv(emu: Emulator) -> Driver:
    return Driver(emu.url)


def test_create_read_update_delete_in_schema_names(drv: Driver, emu: Emulator) -> None:
    inputs = drv.checked(IMAGE, "p1", {"name": "p1", "osVersion": "Ubuntu 22.04 server 64bit", "minRam": 1024.0,
                                       "tags": ["a=1"], "properties": {"team": "x"}})
    assert "__create_token" in inputs, "the create token's base comes from the URN"
    created = drv.create(IMAGE, "p1", inputs)
    outs = plain(created.properties)
    assert (outs["osType"], outs["platform"], outs["osBit"], outs["status"]) == ("Linux", "Ubuntu", "64", "queued")
    assert outs["minRam"] == 1024 and isinstance(created.properties["minRam"].value, float), "numbers as floats"

    read = drv.read(IMAGE, "p1", created.resource_id, created.properties)
    assert read.resource_id == created.resource_id and plain(read.properties) == outs

    news = drv.checked(IMAGE, "p1", {"name": "p2", "osVersion": "Ubuntu 22.04 server 64bit", "minRam": 1024.0,
                                     "tags": ["a=1"], "properties": {"team": "y"}}, olds=plain(inputs))
    diff = drv.diff(IMAGE, "p1", created.resource_id, created.properties, news)
    assert diff.changes and diff.diffs == ["name", "properties"] and not diff.replaces
    updated = drv.update(IMAGE, "p1", created.resource_id, created.properties, news)
    assert plain(updated.properties)["name"] == "p2"
    assert not drv.diff(IMAGE, "p1", created.resource_id, updated.properties, news).changes

    drv.delete(IMAGE, "p1", created.resource_id, updated.properties)
    assert drv.read(IMAGE, "p1", created.resource_id, updated.properties).resource_id == ""
    assert emu.images() == []


def test_replacement_fields_in_schema_names(drv: Driver) -> None:
    inputs = drv.checked(IMAGE, "r1", {"name": "r1"})
    created = drv.create(IMAGE, "r1", inputs)
    news = drv.checked(IMAGE, "r1", {"name": "r1", "diskFormat": "qcow2", "minDisk": 10.0}, olds=plain(inputs))
    diff = drv.diff(IMAGE, "r1", created.resource_id, created.properties, news)
    assert sorted(diff.replaces) == ["diskFormat", "minDisk"] and not diff.delete_before_replace


def test_check_failures_carry_schema_names_and_the_same_texts(drv: Driver) -> None:
    resp = drv.check(IMAGE, "bad", {"name": "ok", "minDisk": 5000.0, "visibility": "everyone"})
    got = {f.property: f.reason for f in resp.failures}
    assert set(got) == {"minDisk", "visibility"}
    assert got["minDisk"].startswith("min_disk 5000 must be")


def test_preview_create_has_unknown_outputs_and_known_inputs(drv: Driver, emu: Emulator) -> None:
    inputs = drv.checked(IMAGE, "pv", {"name": "pv"})
    created = drv.create(IMAGE, "pv", inputs, preview=True)
    assert created.resource_id == ""
    assert created.properties["status"].value == rpc.UNKNOWN, "the engine's sentinel, not PropertyValue.computed()"
    assert created.properties["name"].value == "pv"
    assert emu.images() == [], "a preview creates nothing"


def test_unknown_inputs_pass_check_and_diff(drv: Driver) -> None:
    inputs = drv.checked(IMAGE, "u", {"name": "u"})
    created = drv.create(IMAGE, "u", inputs)
    news = drv.checked(IMAGE, "u", {"name": rpc.UNKNOWN}, olds=plain(inputs))
    assert news["name"].value == rpc.UNKNOWN
    diff = drv.diff(IMAGE, "u", created.resource_id, created.properties, news)
    assert diff.changes and diff.diffs == ["name"]


def test_import_reads_inputs_so_the_next_preview_is_clean(drv: Driver, emu: Emulator) -> None:
    existing = Driver(emu.url).provider.context.client.create_image(
        {"name": "legacy", "disk_format": "qcow2", "min_disk": 20, "tags": ["t=1"]})
    read = drv.read(IMAGE, "imported", existing["id"])  # what `pulumi import` sends: the id alone
    inputs = plain(read.inputs)
    assert (inputs["name"], inputs["diskFormat"], inputs["minDisk"], inputs["tags"]) == ("legacy", "qcow2", 20, ["t=1"])
    # the generated code declares those inputs; the engine checks them against the read inputs, then diffs
    news = drv.checked(IMAGE, "imported", inputs, olds=inputs)
    assert not drv.diff(IMAGE, "imported", existing["id"], read.properties, news).changes


def test_source_asset_is_uploaded_and_verified(drv: Driver, emu: Emulator, tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb" + b"\0" * 4096)
    inputs = drv.checked(IMAGE, "up", {"name": "up", "diskFormat": "qcow2", "source": pulumi.FileAsset(str(disk))})
    source = plain(inputs)["source"]
    assert source["kind"] == "file" and source["size"] == 4100, "described as the dynamic resource class does"
    created = drv.create(IMAGE, "up", inputs)
    assert plain(created.properties)["status"] == "active"
    again = drv.checked(IMAGE, "up", {"name": "up", "diskFormat": "qcow2", "source": pulumi.FileAsset(str(disk))},
                        olds=plain(inputs))
    assert not drv.diff(IMAGE, "up", created.resource_id, created.properties, again).changes


@pytest.fixture(scope="module")
def sharing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(tmp_path_factory.mktemp("sharing"), *SHARING_ARGS) as emu:
        yield emu


def test_member_create_import_by_image_and_member_id_delete(sharing: Emulator) -> None:
    drv = Driver(sharing.url, {"projectId": OWNER, "accessKey": OWNER_AK, "secretKey": OWNER_SK})
    image = drv.provider.context.client.create_image({"name": "shared"})
    inputs = drv.checked(MEMBER, "m", {"imageId": image["id"], "memberId": MEMBER_PROJECT})
    created = drv.create(MEMBER, "m", inputs)
    assert created.resource_id == f"{image['id']}/{MEMBER_PROJECT}"
    read = drv.read(MEMBER, "m2", created.resource_id)  # `pulumi import ims:index:ImageMember m2 IMAGE/MEMBER`
    assert plain(read.inputs) == {"imageId": image["id"], "memberId": MEMBER_PROJECT}
    assert plain(read.properties)["status"] == "pending"
    drv.delete(MEMBER, "m", created.resource_id, created.properties)
    assert drv.read(MEMBER, "m", created.resource_id, created.properties).resource_id == ""


def test_invokes_get_image_and_get_images(drv: Driver) -> None:
    api = drv.provider.context.client
    for name in ("look-a", "look-b"):
        api.create_image({"name": name, "tags": ["team=x"]})
    one = drv.invoke("ims:index:getImage", {"name": "look-a"})
    assert plain(one.return_value)["name"] == "look-a" and "osVersion" in one.return_value
    many = drv.invoke("ims:index:getImages", {"tags": ["team=x"], "sort": "name:asc"})
    assert [i["name"] for i in plain(many.return_value)["images"]] == ["look-a", "look-b"]
    with pytest.raises(ImageLookupError, match=r"2 images match tags=\['team=x'\]"):
        drv.invoke("ims:index:getImage", {"tags": ["team=x"]})
    bad = drv.invoke("ims:index:getImage", {"nmae": "x"})
    assert bad.failures and "unknown argument 'nmae'" in bad.failures[0].reason


def test_explicit_providers_each_use_their_own_configuration(emu: Emulator) -> None:
    good, broken = Driver(emu.url), Driver(emu.url, {"endpoint": "not a url"})
    assert not good.check(IMAGE, "a", {"name": "a"}).failures
    with pytest.raises(ImsError, match=r"ims:endpoint \(HW_IMS_ENDPOINT\) must be an http\(s\) URL"):
        broken.check(IMAGE, "a", {"name": "a"})


def test_acceptance_accept_then_reject_in_place(sharing: Emulator) -> None:
    owner = Driver(sharing.url, {"projectId": OWNER, "accessKey": OWNER_AK, "secretKey": OWNER_SK})
    member = Driver(sharing.url, {"projectId": MEMBER_PROJECT, "accessKey": MEMBER_AK, "secretKey": MEMBER_SK})
    image = owner.provider.context.client.create_image({"name": "to-accept"})
    owner.create(MEMBER, "share", owner.checked(MEMBER, "share", {"imageId": image["id"],
                                                                   "memberId": MEMBER_PROJECT}))
    inputs = member.checked(ACCEPT, "ok", {"imageId": image["id"]})
    assert plain(inputs)["memberId"] == MEMBER_PROJECT, "defaults to the provider's ims:projectId"
    created = member.create(ACCEPT, "ok", inputs)
    assert plain(created.properties)["status"] == "accepted"
    news = member.checked(ACCEPT, "ok", {"imageId": image["id"], "status": "rejected"}, olds=plain(inputs))
    diff = member.diff(ACCEPT, "ok", created.resource_id, created.properties, news)
    assert diff.diffs == ["status"] and not diff.replaces
    updated = member.update(ACCEPT, "ok", created.resource_id, created.properties, news)
    assert plain(updated.properties)["status"] == "rejected"
    member.delete(ACCEPT, "ok", created.resource_id, updated.properties)


def test_import_knows_no_source_and_a_new_one_on_an_active_image_replaces(drv: Driver, tmp_path: Path) -> None:
    """README 'Any language': an import reads no `source`; declaring one on an active image replaces it."""
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb" + b"\0" * 1024)
    made = drv.create(IMAGE, "orig", drv.checked(IMAGE, "orig", {"name": "full", "diskFormat": "qcow2",
                                                                 "source": pulumi.FileAsset(str(disk))}))
    read = drv.read(IMAGE, "imported", made.resource_id)
    assert "source" not in read.inputs and plain(read.properties)["status"] == "active"
    news = drv.checked(IMAGE, "imported", {**plain(read.inputs), "source": pulumi.FileAsset(str(disk))},
                       olds=plain(read.inputs))
    assert drv.diff(IMAGE, "imported", made.resource_id, read.properties, news).replaces == ["source"]


def test_import_reads_custom_attributes_back(drv: Driver) -> None:
    """The image's custom attributes are inputs of the import (not the server's own attributes), so a
    program that declares them previews with no changes (tests/plugin/test_migration.py, custom-properties)."""
    made = drv.provider.context.client.create_image({"name": "with-props"})
    drv.provider.context.client.update_image(made["id"], [{"op": "add", "path": "/team", "value": "web"},
                                                          {"op": "add", "path": "/tier", "value": "1"}])
    read = drv.read(IMAGE, "imported", made["id"])
    assert plain(read.inputs)["properties"] == {"team": "web", "tier": "1"}
    assert plain(read.properties)["properties"] == {"team": "web", "tier": "1"}
    news = drv.checked(IMAGE, "imported", plain(read.inputs), olds=plain(read.inputs))
    assert not drv.diff(IMAGE, "imported", made["id"], read.properties, news).changes
