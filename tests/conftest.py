"""Shared fixtures: the local emulator, provider configuration for it, the Pulumi CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, Emulator
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
