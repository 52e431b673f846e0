"""The three patches of the provider process (threads, readable errors, the call's URN for status
messages), the engine log client, and the RecursionError guard."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.dynamic import CreateResult, ResourceProvider
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2, provider_pb2_grpc

from ims_pulumi import engine as engine_module
from ims_pulumi.core import content
from ims_pulumi.core.errors import QuotaExceeded
from ims_pulumi.dynamic import server as dynamic_server

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore() -> Iterator[None]:
    pool, fmt = concurrent.futures.ThreadPoolExecutor, traceback.format_exc
    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server
    yield
    concurrent.futures.ThreadPoolExecutor = pool  # type: ignore[misc]
    traceback.format_exc = fmt
    provider_pb2_grpc.add_ResourceProviderServicer_to_server = register


def test_thread_pool_is_raised(restore: None) -> None:
    dynamic_server.patch_thread_pool(32)
    from concurrent import futures  # as pulumi/dynamic/__main__.py does

    pool = futures.ThreadPoolExecutor(max_workers=4)
    assert pool._max_workers == 32
    pool.shutdown()
    # Review finding: the patch raised every pool, and the upload hasher needs its one worker
    # (chunks hashed in order); only the SDK's pool of 4 is the server's.
    single = futures.ThreadPoolExecutor(max_workers=1)
    assert single._max_workers == 1, "other pools keep their size"
    single.shutdown()


def test_sdk_still_creates_its_pool_the_way_we_patch() -> None:
    import importlib.util

    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec and spec.origin
    source = Path(spec.origin).read_text()
    assert "futures.ThreadPoolExecutor(max_workers=4)" in source, "SDK changed: revisit dynamic_server"
    assert "traceback.format_exc()" in source, "SDK changed: revisit dynamic_server"


def test_sdk_still_registers_its_servicer_the_way_we_patch() -> None:
    """patch_call_urn wraps Create/Update where the SDK registers its servicer; the URN is in their requests."""
    import importlib.util

    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec and spec.origin
    source = Path(spec.origin).read_text()
    assert "from pulumi.runtime.proto import provider_pb2_grpc" in source, "SDK changed: revisit dynamic_server"
    assert "provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)" in source, \
        "SDK changed: revisit dynamic_server.patch_call_urn"
    for method in dynamic_server.URN_METHODS:
        assert f"def {method}(self, request, context):" in source, "SDK changed: revisit dynamic_server.URN_METHODS"
    assert "urn" in provider_pb2.CreateRequest.DESCRIPTOR.fields_by_name
    assert "urn" in provider_pb2.UpdateRequest.DESCRIPTOR.fields_by_name
    assert {"urn", "ephemeral", "severity", "message"} <= set(engine_pb2.LogRequest.DESCRIPTOR.fields_by_name)


class Recorder(provider_pb2_grpc.ResourceProviderServicer):
    """A servicer that answers with the URN its code sees (as ``provider.create`` would)."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)

    def Create(self, request: Any, context: Any) -> Any:
        self.barrier.wait()  # two calls at once: each sees its own URN
        return provider_pb2.CreateResponse(id=dynamic_server.current_urn() or "none")

    def Update(self, request: Any, context: Any) -> Any:
        return provider_pb2.UpdateResponse(properties=struct_pb2.Struct(fields={
            "urn": struct_pb2.Value(string_value=dynamic_server.current_urn() or "none")}))

    def Delete(self, request: Any, context: Any) -> Any:
        assert dynamic_server.current_urn() is None, "only the calls that upload are wrapped"
        return empty_pb2.Empty()


def test_create_and_update_see_their_call_urn(restore: None) -> None:
    dynamic_server.patch_call_urn()
    dynamic_server.patch_call_urn()  # idempotent
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(Recorder(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                ids = list(pool.map(lambda urn: stub.Create(provider_pb2.CreateRequest(urn=urn)).id, ["urn:a", "urn:b"]))
            assert ids == ["urn:a", "urn:b"]
            updated = stub.Update(provider_pb2.UpdateRequest(urn="urn:c"))
            assert updated.properties.fields["urn"].string_value == "urn:c"
            stub.Delete(provider_pb2.DeleteRequest(urn="urn:d"))
    finally:
        server.stop(0)
    assert dynamic_server.current_urn() is None


@pytest.mark.parametrize("argv,address", [
    (["x", "127.0.0.1:4321"], "127.0.0.1:4321"),
    (["x", "--logtostderr", "-v=9", "--tracing=http://t", "127.0.0.1:4321"], "127.0.0.1:4321"),
    (["x"], None),
    (["x", "--logflow"], None),
])
def test_engine_address_is_the_last_argument(argv: list[str], address: str | None) -> None:
    assert engine_module.engine_address(argv) == address


class Engine(engine_pb2_grpc.EngineServicer):
    """The engine's log service, recording what it is sent."""

    def __init__(self) -> None:
        self.logs: list[Any] = []

    def Log(self, request: Any, context: Any) -> Any:
        self.logs.append(request)
        return empty_pb2.Empty()


@pytest.fixture
def engine() -> Iterator[tuple[Engine, str]]:
    service = Engine()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, f"127.0.0.1:{port}"
    server.stop(0)


def test_status_messages_are_ephemeral_logs_for_the_urn(engine: tuple[Engine, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    service, address = engine
    log = engine_module.EngineLog(address)
    log.status("urn:pulumi:dev::p::t::web", "uploaded 1.0 MiB")
    log.status("urn:pulumi:dev::p::t::web", "uploaded 2.0 MiB")
    assert [(r.urn, r.message, r.ephemeral, r.severity) for r in service.logs] == [
        ("urn:pulumi:dev::p::t::web", "uploaded 1.0 MiB", True, engine_pb2.INFO),
        ("urn:pulumi:dev::p::t::web", "uploaded 2.0 MiB", True, engine_pb2.INFO)]
    assert capsys.readouterr().err == ""


def test_a_status_message_that_cannot_be_sent_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """A status message never fails (or keeps slowing) an upload: stderr instead, and the engine is not
    tried again for a while; after that it is (review finding: one hiccup hid all later progress)."""
    now = [100.0]
    with socket_nobody_listens_on() as address:
        log = engine_module.EngineLog(address, timeout=0.5, clock=lambda: now[0])
        log.status("urn:x", "uploaded 1.0 MiB")
        started = time.monotonic()
        log.status("urn:x", "uploaded 2.0 MiB")
        assert time.monotonic() - started < 0.1, "not tried again during the quiet time"
        now[0] += engine_module.RETRY_AFTER
        log.status("urn:x", "uploaded 3.0 MiB")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"(status messages to the engine at {address} failed: ")
    assert err[1:3] == ["uploaded 1.0 MiB", "uploaded 2.0 MiB"]
    assert err[3].startswith("(status messages to the engine"), "tried again after the quiet time"
    assert err[4:] == ["uploaded 3.0 MiB"]
    engine_module.EngineLog(None).status("urn:x", "no engine")
    engine_module.EngineLog("not an address").status("urn:x", "bad engine")
    assert "no engine" in capsys.readouterr().err


class socket_nobody_listens_on:
    """A local address that refuses connections (a port bound, never listened on)."""

    def __enter__(self) -> str:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_status_sink_only_inside_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server wrapper sets the call's status sink (the resource's status line) only for the call."""
    sent: list[tuple[str, str]] = []

    class Log:
        def status(self, urn: str, message: str) -> None:
            sent.append((urn, message))

    monkeypatch.setattr(engine_module, "engine_log", Log)
    assert content.STATUS_SINK.get() is None and engine_module.status_sink(None) is None

    class Request:
        urn = "urn:web"

    def create(request: object, context: object) -> None:
        sink = content.STATUS_SINK.get()
        assert sink is not None
        sink("hello")

    dynamic_server._with_urn(create)(Request(), None)
    assert sent == [("urn:web", "hello")] and content.STATUS_SINK.get() is None


class ProgressProvider(ResourceProvider):
    """Uploads nothing, but reports progress as ``provider._fill`` does."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        progress = content.Progress("image 'web' (id-1)", 2 * content.CHUNK)
        progress.advance(content.CHUNK)
        progress.advance(content.CHUNK)
        return CreateResult("id-1", {})


def test_the_provider_process_reports_progress_to_its_engine(engine: tuple[Engine, str]) -> None:
    """The process as the engine starts it (the launcher runs this module as ``__main__``, the engine's
    address as its last argument): progress of a Create reaches the engine as the resource's status."""
    from pulumi.dynamic.dynamic import serialize_provider

    service, address = engine
    # the provider class is pickled by reference to this module, imported by pytest from its directory
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO / "providers")]),
           "IMS_PULUMI_PROGRESS_EVERY": "0"}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "ims_pulumi.dynamic.server", "--logflow", address],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        provider = serialize_provider(ProgressProvider())
        assert ProgressProvider.__module__.encode() in base64.b64decode(provider), "pickled by reference"
        properties = struct_pb2.Struct(fields={"__provider": struct_pb2.Value(string_value=provider)})
        urn = "urn:pulumi:dev::e2e::pulumi-python:dynamic/ims:ImageMetadata::web"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            created = provider_pb2_grpc.ResourceProviderStub(channel).Create(
                provider_pb2.CreateRequest(urn=urn, properties=properties), timeout=30)
        assert created.id == "id-1"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    messages = [r.message for r in service.logs if r.urn == urn and r.ephemeral]
    assert messages[0] == "image 'web' (id-1): uploaded 1.0 MiB of 2.0 MiB (50%)", (service.logs, err)
    assert messages[1].startswith("image 'web' (id-1): uploaded 2.0 MiB of 2.0 MiB (100%) at ")
    assert len(messages) == 2 and "uploaded" not in err


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
    assert engine_module.threads() == 128
    monkeypatch.setenv("PULUMI_DYNAMIC_PROVIDER_THREADS", "x")
    assert engine_module.threads() == engine_module.DEFAULT_THREADS


def test_provider_pickle_is_by_reference_and_holds_nothing() -> None:
    import base64

    from pulumi.dynamic.dynamic import serialize_provider

    from ims_pulumi.dynamic.provider import ImageMetadataProvider

    raw = base64.b64decode(serialize_provider(ImageMetadataProvider()))
    assert b"ims_pulumi.provider" in raw and len(raw) < 300
