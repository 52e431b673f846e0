"""os_version at preview: the built-in table first, then the region's live list, asked once per
provider process; an unreadable list is a warning, never a failure."""

from __future__ import annotations

from typing import Any

import pytest

from harness.pulumi_cli import ims_config
from ims_emulator.process import Emulator
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.dynamic.provider import ImageMetadataProvider

pytestmark = pytest.mark.contract

LIVE_ONLY = "Ubuntu 24.04 server 64bit"  # a current Huawei public OS the built-in table lacks
OS_LIST = "GET /v1/cloudimages/os_version"


def provider(emu: Emulator) -> tuple[ImageMetadataProvider, list[str]]:
    config, secrets = ims_config(emu.url)
    context = ProviderContext({k.removeprefix("ims:"): v for k, v in {**config, **secrets}.items()})
    warnings: list[str] = []
    context.warn = warnings.append  # type: ignore[method-assign]
    return ImageMetadataProvider.with_context(context), warnings


def check(p: ImageMetadataProvider, os_version: str) -> Any:
    return p.check({}, {"name": "os", "os_version": os_version, "__create_token": "o" * 32})


def test_the_built_in_table_needs_no_request(emu: Emulator) -> None:
    p, _ = provider(emu)
    emu.reset_stats()
    assert not check(p, "Ubuntu 22.04 server 64bit").failures
    assert OS_LIST not in emu.stats()["requests"]


def test_a_version_only_the_region_knows_is_accepted_with_one_request(emu: Emulator) -> None:
    p, warnings = provider(emu)
    emu.reset_stats()
    first = check(p, LIVE_ONLY)
    assert not first.failures and first.inputs["os_version"] == LIVE_ONLY
    assert not check(p, LIVE_ONLY.lower()).failures, "matched like the table: case does not matter"
    assert check(p, LIVE_ONLY.lower()).inputs["os_version"] == LIVE_ONLY, "stored as the region spells it"
    assert emu.stats()["requests"].get(OS_LIST) == 1, "read once per provider process"
    assert warnings == []


def test_a_version_nobody_knows_is_refused_with_the_closest_ones(emu: Emulator) -> None:
    p, _ = provider(emu)
    failures = check(p, "Ubuntu 24.10 server 64bit").failures
    assert [f.property for f in failures] == ["os_version"]
    assert "closest: " in failures[0].reason and LIVE_ONLY in failures[0].reason, failures[0].reason


def test_an_unreadable_list_warns_and_lets_the_server_decide(emu: Emulator) -> None:
    p, warnings = provider(emu)
    emu.set_faults([{"kind": "forbidden", "path": "/v1/cloudimages/os_version"}])
    assert not check(p, "Ubuntu 24.10 server 64bit").failures
    assert any("could not be read" in w and "the server decides" in w for w in warnings), warnings
