"""What both adapters' provider processes share with the Pulumi engine: the worker-thread count,
and ephemeral status messages next to a resource (upload progress) over the engine's log service.

:func:`status_sink` gives the sink an adapter sets as :data:`ims_pulumi.core.content.STATUS_SINK`
for the duration of a Create/Update call.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]

DEFAULT_THREADS = 64


#: Seconds one status message may take to reach the engine before it is written to stderr instead.
LOG_TIMEOUT = 2.0


#: Seconds after a failed status message during which messages go to stderr without trying the engine.
RETRY_AFTER = 30.0


def threads() -> int:
    """Worker threads for the provider server."""
    try:
        return max(4, int(os.environ.get("PULUMI_DYNAMIC_PROVIDER_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def engine_address(argv: Sequence[str] | None = None) -> str | None:
    """The engine's gRPC address: the last argument of the provider process that is not a flag.

    The engine starts a provider plugin as ``pulumi-resource-X [flags...] ENGINE_ADDRESS`` (flags such as
    ``--logtostderr``, ``-v=9`` or ``--tracing=URL`` come first).
    """
    args = list(sys.argv if argv is None else argv)[1:]
    for arg in reversed(args):
        if not arg.startswith("-"):
            return arg if ":" in arg else None
    return None


class EngineLog:
    """Ephemeral messages to the engine's log service over one lazily made channel (one per process).

    A message that cannot be delivered is written to stderr instead, and for ``RETRY_AFTER``
    seconds after a failure the engine is not tried (a status message must never fail or keep
    slowing an upload); then it is tried again, so one hiccup does not hide the rest of a long run.
    """

    def __init__(self, address: str | None, timeout: float = LOG_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address, self.timeout, self.clock = address, timeout, clock
        self._lock = threading.Lock()
        self._log: Callable[..., Any] | None = None
        self._broken = address is None
        self._quiet_until = 0.0

    def _stub_log(self) -> Callable[..., Any] | None:
        with self._lock:
            if self._log is None and not self._broken:
                try:
                    from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
                    from pulumi.runtime.proto import engine_pb2_grpc

                    channel = grpc.insecure_channel(str(self.address), options=_GRPC_CHANNEL_OPTIONS)
                    self._log = engine_pb2_grpc.EngineStub(channel).Log
                except Exception:  # an unusable address or SDK: stderr from now on
                    self._broken = True
            return self._log

    def status(self, urn: str, message: str) -> None:
        """Show ``message`` as the resource's ephemeral status, or write it to stderr."""
        log = None if self._broken or self.clock() < self._quiet_until else self._stub_log()
        if log is not None:
            try:
                from pulumi.runtime.proto import engine_pb2

                log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=urn, ephemeral=True),
                    timeout=self.timeout)
                return
            except Exception as exc:  # any failure to log falls back to stderr
                self._quiet_until = self.clock() + RETRY_AFTER
                _stderr(f"(status messages to the engine at {self.address} failed: {_reason(exc)}; using stderr "
                        f"for {RETRY_AFTER:.0f} s)")
        _stderr(message)


@functools.lru_cache(maxsize=1)
def engine_log() -> EngineLog:
    """This process's :class:`EngineLog` (made on first use: one channel per process).

    A connection of the server process to its one engine, like the SDK's own channels; it holds
    no provider state.
    """
    return EngineLog(engine_address())


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _reason(exc: Exception) -> str:
    """One line for a failed call (a gRPC error's own text spans several)."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):
        return f"{getattr(code(), 'name', code())}: {details()}"
    return " ".join(str(exc).split()) or type(exc).__name__


def status_sink(urn: str | None) -> Callable[[str], None] | None:
    """Where the status messages of a call for ``urn`` go: ephemeral messages for that resource
    (the engine connection is made only once a line is sent); ``None`` without a URN."""
    if not urn:
        return None
    return lambda line: engine_log().status(urn, line)
