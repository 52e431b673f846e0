"""Fixtures of the emulator contract tests (the emulator itself is ``emu`` of ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ims_emulator.process import Emulator
from tests.emulator.projects import (
    MEMBER,
    MEMBER_AK,
    MEMBER_SK,
    OWNER,
    OWNER_AK,
    OWNER_SK,
    SHARING_ARGS,
    THIRD_TOKEN,
)
from tests.support.emulator_client import Api


@pytest.fixture
def api(emu: Emulator) -> Api:
    """A client signed with the demo identity, of the reset emulator ``emu``."""
    return Api(emu.url)


@pytest.fixture(scope="session")
def sharing_emulator() -> Iterator[Emulator]:
    """An emulator that knows the three projects of ``tests/emulator/projects.py``."""
    with Emulator.start(None, *SHARING_ARGS) as emu:
        yield emu


@pytest.fixture
def sharing_emu(sharing_emulator: Emulator) -> Emulator:
    """The three-project emulator, reset: no images (so no members), start-up settings."""
    sharing_emulator.reset()
    return sharing_emulator


@pytest.fixture
def owner(sharing_emu: Emulator) -> Api:
    """The owner project's client (AK/SK)."""
    return Api(sharing_emu.url, ak=OWNER_AK, sk=OWNER_SK, project=OWNER)


@pytest.fixture
def member(sharing_emu: Emulator) -> Api:
    """The member project's client (AK/SK)."""
    return Api(sharing_emu.url, ak=MEMBER_AK, sk=MEMBER_SK, project=MEMBER)


@pytest.fixture
def third(sharing_emu: Emulator) -> Api:
    """A project the image is never shared with (token)."""
    return Api(sharing_emu.url, token=THIRD_TOKEN, project=None)
