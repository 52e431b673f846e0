"""The provider's methods in-process against the emulator (no engine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.pulumi_cli import ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ConfigError, ImageProtected
from ims_pulumi.dynamic.provider import ImageMetadataProvider

pytestmark = pytest.mark.contract


def context_for(emu: Emulator) -> ProviderContext:
    """What configure() builds for a stack pointed at the emulator with the demo identity."""
    config, secrets = ims_config(emu.url)
    return ProviderContext({k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()})


@pytest.fixture
def prov(emu: Emulator) -> Iterator[ImageMetadataProvider]:
    context = context_for(emu)
    yield ImageMetadataProvider.with_context(context)
    context.close()


def api(p: ImageMetadataProvider) -> ImsClient:
    return p.context.client


def checked(p: ImageMetadataProvider, **news: Any) -> dict[str, Any]:
    result = p.check({}, {"__create_token": "tok-" + str(news.get("name")), **news})
    assert not result.failures, result.failures
    return dict(result.inputs)


def test_create_read_update_delete(prov: ImageMetadataProvider, emu: Emulator) -> None:
    inputs = checked(prov, name="p1", os_version="Ubuntu 22.04 server 64bit", tags=["a=1"],
                     properties={"team": "x"})
    created = prov.create(inputs)
    outs = created.outs
    assert outs["os_type"] == "Linux" and outs["platform"] == "Ubuntu" and outs["os_bit"] == "64"
    assert outs["properties"] == {"team": "x"}
    assert not {"self_link", "file", "schema"} & set(outs), "derivable from the id: not outputs since 0.3"

    read = prov.read(created.id, outs)
    assert read.id == created.id and read.outs == outs and read.inputs["name"] == "p1"

    news = checked(prov, name="p2", os_version="Ubuntu 22.04 server 64bit", tags=["a=1"],
                   properties={"team": "y", "new": "1"}, description="hello")
    diff = prov.diff(created.id, outs, news)
    assert diff.changes and not diff.replaces
    emu.reset_stats()
    updated = prov.update(created.id, outs, news).outs
    assert emu.stats()["requests"] == {"PATCH /v2/images/{id}": 1}, "one PATCH, no extra reads"
    assert (updated["name"], updated["description"], updated["properties"]) == ("p2", "hello",
                                                                              {"new": "1", "team": "y"})
    assert not prov.diff(created.id, updated, news).changes

    prov.delete(created.id, updated)
    assert prov.read(created.id, updated).id == ""


def test_replace_fields_are_reported(prov: ImageMetadataProvider) -> None:
    inputs = checked(prov, name="r1")
    outs = prov.create(inputs).outs
    diff = prov.diff("x", outs, {**inputs, "disk_format": "qcow2", "min_disk": 10})
    # The replacement gets another create token than the old image: created first (issue 24).
    assert sorted(diff.replaces) == ["disk_format", "min_disk"] and not diff.delete_before_replace


def test_refresh_brings_drift_back_as_inputs(prov: ImageMetadataProvider) -> None:
    created = prov.create(checked(prov, name="d1", properties={"k": "v"}))
    outs = created.outs
    api(prov).update_image(created.id, [{"op": "replace", "path": "/k", "value": "drift"},
                                                              {"op": "add", "path": "/other", "value": "x"}])
    read = prov.read(created.id, outs)
    assert read.inputs["properties"] == {"k": "drift"}, "only managed keys, with the server's value"


def test_adopt_existing_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    existing = api(prov).create_image({"name": "legacy", "disk_format": "qcow2"})
    inputs = checked(prov, name="adopted", adopt_id=existing["id"], disk_format="qcow2")
    created = prov.create(inputs)
    assert created.id == existing["id"] and created.outs["name"] == "adopted"
    assert len(emu.images()) == 1


def test_adopt_refuses_fields_that_would_need_replacement(prov: ImageMetadataProvider) -> None:
    existing = api(prov).create_image({"name": "legacy2", "disk_format": "qcow2"})
    with pytest.raises(Exception, match="disk_format: the image has 'qcow2', the program 'raw'"):
        prov.create(checked(prov, name="x", adopt_id=existing["id"], disk_format="raw"))


def test_protected_delete_fails_and_keeps_the_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    created = prov.create(checked(prov, name="prot", protected=True))
    with pytest.raises(ImageProtected):
        prov.delete(created.id, created.outs)
    assert len(emu.images()) == 1


def test_missing_configuration_fails_check(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bare = ImageMetadataProvider.with_context(ProviderContext({"endpoint": emu.url}))
    with pytest.raises(ConfigError, match=r"ims:accessKey \(HW_ACCESS_KEY\)"):
        bare.check({}, {"name": "x"})


def engine_checks_of_a_replacement(p: ImageMetadataProvider, olds: dict[str, Any],
                                   news: dict[str, Any]) -> dict[str, Any]:
    """What the engine does for a replacement: check with the previous inputs (for the diff),
    then again with none; the second check's inputs go to create()."""
    first = p.check(olds, news)
    assert not first.failures, first.failures
    assert p.diff("id", olds, dict(first.inputs)).replaces
    second = p.check({}, news)
    assert not second.failures, second.failures
    return dict(second.inputs)


def test_replacing_an_adopted_image_creates_a_new_one_even_in_a_new_process(emu: Emulator) -> None:
    """The adoption is derived from the previous inputs at every run, not remembered across
    runs: a replacement whose run died after the delete creates a new image on the next run."""
    first = ImageMetadataProvider.with_context(context_for(emu))
    existing = api(first).create_image({"name": "legacy3", "disk_format": "qcow2"})
    inputs = checked(first, name="legacy3", adopt_id=existing["id"], disk_format="qcow2")
    adopted = first.create(inputs)
    assert adopted.id == existing["id"] and "__adopted" not in inputs

    news = {k: v for k, v in inputs.items() if k != "__adopted"} | {"disk_format": "raw"}
    assert engine_checks_of_a_replacement(first, inputs, news)["__adopted"] is True
    first.delete(existing["id"], adopted.outs)

    # the run dies here; the next `pulumi up` is a new provider process
    second = ImageMetadataProvider.with_context(context_for(emu))
    created = second.create(engine_checks_of_a_replacement(second, inputs, news))
    live = [i for i in emu.images() if i.get("status") not in ("deleted", "killed", "pending_delete")]
    assert [i["id"] for i in live] == [created.id] and created.id != existing["id"]
    assert created.outs["disk_format"] == "raw" and created.outs["adopt_id"] == existing["id"]


def test_changing_adopt_id_adopts_the_other_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    one = api(prov).create_image({"name": "one", "disk_format": "qcow2"})
    two = api(prov).create_image({"name": "two", "disk_format": "qcow2"})
    inputs = checked(prov, name="one", adopt_id=one["id"], disk_format="qcow2")
    prov.create(inputs)
    news = engine_checks_of_a_replacement(prov, inputs, {**inputs, "name": "two", "adopt_id": two["id"]})
    assert "__adopted" not in news
    assert prov.create(news).id == two["id"]


def test_lost_patch_response_converges_with_one_patch_applied(prov: ImageMetadataProvider, emu: Emulator) -> None:
    created = prov.create(checked(prov, name="lp", properties={"k": "v"}))
    outs, image_id = created.outs, created.id
    news = checked(prov, name="lp2", properties={"k": "w", "n": "1"})
    emu.set_faults([{"kind": "drop_response", "method": "PATCH", "count": 1}])
    emu.reset_stats()
    updated = prov.update(image_id, outs, news).outs
    assert (updated["name"], updated["properties"]) == ("lp2", {"k": "w", "n": "1"})
    requests = emu.stats()["requests"]
    # the PATCH was applied once but its response lost; the re-read shows nothing left to do
    assert requests.get("PATCH /v2/images/{id}") == 1, requests
    assert requests.get("GET /v2/images/{id}", 0) >= 1, requests
    assert len(emu.images()) == 1


def test_conflict_from_stale_state_is_resolved_from_the_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    created = prov.create(checked(prov, name="st", properties={"k": "v", "gone": "x"}))
    outs, image_id = created.outs, created.id
    # someone else changed the image since the last refresh: the state is stale
    api(prov).update_image(image_id, [{"op": "remove", "path": "/gone"}, {"op": "add", "path": "/extra", "value": "1"}])
    news = checked(prov, name="st", properties={"k": "v", "gone": "y", "extra": "2"})
    emu.reset_stats()
    updated = prov.update(image_id, outs, news).outs
    assert updated["properties"] == {"extra": "2", "gone": "y", "k": "v"}
    requests = emu.stats()["requests"]
    assert requests.get("PATCH /v2/images/{id}") == 2, "the first PATCH hit 409, the second came from the image"
    image = api(prov).get_image(image_id)
    assert image is not None and (image["gone"], image["extra"]) == ("y", "2")


def test_adoption_mismatch_names_a_default_the_program_did_not_declare(prov: ImageMetadataProvider) -> None:
    existing = api(prov).create_image({"name": "legacy4", "disk_format": "qcow2", "min_ram": 2048})
    with pytest.raises(Exception, match=r"min_ram: the image has 2048, the program 0 \(the default when min_ram is not "
                                         r"declared\)"):
        prov.create(checked(prov, name="x", adopt_id=existing["id"], disk_format="qcow2"))
