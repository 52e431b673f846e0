"""Fixtures of the OBS tests: a real S3-compatible object server, and an emulator that reads from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ims_emulator.process import Emulator
from tests.obs.helpers import BUCKET
from tests.support.emulator_client import Api
from tests.support.s3 import S3Server, s3_available


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible object server (versitygw) for the session, built into the cache on first use.

    Unavailable is a failure, not a skip: CI must run these tests. Set IMS_SKIP_S3=1 to skip
    them deliberately on a machine that cannot build it.
    """
    ok, why = s3_available()
    if not ok:
        if "IMS_SKIP_S3" in why:
            pytest.skip(why)
        pytest.fail(f"local object server unavailable: {why}")
    server = S3Server.start(tmp_path_factory.mktemp("s3"))
    try:
        server.make_bucket(BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own in :data:`BUCKET`."""
    return f"t-{uuid.uuid4().hex[:12]}/"


@pytest.fixture(scope="module")
def obs_emulator(s3_server: S3Server) -> Iterator[Emulator]:
    """An emulator that reads registered files from ``s3_server`` (module scope; tests use ``obs_emu``)."""
    with Emulator.start(None, "--obs-endpoint", s3_server.url, "--obs-credentials", s3_server.credentials) as emu:
        yield emu


@pytest.fixture
def obs_emu(obs_emulator: Emulator) -> Emulator:
    """The module's OBS-enabled emulator, reset: no images, no jobs, no faults, start-up settings."""
    obs_emulator.reset()
    return obs_emulator


@pytest.fixture
def obs_api(obs_emu: Emulator) -> Api:
    """A client of ``obs_emu`` signed with the demo identity."""
    return Api(obs_emu.url)
