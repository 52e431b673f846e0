"""The dynamic-provider process (dynamic/server.py): its entry point, the engine log client its status
messages use, and the process as the engine starts it. The SDK patches it applies: test_sdk_patches.py."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import subprocess
import sys
import time
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
from ims_pulumi.dynamic import server as dynamic_server

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_main_applies_the_gated_patches_then_serves_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher contract: ``python -m ims_pulumi.dynamic.server`` is the SDK's server, adjusted."""
    calls: list[tuple[str, Any]] = []
    monkeypatch.setenv("PULUMI_DYNAMIC_PROVIDER_THREADS", "48")
    monkeypatch.setattr(dynamic_server, "apply_server_patches", lambda workers: calls.append(("patch", workers)))
    monkeypatch.setattr(dynamic_server.runpy, "run_module",
                        lambda name, **kwargs: calls.append(("serve", (name, kwargs))))
    dynamic_server.main()
    assert calls == [("patch", 48), ("serve", ("pulumi.dynamic", {"run_name": "__main__", "alter_sys": True}))]


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
