"""Serve :class:`.provider.ImsProvider` to the engine: the ``pulumi-resource-ims`` executable.

What ``pulumi.provider.experimental.server.main`` does (SDK 3.272 has it, undocumented), plus three
things of this package: a thread pool as wide as the dynamic provider's (a deployment runs many
resources at once, each operation blocks its thread), expected failures (:class:`ImsError`)
reported as their one line instead of the SDK's message plus a Python stack, and the old inputs'
create tokens handed to ``diff`` and ``update`` (the state's outputs leave the token out).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

from ..core.errors import ImsError
from ..engine import threads
from .provider import OLD_TOKENS, TOKEN_KEYS, ImsProvider
from .schema import version

#: The servicer methods whose expected failures are reported as one line.
ONE_LINE_METHODS = ("Configure", "Check", "Diff", "Create", "Read", "Update", "Delete", "Invoke")


def expected_failure(exc: BaseException) -> ImsError | None:
    """The :class:`ImsError` behind a failed call (the SDK re-raises it as a plain Exception with a stack)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImsError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _one_line(method: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
    @functools.wraps(method)
    async def call(request: Any, context: Any) -> Any:
        try:
            return await method(request, context)
        except Exception as exc:
            failure = expected_failure(exc)
            if failure is None:
                raise
            await context.abort(grpc.StatusCode.UNKNOWN, str(failure))

    return call


def old_tokens(request: Any) -> dict[str, str]:
    """The create tokens of a Diff or Update request's old inputs (engine names), read from the protobuf
    directly: the SDK's request objects leave the old inputs out, and the outputs do not keep the token."""
    fields = request.old_inputs.fields
    return {k: fields[k].string_value for k in TOKEN_KEYS if k in fields and fields[k].string_value}


class ImsServicer(ProviderServicer):
    """The SDK's servicer, with expected failures as one line each, and the old inputs' create tokens
    passed to the provider's ``diff`` and ``update`` (:data:`.provider.OLD_TOKENS`)."""

    def __init__(self, args: list[str], provider: ImsProvider, engine_address: str) -> None:
        super().__init__(args, version(), provider, engine_address)
        for name in ONE_LINE_METHODS:
            setattr(self, name, _one_line(getattr(self, name)))

    async def Diff(self, request: Any, context: Any) -> Any:
        """The SDK's Diff, with the old inputs' create tokens known to the provider."""
        reset = OLD_TOKENS.set(old_tokens(request))
        try:
            return await super().Diff(request, context)
        finally:
            OLD_TOKENS.reset(reset)

    async def Update(self, request: Any, context: Any) -> Any:
        """The SDK's Update, with the old inputs' create tokens known to the provider."""
        reset = OLD_TOKENS.set(old_tokens(request))
        try:
            return await super().Update(request, context)
        finally:
            OLD_TOKENS.reset(reset)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve on a free port of 127.0.0.1 and print only that port on stdout (the engine reads it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="pulumi-resource-ims", description="The ims Pulumi provider plugin")
    parser.add_argument("engine", nargs="?", default="", help="the engine's address (the engine passes it)")
    known, _ = parser.parse_known_args(args)

    async def serve() -> None:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=threads(), thread_name_prefix="ims"))
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(ImsServicer(args, ImsProvider(), known.engine),
                                                                 server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
