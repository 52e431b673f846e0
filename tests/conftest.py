"""Shared fixtures: the local emulator, the Pulumi CLI, a real Glance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.pulumi_cli import cli_available
from ims_emulator.process import Emulator
from tests.support.glance import GlanceServer, glance_available


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator (default flags) for the tests of one module; tests use it through ``emu``."""
    with Emulator.start() as emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The module's emulator, reset: no images, no faults, zero counters, start-up settings."""
    emulator.reset()
    return emulator


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
