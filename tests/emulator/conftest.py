"""Fixtures of the emulator contract tests (the emulator itself is ``emu`` of ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from emulator.process import Emulator
from tests.support.emulator_client import Api


@pytest.fixture
def api(emu: Emulator) -> Api:
    """A client signed with the demo identity, of the reset emulator ``emu``."""
    return Api(emu.url)
