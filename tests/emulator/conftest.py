"""Fixtures of the emulator contract tests: one shared emulator, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_client import Api

from tests.support.emulator import Emulator


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    """The shared emulator (default flags)."""
    with Emulator.start() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator) -> None:
    """Every test starts with no images, no faults, zero stats and start-up settings."""
    emu.reset()


@pytest.fixture
def api(emu: Emulator) -> Api:
    """A client signed with the demo identity."""
    return Api(emu.url)
