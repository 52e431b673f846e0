"""The minimal no-op dynamic resource: the floor of issue 16 ("lean resources").

Three inputs (two strings and an int), echoed as outputs; no validation, no defaults, no
declared output attributes, no I/O. The benchmark copies this file next to the program as
``minimal_noop.py`` (``bench/workloads.py: MINIMAL_MODULE``), so the provider is pickled *by
reference* (``minimal_noop.MinimalProvider``), exactly as ``ImageMetadata``'s provider is
(``ims_pulumi.provider.ImageMetadataProvider``), and the dynamic-provider process imports it
from the project directory.

Two lines are not "nothing" but cost neither state nor registered properties, and
``ImageMetadata`` has both: ``serialize_as_secret_always = False`` (otherwise the SDK stores
the provider reference as an encrypted secret, which is larger), and the restore of
``pickle._Pickler._batch_setitems`` (the SDK wraps it per resource and never restores it;
without the restore a program of ~1,000 resources overflows the stack, pulumi/pulumi#17803).

``BENCH_NO_STACK_TRACE=1`` (the benchmark's kind ``minimal_nostack``) replaces the SDK's private
``pulumi.runtime.resource._get_stack_trace`` with one that returns an empty trace: the entries
then have neither ``stackTrace`` nor ``sourcePosition``. Not a supported switch (there is none,
see BENCHMARKS.md, section 2); it only measures what the SDK's per-resource stack trace costs.
"""

from __future__ import annotations

import os
import pickle
import uuid
from typing import Any

import pulumi
import pulumi.dynamic as dyn

_ORIGINAL_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]

if os.environ.get("BENCH_NO_STACK_TRACE") == "1":
    import pulumi.runtime.resource as _sdk_resource
    from pulumi.runtime.proto import source_pb2

    _sdk_resource._get_stack_trace = source_pb2.StackTrace  # an empty trace, hence no sourcePosition either

#: The three inputs (the in-place change of the benchmark changes ``generation``).
KEYS = ("name", "generation", "size")


class MinimalProvider(dyn.ResourceProvider):
    """Echo the three inputs."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(uuid.uuid4().hex, props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return dyn.DiffResult(changes=any(olds.get(k) != news.get(k) for k in KEYS), replaces=[],
                              delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(news)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class Minimal(dyn.Resource, module="bench", name="Minimal"):
    """``Minimal("r", name="x", generation="1", size=40)``: three inputs, nothing else."""

    def __init__(self, resource_name: str, name: pulumi.Input[str], generation: pulumi.Input[str],
                 size: pulumi.Input[int], opts: pulumi.ResourceOptions | None = None) -> None:
        pickle._Pickler._batch_setitems = _ORIGINAL_BATCH_SETITEMS  # type: ignore[attr-defined]
        super().__init__(MinimalProvider(), resource_name, {"name": name, "generation": generation, "size": size},
                         opts)
