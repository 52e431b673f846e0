"""``ims-os-versions``: the os_version values to declare, from the built-in table or a server's list."""

from __future__ import annotations

import json

import pytest

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core import os_versions

pytestmark = pytest.mark.contract

LIVE_ONLY = "Ubuntu 24.04 server 64bit"  # in the emulator's region list, not in the built-in table


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = os_versions.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.unit
def test_without_a_server_the_built_in_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["os_version"] for r in rows] == [r.version for r in os_versions.OS_VERSIONS]
    assert {"os_version": "Ubuntu 22.04 server 64bit", "platform": "Ubuntu", "os_type": "Linux",
            "os_bit": "64"} in rows
    code, out, err = run(capsys)
    assert out.splitlines()[0].split() == ["os_version", "platform", "os_type", "os_bit"]
    assert len(out.splitlines()) == len(os_versions.OS_VERSIONS) + 1
    assert "built-in table" in err and "--server" in err


def test_with_a_server_the_regions_list(capsys: pytest.CaptureFixture[str], emu: Emulator,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("HW_PROJECT_ID", DEMO_PROJECT_ID), ("HW_ACCESS_KEY", DEMO_AK), ("HW_SECRET_KEY", DEMO_SK)):
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "--server", emu.url, "--json")
    assert code == 0, err
    rows = {r["os_version"]: r for r in json.loads(out)}
    assert rows[LIVE_ONLY] == {"os_version": LIVE_ONLY, "platform": "", "os_type": "", "os_bit": ""}, \
        "a version only the region knows: listed, the table's columns empty"
    assert rows["Ubuntu 22.04 server 64bit"]["platform"] == "Ubuntu"
    assert len(rows) == len(json.loads(out)), "each version once"
    assert emu.stats()["requests"].get("GET /v1/cloudimages/os_version") == 1


def test_a_server_without_credentials_fails_in_one_line(capsys: pytest.CaptureFixture[str], emu: Emulator,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HW_PROJECT_ID", "HW_ACCESS_KEY", "HW_SECRET_KEY", "HW_AUTH_TOKEN", "HW_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run(capsys, "--server", emu.url)
    assert code == 1 and out == ""
    assert err.startswith("ims-os-versions: ") and err.count("\n") == 1 and "HW_ACCESS_KEY" in err, err
