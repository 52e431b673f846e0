"""Entry point of the dynamic-provider process, used by ``pulumi-resource-pulumi-python``.

Runs Pulumi's own server (``python -m pulumi.dynamic``) with three documented adjustments:

* **Concurrency.** The SDK serves at most 4 calls at once (``ThreadPoolExecutor(max_workers=4)``
  in ``pulumi/dynamic/__main__.py``), so ``pulumi up --parallel 32`` would still create 4
  images at a time. The pool is raised to ``PULUMI_DYNAMIC_PROVIDER_THREADS`` (default 64).
* **Errors.** The SDK reports any exception as its full traceback. For the provider's expected
  failures (:class:`ims_pulumi.errors.ImsError`: API refusals, bad configuration) the user
  sees the one actionable message instead; unexpected errors keep their traceback.
* **Status messages.** A dynamic provider's ``create``/``update`` are not given the resource's
  URN, which the engine needs to show a status message next to the resource. The servicer's
  ``Create`` and ``Update`` are wrapped so the URN of the request is known (:func:`current_urn`)
  for the duration of the call, and :func:`status_sink` sends ephemeral messages for it to the
  engine's log service (the engine's address is the provider process's last argument).

* **Import.** ``pulumi import`` (and the ``import_`` option) send a Read with the id only: the SDK's
  server cannot find the pickled provider (``KeyError: '__provider'``, pulumi/pulumi#16175). The
  servicer's ``Read`` is wrapped to end such a call with one line saying what works instead
  (``adopt_id``, ``ImageMetadata.get``).

All of them are monkeypatches of SDK internals: ``tests/unit/test_dynamic_server.py`` pins them, so
an SDK upgrade that moves them fails the tests instead of silently losing the fix.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import os
import runpy
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]

from .errors import ImsError

DEFAULT_THREADS = 64
#: The servicer methods that may upload image data (``provider._fill``), so report progress.
URN_METHODS = ("Create", "Update")
#: Seconds one status message may take to reach the engine before it is written to stderr instead.
LOG_TIMEOUT = 2.0
#: Seconds after a failed status message during which messages go to stderr without trying the engine.
RETRY_AFTER = 30.0

# The URN of the gRPC call being served by this thread. This is not provider state: it is the
# per-call context of the server wrapper, set by ``_with_urn`` when a Create/Update call starts
# and reset when it ends, so it never outlives the call or leaks into another one. Each call runs
# in its own worker thread with its own context, so concurrent calls never see each other's URN.
_CALL_URN: contextvars.ContextVar[str | None] = contextvars.ContextVar("ims_pulumi_call_urn", default=None)


def threads() -> int:
    """Worker threads for the provider server."""
    try:
        return max(4, int(os.environ.get("PULUMI_DYNAMIC_PROVIDER_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


#: The pool size of the SDK's provider server (``futures.ThreadPoolExecutor(max_workers=4)``).
SDK_WORKERS = 4


def patch_thread_pool(workers: int) -> None:
    """Make the SDK's server pool (a ``ThreadPoolExecutor`` of ``SDK_WORKERS``) created from now on
    have ``workers`` threads. Pools of any other size are left alone: a one-worker pool (the upload
    hasher's) relies on running its tasks in order."""
    base = concurrent.futures.ThreadPoolExecutor

    class _Pool(base):  # type: ignore[valid-type,misc]
        def __init__(self, max_workers: int | None = None, *args: Any, **kwargs: Any) -> None:
            if max_workers == SDK_WORKERS:
                max_workers = max(workers, SDK_WORKERS)
            super().__init__(max_workers, *args, **kwargs)

    concurrent.futures.ThreadPoolExecutor = _Pool  # type: ignore[misc]


def patch_error_text() -> None:
    """Report :class:`ImsError` by its message, everything else by its traceback."""
    original = traceback.format_exc

    def format_exc(limit: int | None = None, chain: bool = True) -> str:
        exc = sys.exc_info()[1]
        if isinstance(exc, ImsError):
            return str(exc)
        return original(limit, chain)

    traceback.format_exc = format_exc


# ---- status messages next to the resource ---------------------------------------------------


def current_urn() -> str | None:
    """The URN of the resource whose Create/Update this thread is serving (``None``: none)."""
    return _CALL_URN.get()


def _with_urn(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``method(request, context)`` with ``request.urn`` as :func:`current_urn` while it runs."""

    @functools.wraps(method)
    def call(request: Any, context: Any) -> Any:
        token = _CALL_URN.set(getattr(request, "urn", "") or None)
        try:
            return method(request, context)
        finally:
            _CALL_URN.reset(token)

    return call


#: The key of the pickled provider in a dynamic resource's inputs and outputs (the SDK's ``PROVIDER_KEY``).
PROVIDER_KEY = "__provider"

#: What works instead of ``pulumi import``, by the resource type's last part (``{name}``, ``{id}`` filled in).
IMPORT_INSTEAD = {
    "ImageMetadata": ('declare ImageMetadata("{name}", name=..., adopt_id="{id}") in the program and run `pulumi up` '
                      '(it takes the image over), or ImageMetadata.get("{name}", "{id}") for a read-only reference'),
    "ImageMember": ("declare the ImageMember in the program and run `pulumi up`: its create takes an existing "
                    "membership over"),
    "ImageMemberAcceptance": ("declare the ImageMemberAcceptance in the program and run `pulumi up`: its create sets "
                              "the status of the existing membership"),
}


def import_refusal(urn: str, id_: str) -> str:
    """One line for a Read without the pickled provider (``pulumi import``): why, and what works instead."""
    parts = urn.split("::")
    type_, name = (parts[2], parts[3]) if len(parts) >= 4 else ("", "")
    kind = type_.rsplit(":", 1)[-1]
    instead = IMPORT_INSTEAD.get(kind, "declare the resource in the program and run `pulumi up`")
    return (f"pulumi import cannot import {type_ or 'a dynamic-provider resource'} {id_!r}: the engine sends a "
            f"dynamic provider only the id, not the provider (pulumi/pulumi#16175); instead, "
            + instead.format(name=name or "name", id=id_))


def _refuse_import(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``Read`` that ends a call without the pickled provider (an import) with :func:`import_refusal`."""

    @functools.wraps(method)
    def call(request: Any, context: Any) -> Any:
        known = [getattr(request, part, None) for part in ("properties", "inputs")]
        if not any(struct is not None and PROVIDER_KEY in struct.fields for struct in known):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, import_refusal(getattr(request, "urn", ""),
                                                                           getattr(request, "id", "")))
        return method(request, context)

    return call


def patch_call_urn() -> None:
    """Wrap the servicer's Create/Update as it is registered with the gRPC server (and its Read, see
    :func:`_refuse_import`).

    ``pulumi/dynamic/__main__.py`` defines its servicer class and serves in the same module run, so
    the class cannot be patched beforehand; its registration call,
    ``provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)``, is looked up on
    the module at call time and is where the instance's methods are wrapped.
    """
    from pulumi.runtime.proto import provider_pb2_grpc

    original = provider_pb2_grpc.add_ResourceProviderServicer_to_server
    if getattr(original, "_ims_pulumi_urn", False):
        return

    def add(servicer: Any, server: Any) -> Any:
        for name in URN_METHODS:
            setattr(servicer, name, _with_urn(getattr(servicer, name)))
        servicer.Read = _refuse_import(servicer.Read)
        return original(servicer, server)

    add._ims_pulumi_urn = True  # type: ignore[attr-defined]
    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add


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


def status_sink() -> Callable[[str], None] | None:
    """Where the current call's status messages go: ephemeral messages for its URN, if there is one.

    ``None`` outside a Create/Update call of this server (tests, or the SDK's own server).
    """
    urn = current_urn()
    if urn is None:
        return None
    return functools.partial(engine_log().status, urn)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _reason(exc: Exception) -> str:
    """One line for a failed call (a gRPC error's own text spans several)."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):
        return f"{getattr(code(), 'name', code())}: {details()}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main() -> None:
    """Apply the adjustments and serve."""
    patch_thread_pool(threads())
    patch_error_text()
    patch_call_urn()
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    # Run as a script (the launcher's runpy), this file is the module ``__main__``; the call URN must
    # live in the importable ``ims_pulumi.dynamic_server`` that ``content.Progress`` reads it from.
    import importlib

    importlib.import_module("ims_pulumi.dynamic_server").main()
