"""Shared fixtures: the local emulator, provider configuration for it, the Pulumi CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, Emulator
from tests.support.glance import GlanceServer, glance_available
from tests.support.pulumi_cli import cli_available


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator for the tests of one module (reset between tests with ``emu``)."""
    with Emulator.start() as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The module's emulator, reset: no images, no faults, zero counters."""
    emulator.reset()
    return emulator


def ims_config(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Stack config (plain, secret) that points the provider at an emulator with the demo identity."""
    return {"ims:endpoint": url, "ims:projectId": DEMO_PROJECT_ID}, {"ims:accessKey": DEMO_AK,
                                                                      "ims:secretKey": DEMO_SK}


@pytest.fixture(scope="session")
def pulumi_cli() -> None:
    """The real CLI must be there: end-to-end tests fail (never skip) without it."""
    ok, why = cli_available()
    if not ok:
        pytest.fail(why)


@pytest.fixture(scope="session")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceServer]:
    """A real OpenStack Glance for the session (installed into the cache on first use).

    Unavailable Glance is a failure, not a skip: CI must run these tests. Set
    IMS_SKIP_GLANCE=1 to skip them deliberately on a machine without PyPI access.
    """
    ok, why = glance_available()
    if not ok:
        if "IMS_SKIP_GLANCE" in why:
            pytest.skip(why)
        pytest.fail(f"real Glance unavailable: {why}")
    server = GlanceServer.start(tmp_path_factory.mktemp("glance"))
    try:
        yield server
    finally:
        server.stop()
