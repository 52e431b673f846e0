"""The patches of Pulumi SDK internals (dynamic/sdk_patches.py): their version gate, the pins that the
installed SDK still has every line they rely on, and what each patch does."""

from __future__ import annotations

import concurrent.futures
import pickle
import re
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import empty_pb2, struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import engine_pb2, provider_pb2, provider_pb2_grpc

from ims_pulumi import engine as engine_module
from ims_pulumi.core import content
from ims_pulumi.core.errors import QuotaExceeded
from ims_pulumi.dynamic import sdk_patches
from ims_pulumi.dynamic.sdk_patches import PATCHES, PICKLER, SERVICER

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore() -> Iterator[None]:
    """Undo every patch a test applies, and forget the gate's decision (made once per process)."""
    pool, fmt = concurrent.futures.ThreadPoolExecutor, traceback.format_exc
    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server
    batch = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    sdk_patches.enabled.cache_clear()
    yield
    sdk_patches.enabled.cache_clear()
    concurrent.futures.ThreadPoolExecutor = pool  # type: ignore[misc]
    traceback.format_exc = fmt
    provider_pb2_grpc.add_ResourceProviderServicer_to_server = register
    pickle._Pickler._batch_setitems = batch  # type: ignore[attr-defined]


# --- the pins: the installed SDK is the verified one and shows what the patches rely on ---------

def test_the_installed_sdk_and_the_pin_are_in_the_gate() -> None:
    """Upgrading the pin (requirements.txt) fails here until the patches are verified again: run this
    file against the new SDK, then add its series to VERIFIED_SDK."""
    pin = re.search(r"^pulumi==(\S+)", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pin, "requirements.txt pins pulumi"
    assert sdk_patches.in_gate(pin.group(1)), f"pulumi {pin.group(1)} is not in {sdk_patches.VERIFIED_SDK}"
    assert sdk_patches.sdk_version() == pin.group(1), "the venv has the pinned SDK"


@pytest.mark.parametrize("patch", PATCHES, ids=[p.name for p in PATCHES])
def test_the_sdk_still_shows_every_line_a_patch_relies_on(patch: sdk_patches.Patch) -> None:
    assert sdk_patches.missing_shapes(patch) == [], f"SDK changed: revisit sdk_patches ({patch.name})"


def test_the_requests_still_carry_what_the_servicer_patch_reads() -> None:
    """The call's URN is in the Create/Update requests; the engine's log takes ephemeral messages."""
    assert "urn" in provider_pb2.CreateRequest.DESCRIPTOR.fields_by_name
    assert "urn" in provider_pb2.UpdateRequest.DESCRIPTOR.fields_by_name
    assert {"properties", "inputs", "urn", "id"} <= set(provider_pb2.ReadRequest.DESCRIPTOR.fields_by_name)
    assert {"urn", "ephemeral", "severity", "message"} <= set(engine_pb2.LogRequest.DESCRIPTOR.fields_by_name)


# --- the gate ------------------------------------------------------------------------------------

ALL = {p.name for p in PATCHES}

# (reason, SDK version, patches whose lines the SDK moved, patches applied, whether the sources are read)
GATE = [
    ("the pinned SDK: verified, applied as they are", "3.272.0", set(), ALL, False),
    ("a patch release of the verified series counts as verified", "3.272.4", set(), ALL, False),
    ("in the gate the tests vouch for the lines: not read at run time", "3.272.0", {"servicer"}, ALL, False),
    ("a newer SDK that kept every line: all applied, nothing to warn about", "3.280.1", set(), ALL, True),
    ("a newer SDK that moved the servicer: the others still apply", "3.280.1", {"servicer"}, ALL - {"servicer"},
     True),
    ("a newer SDK that fixed the pickler and moved the pool", "3.300.0", {"pickler", "threads"},
     {"error text", "servicer"}, True),
    ("an SDK whose version is not known is checked like a newer one", None, {"error text"}, ALL - {"error text"},
     True),
    ("another major version: checked line by line too", "4.0.0", set(ALL), set(), True),
]


@pytest.mark.parametrize(("reason", "version", "moved", "applied", "read"), GATE, ids=[g[0] for g in GATE])
def test_the_gate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore: None, reason: str,
                  version: str | None, moved: set[str], applied: set[str], read: bool) -> None:
    real = {p.module: sdk_patches.sdk_source(p.module) for p in PATCHES}
    reads: list[str] = []

    def source(module: str) -> str:
        reads.append(module)
        text = real[module]
        for patch in PATCHES:
            if patch.name in moved:
                for shape in patch.shapes:
                    text = text.replace(shape, "")
        return text

    monkeypatch.setattr(sdk_patches, "sdk_version", lambda: version)
    monkeypatch.setattr(sdk_patches, "sdk_source", source)
    on = sdk_patches.enabled(sdk_patches.SERVER_PATCHES) | sdk_patches.enabled(sdk_patches.PROGRAM_PATCHES)
    assert {p.name for p in on} == applied, reason
    assert bool(reads) is read, reason
    err = capsys.readouterr().err
    skipped = ALL - applied
    server = {p.name for p in sdk_patches.SERVER_PATCHES}
    assert err.count("warning: ") == bool(skipped & server) + ("pickler" in skipped), "one per patch set: " + err
    for patch in PATCHES:
        assert (f"{patch.name} ({patch.lost})" in err) is (patch.name in skipped), reason
    if skipped:
        assert f"pulumi SDK {version or '(version unknown)'} moved" in err and "verified with pulumi 3.272.*" in err


def test_the_gate_decides_and_warns_once_per_process(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], restore: None) -> None:
    monkeypatch.setattr(sdk_patches, "sdk_version", lambda: "3.300.0")
    monkeypatch.setattr(sdk_patches, "sdk_source", lambda module: "")
    for _ in range(3):
        sdk_patches.reset_pickler()  # once per resource
    assert capsys.readouterr().err.count("warning: ") == 1


def test_skipped_patches_leave_the_sdk_alone(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             restore: None) -> None:
    """Outside the gate with the servicer's lines moved: the pool is raised, the servicer is left to the SDK."""
    register, fmt = provider_pb2_grpc.add_ResourceProviderServicer_to_server, traceback.format_exc
    monkeypatch.setattr(sdk_patches, "sdk_version", lambda: "3.300.0")
    real = sdk_patches.sdk_source(sdk_patches.SDK_SERVER)
    monkeypatch.setattr(sdk_patches, "sdk_source", lambda module: real.replace(SERVICER.shapes[1], ""))
    sdk_patches.apply_server_patches(32)
    assert provider_pb2_grpc.add_ResourceProviderServicer_to_server is register
    assert traceback.format_exc is not fmt
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    assert pool._max_workers == 32
    pool.shutdown()
    assert "servicer (" in capsys.readouterr().err


def test_in_the_gate_every_server_patch_applies(restore: None) -> None:
    register, fmt = provider_pb2_grpc.add_ResourceProviderServicer_to_server, traceback.format_exc
    sdk_patches.apply_server_patches(32)
    assert provider_pb2_grpc.add_ResourceProviderServicer_to_server is not register
    assert traceback.format_exc is not fmt
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    assert pool._max_workers == 32
    pool.shutdown()


@pytest.mark.parametrize(("version", "source", "restores", "reason"), [
    ("3.272.0", None, True, "verified: the original is restored before each resource"),
    ("3.300.0", None, True, "a newer SDK that still wraps the pickler: restored too"),
    ("3.300.0", "", False, "a newer SDK that no longer wraps it this way: left alone"),
])
def test_reset_pickler_is_gated(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore: None,
                                version: str, source: str | None, restores: bool, reason: str) -> None:
    real = sdk_patches.sdk_source(PICKLER.module)
    monkeypatch.setattr(sdk_patches, "sdk_version", lambda: version)
    monkeypatch.setattr(sdk_patches, "sdk_source", lambda module: real if source is None else source)

    def wrapped(self: Any, items: Any) -> None:
        raise AssertionError("not called")

    pickle._Pickler._batch_setitems = wrapped  # type: ignore[attr-defined]
    sdk_patches.reset_pickler()
    restored = pickle._Pickler._batch_setitems is sdk_patches._ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]
    assert restored is restores, reason


# --- what each patch does ------------------------------------------------------------------------

def test_thread_pool_is_raised(restore: None) -> None:
    sdk_patches.patch_thread_pool(32)
    from concurrent import futures  # as pulumi/dynamic/__main__.py does

    pool = futures.ThreadPoolExecutor(max_workers=4)
    assert pool._max_workers == 32
    pool.shutdown()
    # Review finding: the patch raised every pool, and the upload hasher needs its one worker
    # (chunks hashed in order); only the SDK's pool of 4 is the server's.
    single = futures.ThreadPoolExecutor(max_workers=1)
    assert single._max_workers == 1, "other pools keep their size"
    single.shutdown()


def test_expected_errors_lose_their_traceback(restore: None) -> None:
    sdk_patches.patch_error_text()
    try:
        raise QuotaExceeded(operation="create image 'x'", status=400, code="IMG.0015", message="quota", request_id="r")
    except QuotaExceeded:
        text = traceback.format_exc()
    assert text.startswith("create image 'x' failed") and "Traceback" not in text
    try:
        raise ValueError("bug")
    except ValueError:
        assert "Traceback" in traceback.format_exc()


class Recorder(provider_pb2_grpc.ResourceProviderServicer):
    """A servicer that answers with the URN its code sees (as ``provider.create`` would)."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)

    def Create(self, request: Any, context: Any) -> Any:
        self.barrier.wait()  # two calls at once: each sees its own URN
        return provider_pb2.CreateResponse(id=sdk_patches.current_urn() or "none")

    def Update(self, request: Any, context: Any) -> Any:
        return provider_pb2.UpdateResponse(properties=struct_pb2.Struct(fields={
            "urn": struct_pb2.Value(string_value=sdk_patches.current_urn() or "none")}))

    def Delete(self, request: Any, context: Any) -> Any:
        assert sdk_patches.current_urn() is None, "only the calls that upload are wrapped"
        return empty_pb2.Empty()


def test_create_and_update_see_their_call_urn(restore: None) -> None:
    sdk_patches.patch_servicer()
    sdk_patches.patch_servicer()  # idempotent
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
    assert sdk_patches.current_urn() is None


def test_status_sink_only_inside_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The servicer wrapper sets the call's status sink (the resource's status line) only for the call."""
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

    sdk_patches._with_urn(create)(Request(), None)
    assert sent == [("urn:web", "hello")] and content.STATUS_SINK.get() is None
