"""Entry point of the dynamic-provider process, used by ``pulumi-resource-pulumi-python``.

Runs Pulumi's own server (``python -m pulumi.dynamic``) with three documented adjustments:

* **Concurrency.** The SDK serves at most 4 calls at once (``ThreadPoolExecutor(max_workers=4)``
  in ``pulumi/dynamic/__main__.py``), so ``pulumi up --parallel 32`` would still create 4
  images at a time. The pool is raised to ``PULUMI_DYNAMIC_PROVIDER_THREADS`` (default 64).
* **Errors.** The SDK reports any exception as its full traceback. For the provider's expected
  failures (:class:`ims_pulumi.core.errors.ImsError`: API refusals, bad configuration) the user
  sees the one actionable message instead; unexpected errors keep their traceback.
* **Status messages.** A dynamic provider's ``create``/``update`` are not given the resource's
  URN, which the engine needs to show a status message next to the resource. The servicer's
  ``Create`` and ``Update`` are wrapped so the URN of the request is known (:func:`current_urn`)
  for the duration of the call, and :func:`ims_pulumi.engine.status_sink` sends ephemeral messages for it to
  the engine's log service (the engine's address is the provider process's last argument).

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
import runpy
import sys
import traceback
from collections.abc import Callable
from typing import Any

import grpc  # type: ignore[import-untyped]

from ..core import content
from ..core.errors import ImsError
from ..engine import status_sink, threads

#: The servicer methods that may upload image data (``provider._fill``), so report progress.
URN_METHODS = ("Create", "Update")

# The URN of the gRPC call being served by this thread. This is not provider state: it is the
# per-call context of the server wrapper, set by ``_with_urn`` when a Create/Update call starts
# and reset when it ends, so it never outlives the call or leaks into another one. Each call runs
# in its own worker thread with its own context, so concurrent calls never see each other's URN.
_CALL_URN: contextvars.ContextVar[str | None] = contextvars.ContextVar("ims_pulumi_call_urn", default=None)




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
        sink = content.STATUS_SINK.set(status_sink(getattr(request, "urn", "") or None))
        try:
            return method(request, context)
        finally:
            content.STATUS_SINK.reset(sink)
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












def main() -> None:
    """Apply the adjustments and serve."""
    patch_thread_pool(threads())
    patch_error_text()
    patch_call_urn()
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    # Run as a script (the launcher's runpy), this file is the module ``__main__``; the patches must
    # act through the importable module, whose context variables the provider calls read.
    import importlib

    importlib.import_module("ims_pulumi.dynamic.server").main()
