"""The two patches of the provider process (threads, readable errors) and the RecursionError guard."""

from __future__ import annotations

import concurrent.futures
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_pulumi import dynamic_server
from ims_pulumi.errors import QuotaExceeded

pytestmark = pytest.mark.unit


@pytest.fixture
def restore() -> Iterator[None]:
    pool, fmt = concurrent.futures.ThreadPoolExecutor, traceback.format_exc
    yield
    concurrent.futures.ThreadPoolExecutor = pool  # type: ignore[misc]
    traceback.format_exc = fmt


def test_thread_pool_is_raised(restore: None) -> None:
    dynamic_server.patch_thread_pool(32)
    from concurrent import futures  # as pulumi/dynamic/__main__.py does

    pool = futures.ThreadPoolExecutor(max_workers=4)
    assert pool._max_workers == 32
    pool.shutdown()


def test_sdk_still_creates_its_pool_the_way_we_patch() -> None:
    import importlib.util

    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec and spec.origin
    source = Path(spec.origin).read_text()
    assert "futures.ThreadPoolExecutor(max_workers=4)" in source, "SDK changed: revisit dynamic_server"
    assert "traceback.format_exc()" in source, "SDK changed: revisit dynamic_server"


def test_expected_errors_lose_their_traceback(restore: None) -> None:
    dynamic_server.patch_error_text()
    try:
        raise QuotaExceeded(operation="create image 'x'", status=400, code="IMG.0015", message="quota", request_id="r")
    except QuotaExceeded:
        text = traceback.format_exc()
    assert text.startswith("create image 'x' failed") and "Traceback" not in text
    try:
        raise ValueError("bug")
    except ValueError:
        assert "Traceback" in traceback.format_exc()


def test_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_DYNAMIC_PROVIDER_THREADS", "128")
    assert dynamic_server.threads() == 128
    monkeypatch.setenv("PULUMI_DYNAMIC_PROVIDER_THREADS", "x")
    assert dynamic_server.threads() == dynamic_server.DEFAULT_THREADS


def test_provider_pickle_is_by_reference_and_holds_nothing() -> None:
    import base64

    from pulumi.dynamic.dynamic import serialize_provider

    from ims_pulumi.provider import ImageMetadataProvider

    raw = base64.b64decode(serialize_provider(ImageMetadataProvider()))
    assert b"ims_pulumi.provider" in raw and len(raw) < 300
