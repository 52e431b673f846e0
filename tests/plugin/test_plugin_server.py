"""The plugin process as the engine starts it: only the port on stdout, the schema over gRPC, and
expected failures as their one line (not the SDK's message plus a Python stack)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from harness.pulumi_cli import VENV
from ims_pulumi.core.errors import ConfigError, ImsError
from ims_pulumi.plugin import schema
from ims_pulumi.plugin.server import _one_line, expected_failure
from tests.plugin.plugin_driver import run_once

pytestmark = pytest.mark.contract


@pytest.fixture(params=["console-script", "module"])
def plugin(request: pytest.FixtureRequest) -> Iterator[str]:
    """The plugin as the engine starts it: ``pulumi-resource-ims ENGINE`` (what pip installs) or the module."""
    command = [str(VENV / "bin" / "pulumi-resource-ims")] if request.param == "console-script" else \
        [sys.executable, "-m", "ims_pulumi.plugin"]
    proc = subprocess.Popen([*command, "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        yield first
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_prints_only_the_port_and_serves_the_generated_schema(plugin: str) -> None:
    assert plugin.strip().isdigit(), f"the engine reads the port from the first line, got {plugin!r}"
    with grpc.insecure_channel(f"127.0.0.1:{plugin.strip()}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        got = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60).schema
        assert got == schema.render(schema.build_schema())


class _Context:
    """What grpc.aio gives a servicer method: abort raises with the details it was given."""

    details = ""

    async def abort(self, code: Any, details: str) -> None:
        self.details = details
        raise RuntimeError(details)


@pytest.mark.parametrize(("raised", "one_line"), [
    (ConfigError("ims:endpoint (HW_IMS_ENDPOINT) must be an http(s) URL"), True),  # expected: its line alone
    (KeyError("x"), False),  # unexpected: the SDK's text with the stack stays
])
def test_expected_failures_are_one_line(raised: Exception, one_line: bool) -> None:
    async def method(request: Any, context: Any) -> Any:
        try:
            raise raised
        except Exception as e:  # what the SDK's _raise_with_traceback does
            raise Exception(f"{e}:\n  stack")  # noqa: B904 - the SDK's wrapper chains implicitly, like this

    context = _Context()
    with pytest.raises(Exception) as caught:
        run_once(_one_line(method)(None, context))
    if one_line:
        assert context.details == str(raised) and "\n" not in context.details
    else:
        assert context.details == "" and "stack" in str(caught.value)


def test_expected_failure_follows_the_chain() -> None:
    inner = ImsError("one line")
    try:
        try:
            raise inner
        except ImsError as e:
            raise Exception(f"{e}: stack") from e
    except Exception as outer:
        assert expected_failure(outer) is inner
