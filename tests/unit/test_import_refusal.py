"""``pulumi import`` of a dynamic resource ends in one line saying what works instead.

The engine's import step sends the provider a Read with the id only (pulumi/pulumi#16175), so the
SDK's server would fail with ``KeyError: '__provider'`` and a traceback. ``sdk_patches`` wraps
the servicer's Read where the SDK registers it; these tests call it over real gRPC.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from ims_pulumi.dynamic import sdk_patches

pytestmark = pytest.mark.unit

URN = "urn:pulumi:dev::my-images::pulumi-python:dynamic/ims:{kind}::legacy"


class Reader(provider_pb2_grpc.ResourceProviderServicer):
    """Answers a Read (what the SDK's server does once it found the provider)."""

    def Read(self, request: Any, context: Any) -> Any:
        return provider_pb2.ReadResponse(id=request.id)


@pytest.fixture
def stub() -> Iterator[Any]:
    register = provider_pb2_grpc.add_ResourceProviderServicer_to_server
    sdk_patches.patch_servicer()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(Reader(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        server.stop(0)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server = register


def with_provider() -> Any:
    return struct_pb2.Struct(fields={sdk_patches.PROVIDER_KEY: struct_pb2.Value(string_value="pickled")})


# (reason, resource kind, what the message must offer instead)
CASES = [
    ("an image: adopt it, or reference it read-only", "ImageMetadata",
     'declare ImageMetadata("legacy", name=..., adopt_id="img-1") in the program and run `pulumi up`'),
    ("a member: its create takes the membership over", "ImageMember", "takes an existing membership over"),
    ("an acceptance: its create sets the status", "ImageMemberAcceptance", "sets the status of the existing"),
]


@pytest.mark.parametrize("reason,kind,instead", CASES, ids=[c[1] for c in CASES])
def test_a_read_without_the_provider_is_refused_in_one_line(stub: Any, reason: str, kind: str, instead: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Read(provider_pb2.ReadRequest(id="img-1", urn=URN.format(kind=kind)))
    details = info.value.details()
    assert "\n" not in details and "Traceback" not in details and "KeyError" not in details
    assert details.startswith(f"pulumi import cannot import pulumi-python:dynamic/ims:{kind} 'img-1'"), details
    assert "pulumi/pulumi#16175" in details and instead in details, reason
    if kind == "ImageMetadata":
        assert 'ImageMetadata.get("legacy", "img-1")' in details


@pytest.mark.parametrize("part", ["properties", "inputs"])
def test_refresh_and_get_reads_pass_through(stub: Any, part: str) -> None:
    """A refresh has the provider in the old outputs; ``ImageMetadata.get`` in the inputs."""
    request = provider_pb2.ReadRequest(id="img-1", urn=URN.format(kind="ImageMetadata"), **{part: with_provider()})
    assert stub.Read(request).id == "img-1"
