"""An adoption whose declared values contradict the image fails at preview, with the message of
``pulumi up``: ``check`` reads the image once, only when the resource is about to adopt it
(``adopt_id`` known, the adoption not done yet) and credentials are validated (not offline)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.output import Unknown

from harness.pulumi_cli import ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ImsError, NotFound
from ims_pulumi.dynamic.provider import ImageMetadataProvider

pytestmark = pytest.mark.contract

SHOW = "GET /v2/images/{id}"


def provider(emu: Emulator, **extra: str) -> ImageMetadataProvider:
    config, secrets = ims_config(emu.url)
    raw = {k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()} | extra
    return ImageMetadataProvider.with_context(ProviderContext(raw))


@pytest.fixture
def prov(emu: Emulator) -> Iterator[ImageMetadataProvider]:
    p = provider(emu)
    yield p
    p.context.close()


def news(**values: Any) -> dict[str, Any]:
    return {"__create_token": f"tok-{values.get('name')}", **values}


def reads(emu: Emulator) -> int:
    return int(emu.stats()["requests"].get(SHOW, 0))


def test_a_contradicting_adoption_fails_at_check_with_the_message_of_up(prov: ImageMetadataProvider,
                                                                        emu: Emulator) -> None:
    existing = prov.context.client.create_image({"name": "legacy", "disk_format": "qcow2", "min_ram": 2048})
    declared = news(name="legacy", adopt_id=existing["id"], disk_format="raw")
    emu.reset_stats()
    with pytest.raises(ImsError) as at_preview:
        prov.check({}, declared)
    assert reads(emu) == 1, "one read of the adopted image"
    text = str(at_preview.value)
    assert text == (f"adopt image {existing['id']}: these fields cannot be changed in place, declare the image's "
                    "values instead: disk_format: the image has 'qcow2', the program 'raw'; min_ram: the image has "
                    "2048, the program 0 (the default when min_ram is not declared)")
    # the same text as `pulumi up` (create) gives, offline check or not
    offline = provider(emu, skipCredentialsValidation="true")
    inputs = offline.check({}, declared).inputs
    with pytest.raises(ImsError) as at_up:
        offline.create(dict(inputs))
    assert str(at_up.value) == text


def test_an_adoption_of_a_missing_image_fails_at_check(prov: ImageMetadataProvider) -> None:
    with pytest.raises(NotFound, match=r"adopt image 0{8}-0{4}-0{4}-0{4}-0{12} failed: HTTP 404.*Check adopt_id"):
        prov.check({}, news(name="x", adopt_id="00000000-0000-0000-0000-000000000000"))


# (reason, previous inputs, new inputs, reads of the image at check)
NO_READ = [
    ("the adoption is done: the resource exists with this adopt_id", {"name": "a", "adopt_id": "{id}"},
     {"name": "a", "adopt_id": "{id}", "disk_format": "raw"}, 0),
    ("adopt_id added to an existing resource changes nothing", {"name": "a"},
     {"name": "a", "adopt_id": "{id}", "disk_format": "raw"}, 0),
    ("adopt_id not known yet (another resource's output)", {},
     {"name": "a", "adopt_id": Unknown(), "disk_format": "raw"}, 0),
    ("no adopt_id: nothing to read", {}, {"name": "a", "disk_format": "raw"}, 0),
]


@pytest.mark.parametrize("reason,olds,new,expected", NO_READ, ids=[c[0] for c in NO_READ])
def test_check_reads_only_for_an_adoption_to_come(prov: ImageMetadataProvider, emu: Emulator, reason: str,
                                                  olds: dict[str, Any], new: dict[str, Any], expected: int) -> None:
    existing = prov.context.client.create_image({"name": "legacy", "disk_format": "qcow2"})

    def fill(values: dict[str, Any]) -> dict[str, Any]:
        return news(**{k: v.format(id=existing["id"]) if isinstance(v, str) else v for k, v in values.items()})

    prov.context.validate_credentials()
    emu.reset_stats()
    result = prov.check(fill(olds) if olds else {}, fill(new))
    assert not result.failures, reason
    assert reads(emu) == expected, reason


def test_offline_preview_does_not_read(emu: Emulator) -> None:
    offline = provider(emu, skipCredentialsValidation="true")
    existing = offline.context.client.create_image({"name": "legacy", "disk_format": "qcow2"})
    emu.reset_stats()
    result = offline.check({}, news(name="x", adopt_id=existing["id"], disk_format="raw"))
    assert not result.failures and emu.stats()["requests"] == {}, "ims:skipCredentialsValidation: no request"
