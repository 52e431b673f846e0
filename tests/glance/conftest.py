"""Fixtures of the Glance tests that need several projects (the single-project ``glance`` fixture is in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.glance import GlanceProjects, GlanceServer, glance_available


@pytest.fixture(scope="session")
def glance_projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceProjects]:
    """A real Glance 33 in "trusted identity headers" mode behind the authenticating proxy of
    ``tests/support/glance.py``, with three projects A, B and C (one token each).

    Clients use ``glance_projects.url`` (the proxy) with ``X-Auth-Token: glance_projects.token("A")``;
    Glance itself (``glance_projects.glance.url``) answers 401 to a request without identity headers.
    Unavailable Glance is a failure, as for ``glance``; IMS_SKIP_GLANCE=1 skips.
    """
    ok, why = glance_available()
    if not ok:
        if "IMS_SKIP_GLANCE" in why:
            pytest.skip(why)
        pytest.fail(f"real Glance unavailable: {why}")
    projects = GlanceProjects.start(tmp_path_factory.mktemp("glance-projects"))
    try:
        yield projects
    finally:
        projects.stop()


@pytest.fixture(scope="module")
def glance_faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlanceServer]:
    """A real Glance 33 served through ``scripts/glance/glance_faults.py``: no fault until a test
    enters ``glance_faulty.half_commit(rate)`` (the half-committed create of issue 23). One worker,
    so that it weighs little next to the session's ``glance``. IMS_SKIP_GLANCE=1 skips."""
    ok, why = glance_available()
    if not ok:
        if "IMS_SKIP_GLANCE" in why:
            pytest.skip(why)
        pytest.fail(f"real Glance unavailable: {why}")
    server = GlanceServer.start(tmp_path_factory.mktemp("glance-faults"), workers=1, threads=2, faults=True)
    try:
        yield server
    finally:
        server.stop()
