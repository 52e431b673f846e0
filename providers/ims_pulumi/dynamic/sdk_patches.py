"""Every patch of Pulumi SDK internals that the dynamic provider makes, in one module, behind one version gate.

The dynamic provider runs on the SDK's own provider server (``python -m pulumi.dynamic``) and its
resources register through ``pulumi.dynamic.Resource``. Four adjustments reach into SDK internals,
which no release promises to keep:

In the provider process (:func:`apply_server_patches`, called by :mod:`.server` before it serves):

* ``threads``: the SDK serves at most 4 calls at once (``futures.ThreadPoolExecutor(max_workers=4)``
  in ``pulumi/dynamic/__main__.py``), so ``pulumi up --parallel 32`` would still create 4 images at a
  time. The pool is raised to ``PULUMI_DYNAMIC_PROVIDER_THREADS`` (default 64).
* ``error text``: the SDK reports any exception as its full traceback (``traceback.format_exc()``).
  An expected failure (:class:`~ims_pulumi.core.errors.ImsError`: API refusals, bad configuration) is
  reported as its one actionable message instead; unexpected errors keep their traceback.
* ``servicer``: where the SDK registers its servicer
  (``provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)``), its ``Create`` and
  ``Update`` are wrapped so that the URN of the call is known (:func:`current_urn`; a dynamic
  provider's create/update are not given it) and upload progress reaches the engine as the resource's
  status (:func:`ims_pulumi.engine.status_sink`); its ``Read`` is wrapped so that ``pulumi import`` (a
  Read with the id only: ``KeyError: '__provider'``, pulumi/pulumi#16175) ends with one line saying
  what works instead (:func:`import_refusal`).

In the program process (:func:`reset_pickler`, called by each resource class before it registers):

* ``pickler``: the SDK's ``serialize_provider`` wraps ``pickle._Pickler._batch_setitems`` on every call
  and never restores it; after ~1,000 resources in one program the wrappers overflow the stack
  (RecursionError, pulumi/pulumi#17803). The original is restored before each resource.

**Version gate.** The patches were verified against the SDK series in :data:`VERIFIED_SDK` (pulumi
3.272.x, the pin in requirements.txt): there they apply as they are, and
``tests/unit/test_sdk_patches.py`` checks that the installed SDK shows every line they rely on
(:attr:`Patch.shapes`). The package allows ``pulumi>=3.272,<4``, so a newer SDK is to be expected.
Outside the gate, a patch applies only where the SDK's source still shows its shapes (the same
lines the tests check, read once per process); a patch whose shapes moved is skipped, with one
warning per process naming it and what is lost. Why this rather than:

* refusing to run: every patch is a convenience (speed, readable errors, progress, a clear import
  refusal, a guard against an SDK bug) and none is needed for a correct state; the official CLI's own
  launcher runs the stock server without any of them. Refusing would break every install that
  picked up a newer SDK;
* applying them blindly: a patch that misreads a moved internal can do harm (a ``Read`` wrapper that
  no longer finds the provider where the SDK sends it would refuse every refresh);
* skipping them all: an SDK release that did not touch these lines would lose the 16-fold
  concurrency for nothing.

A skipped patch leaves the SDK's stock behaviour, which the official launcher has anyway: slower,
noisier, a RecursionError past ~1,000 resources in one program; never a wrong state.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import importlib.metadata
import importlib.util
import pickle
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]

from ..core import content
from ..core.errors import ImsError
from ..core.transport import warn
from ..engine import status_sink

#: The SDK series (``major.minor``) the patches were verified against: pulumi 3.272.x (requirements.txt).
VERIFIED_SDK = ("3.272",)

#: The SDK module that serves a dynamic provider (``python -m pulumi.dynamic``).
SDK_SERVER = "pulumi.dynamic.__main__"

#: The servicer methods that may upload image data (``workflow._fill``), so report progress.
URN_METHODS = ("Create", "Update")

#: The key of the pickled provider in a dynamic resource's inputs and outputs (the SDK's ``PROVIDER_KEY``).
PROVIDER_KEY = "__provider"

#: The pool size of the SDK's provider server (``futures.ThreadPoolExecutor(max_workers=4)``).
SDK_WORKERS = 4


@dataclass(frozen=True, eq=False)
class Patch:
    """One patch of SDK internals: its name, what is lost without it, and the lines of SDK source
    (``shapes``, in ``module``) whose presence it relies on."""

    name: str
    lost: str
    module: str
    shapes: tuple[str, ...]


THREADS = Patch("threads", "the provider serves 4 calls at once", SDK_SERVER,
                (f"futures.ThreadPoolExecutor(max_workers={SDK_WORKERS})",))
ERROR_TEXT = Patch("error text", "expected failures are shown with a Python traceback", SDK_SERVER,
                   ("traceback.format_exc()",))
SERVICER = Patch(
    "servicer", "no upload progress next to the resource, and `pulumi import` ends in KeyError: '__provider'",
    SDK_SERVER, (
        "from pulumi.runtime.proto import provider_pb2_grpc",
        "provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)",
        *(f"def {method}(self, request, context):" for method in (*URN_METHODS, "Read")),
        # where Read finds the pickled provider: what _refuse_import looks for
        f'PROVIDER_KEY = "{PROVIDER_KEY}"',
        "props = rpc.deserialize_properties(request.properties)",
        "props = rpc.deserialize_properties(request.inputs)",
        "providerStr = props[PROVIDER_KEY]",
    ))
PICKLER = Patch("pickler", "a program of more than ~1,000 resources may fail with RecursionError (pulumi/pulumi#17803)",
                "pulumi.dynamic.dynamic", (
                    "pickle.Pickler = pickle._Pickler",
                    "unsorted_batch_setitems = pickle.Pickler._batch_setitems",
                ))

#: The patches of the provider process, of the program process, and all of them.
SERVER_PATCHES = (THREADS, ERROR_TEXT, SERVICER)
PROGRAM_PATCHES = (PICKLER,)
PATCHES = (*SERVER_PATCHES, *PROGRAM_PATCHES)


# ---- the gate ---------------------------------------------------------------------------------


def sdk_version() -> str | None:
    """The installed Pulumi SDK's version (``None``: not known)."""
    try:
        return importlib.metadata.version("pulumi")
    except importlib.metadata.PackageNotFoundError:
        return None


def in_gate(version: str | None) -> bool:
    """Whether ``version`` is of a series the patches were verified against."""
    return version is not None and ".".join(version.split(".")[:2]) in VERIFIED_SDK


def sdk_source(module: str) -> str:
    """The source text of an SDK module, found without importing it (``pulumi.dynamic.__main__``
    serves when imported); ``""`` when it cannot be read."""
    try:
        spec = importlib.util.find_spec(module)
        return Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except (ImportError, ValueError, OSError):
        return ""


def missing_shapes(patch: Patch) -> list[str]:
    """The lines ``patch`` relies on that the installed SDK's source does not show."""
    source = sdk_source(patch.module)
    return [shape for shape in patch.shapes if shape not in source]


@functools.cache
def enabled(patches: tuple[Patch, ...]) -> frozenset[Patch]:
    """Which of ``patches`` this process applies: all of them in the gate; outside it, those whose
    shapes the SDK still shows, with one warning for the others. Decided once per process."""
    version = sdk_version()
    if in_gate(version):
        return frozenset(patches)
    skipped = [patch for patch in patches if missing_shapes(patch)]
    if skipped:
        warn(f"ims_pulumi: pulumi SDK {version or '(version unknown)'} moved internals that the provider adjusts, "
             f"so these adjustments are off: {'; '.join(f'{p.name} ({p.lost})' for p in skipped)}. They were "
             f"verified with pulumi {' or '.join(s + '.*' for s in VERIFIED_SDK)}: pin that version, or use an "
             "ims_pulumi release made for this SDK")
    return frozenset(patch for patch in patches if patch not in skipped)


# ---- the provider process ---------------------------------------------------------------------


def apply_server_patches(workers: int) -> None:
    """Apply the provider process's patches that the gate lets through (before the SDK serves)."""
    on = enabled(SERVER_PATCHES)
    if THREADS in on:
        patch_thread_pool(workers)
    if ERROR_TEXT in on:
        patch_error_text()
    if SERVICER in on:
        patch_servicer()


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


# The URN of the gRPC call being served by this thread. This is not provider state: it is the
# per-call context of the servicer wrapper, set by ``_with_urn`` when a Create/Update call starts
# and reset when it ends, so it never outlives the call or leaks into another one. Each call runs
# in its own worker thread with its own context, so concurrent calls never see each other's URN.
_CALL_URN: contextvars.ContextVar[str | None] = contextvars.ContextVar("ims_pulumi_call_urn", default=None)


def current_urn() -> str | None:
    """The URN of the resource whose Create/Update this thread is serving (``None``: none)."""
    return _CALL_URN.get()


def _with_urn(method: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``method(request, context)`` with ``request.urn`` as :func:`current_urn`, and the status sink
    of that resource, while it runs."""

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


def patch_servicer() -> None:
    """Wrap the servicer's Create/Update (:func:`_with_urn`) and Read (:func:`_refuse_import`) as it
    is registered with the gRPC server.

    ``pulumi/dynamic/__main__.py`` defines its servicer class and serves in the same module run, so
    the class cannot be patched beforehand; its registration call,
    ``provider_pb2_grpc.add_ResourceProviderServicer_to_server(monitor, server)``, is looked up on
    the module at call time and is where the instance's methods are wrapped. Idempotent.
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


# ---- the program process ----------------------------------------------------------------------

# Taken when this module is first imported (by the resource classes' module), before the SDK's
# serialize_provider has wrapped it.
_ORIGINAL_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]


def reset_pickler() -> None:
    """Undo the SDK's per-resource wrapping of ``_batch_setitems`` (pulumi/pulumi#17803), before a
    resource registers (and its provider is pickled)."""
    if PICKLER in enabled(PROGRAM_PATCHES):
        pickle._Pickler._batch_setitems = _ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]
