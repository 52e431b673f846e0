"""The provider's methods in-process against the emulator (no engine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ims_pulumi import provider as provider_module
from ims_pulumi.errors import ConfigError, ImageProtected
from ims_pulumi.provider import ImageMetadataProvider
from tests.conftest import ims_config
from tests.support.emulator import Emulator

pytestmark = pytest.mark.contract


@pytest.fixture
def prov(emu: Emulator) -> Iterator[ImageMetadataProvider]:
    config, secrets = ims_config(emu.url)
    provider_module.use_config({k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()})
    yield ImageMetadataProvider()
    provider_module.use_config()


def checked(p: ImageMetadataProvider, **news: Any) -> dict[str, Any]:
    result = p.check({}, {"create_token": "tok-" + str(news.get("name")), **news})
    assert not result.failures, result.failures
    return dict(result.inputs)


def test_create_read_update_delete(prov: ImageMetadataProvider, emu: Emulator) -> None:
    inputs = checked(prov, name="p1", os_version="Ubuntu 22.04 server 64bit", tags=["a=1"],
                     properties={"team": "x"})
    created = prov.create(inputs)
    outs = created.outs
    assert outs["os_type"] == "Linux" and outs["platform"] == "Ubuntu" and outs["os_bit"] == "64"
    assert outs["self_link"] == f"/v2/images/{created.id}" and outs["properties"] == {"team": "x"}

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
    assert sorted(diff.replaces) == ["disk_format", "min_disk"] and diff.delete_before_replace


def test_refresh_brings_drift_back_as_inputs(prov: ImageMetadataProvider) -> None:
    from ims_pulumi.provider import _api

    outs = prov.create(checked(prov, name="d1", properties={"k": "v"})).outs
    _api().update_image(outs["self_link"].rsplit("/", 1)[1], [{"op": "replace", "path": "/k", "value": "drift"},
                                                              {"op": "add", "path": "/other", "value": "x"}])
    read = prov.read(outs["self_link"].rsplit("/", 1)[1], outs)
    assert read.inputs["properties"] == {"k": "drift"}, "only managed keys, with the server's value"


def test_adopt_existing_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    from ims_pulumi.provider import _api

    existing = _api().create_image({"name": "legacy", "disk_format": "qcow2"})
    inputs = checked(prov, name="adopted", adopt_id=existing["id"], disk_format="qcow2")
    created = prov.create(inputs)
    assert created.id == existing["id"] and created.outs["name"] == "adopted"
    assert len(emu.images()) == 1


def test_adopt_refuses_fields_that_would_need_replacement(prov: ImageMetadataProvider) -> None:
    from ims_pulumi.provider import _api

    existing = _api().create_image({"name": "legacy2", "disk_format": "qcow2"})
    with pytest.raises(Exception, match="disk_format: image has 'qcow2', declared 'raw'"):
        prov.create(checked(prov, name="x", adopt_id=existing["id"], disk_format="raw"))


def test_protected_delete_fails_and_keeps_the_image(prov: ImageMetadataProvider, emu: Emulator) -> None:
    created = prov.create(checked(prov, name="prot", protected=True))
    with pytest.raises(ImageProtected):
        prov.delete(created.id, created.outs)
    assert len(emu.images()) == 1


def test_missing_configuration_fails_check(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    provider_module.use_config({"endpoint": emu.url})
    try:
        with pytest.raises(ConfigError, match=r"ims:accessKey \(HW_ACCESS_KEY\)"):
            ImageMetadataProvider().check({}, {"name": "x"})
    finally:
        provider_module.use_config()
