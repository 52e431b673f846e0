"""Shared fixtures: the local emulator, the Pulumi CLI, a real Glance."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pulumi.runtime import settings

from harness.pulumi_cli import cli_available
from ims_emulator.process import Emulator
from tests.support.glance import GlanceServer, glance_available


@pytest.fixture
def sdk_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh current event loop, and no root stack resource yet, for a test that runs Pulumi's SDK
    in process under its mocks.

    The SDK keeps its root stack resource between tests, with futures of the loop that was current
    when it was made; after another test's ``asyncio.run`` (which leaves no current loop) the SDK
    makes a new loop, and awaiting the old root failed with "await wasn't used with future". Each
    test gets its own loop and its own root (``set_mocks`` makes one when there is none).
    """
    policy = asyncio.get_event_loop_policy()
    try:
        previous: asyncio.AbstractEventLoop | None = policy.get_event_loop()
    except RuntimeError:
        previous = None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    settings.ROOT.set(None)
    try:
        yield loop
    finally:
        settings.ROOT.set(None)
        asyncio.set_event_loop(previous if previous is not None and not previous.is_closed() else asyncio.new_event_loop())
        loop.close()


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
