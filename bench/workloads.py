"""The Pulumi programs the benchmark runs: the real provider, the plugin and the floors.

Both programs have the same shape: ``N`` resources named ``img-00000`` ... with the same
inputs, read from stack config (``bench:n``, ``bench:generation``). Changing
``bench:generation`` changes one in-place input (the custom property ``generation``) on
every resource, which the real provider applies with one ``PATCH`` per image.

The engine floor replaces ``ImageMetadata`` with ``Noop``: a trivial dynamic provider that
lives in a module next to the program (so, like ``ImageMetadata``, it is pickled *by
reference*), echoes its inputs as outputs and never does any I/O. What remains is the cost
of the CLI, the engine, the language host, the provider process and the state backend:
the floor that no dynamic provider can go below.

Issue 16 ("lean resources") measures against a smaller floor still: ``Minimal``
(``bench/minimal_noop.py``), three inputs echoed as outputs and nothing else, in the same
program shape (``MINIMAL_PROGRAM``). ``Noop`` is then "the 9-property floor" (it registers the
benchmark's 8 inputs and a create token), ``BENCH_NOOP_SHAPE=image`` "the state-shaped floor".

Issue 25 runs the same images through the ``ims`` provider plugin (``pulumi-resource-ims``): from a
Python program on the generated SDK (``PLUGIN_PROGRAM``) and from a YAML program (:func:`yaml_program`).
"""

from __future__ import annotations

from pathlib import Path

#: The inputs every resource declares (both programs); ``generation`` is the in-place field.
RESOURCE_ARGS = """
        name=f"bench-{i:05d}",
        os_version="Ubuntu 22.04 server 64bit",
        disk_format="qcow2",
        container_format="bare",
        min_disk=40,
        min_ram=1024,
        tags=["team=bench"],
        properties={"generation": generation},
"""

_PROGRAM = '''
"""Benchmark program: N resources of one type (see bench/workloads.py)."""
import pulumi
{import_line}

config = pulumi.Config("bench")
n = config.require_int("n")
generation = config.get("generation") or "1"
for i in range(n):
    ImageMetadata(
        f"img-{{i:05d}}",{args}    )
pulumi.export("count", n)
'''

#: The program that uses the project's provider.
PROVIDER_PROGRAM = _PROGRAM.format(import_line="from ims_pulumi import ImageMetadata", args=RESOURCE_ARGS)

#: The same program over the no-op provider (``noop.py`` next to it).
FLOOR_PROGRAM = _PROGRAM.format(import_line="from noop import Noop as ImageMetadata", args=RESOURCE_ARGS)

#: ``noop.py``: the trivial provider of the engine floor.
NOOP_MODULE = '''
"""A dynamic provider that does nothing: the engine floor of the benchmark."""
import hashlib
import os
import pickle
import uuid

import pulumi
import pulumi.dynamic as dyn

# Same work-around as providers/ims_pulumi/dynamic/resource.py: the SDK's serialize_provider wraps
# pickle._Pickler._batch_setitems on every resource and never restores it, which overflows
# the stack after ~1,000 resources (pulumi/pulumi#17803). Without it the floor could not
# reach N = 3,000 either.
_ORIGINAL_BATCH_SETITEMS = pickle._Pickler._batch_setitems


# BENCH_NOOP_SHAPE=image: return outputs shaped like ImageMetadata's (the same computed fields,
# values of the same length), to tell how much of the provider's cost is just its state size. Kept to
# ImageMetadata's current outputs: the inputs as declared, echoed, and these eleven (bench/README.md).
IMAGE_SHAPED = os.environ.get("BENCH_NOOP_SHAPE") == "image"


def image_outputs(props, id_):
    return {
        **props, "checksum": "", "created_at": "2026-01-01T00:00:00Z", "description": "", "os_bit": "64",
        "os_type": "Linux", "owner": "0" * 32, "platform": "Ubuntu", "protected": False, "status": "queued",
        "updated_at": "2026-01-01T00:00:00Z", "visibility": "private",
    }


class NoopProvider(dyn.ResourceProvider):
    """Echo the inputs; no validation, no I/O."""

    serialize_as_secret_always = False

    def check(self, _olds, news):
        return dyn.CheckResult(news, [])  # ImageMetadata stores the declared inputs only, as this does

    def create(self, props):
        id_ = str(uuid.uuid4())
        return dyn.CreateResult(id_, image_outputs(props, id_) if IMAGE_SHAPED else props)

    def diff(self, _id, olds, news):
        changed = [k for k in news if not k.startswith("__") and olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, id_, _olds, news):
        return dyn.UpdateResult(image_outputs(news, id_) if IMAGE_SHAPED else news)

    def read(self, id_, props):
        return dyn.ReadResult(id_, props)

    def delete(self, _id, _props):
        return None


class Noop(dyn.Resource, module="bench", name="Noop"):
    """Takes the same keyword inputs as ImageMetadata (and a create token, like it)."""

    def __init__(self, resource_name, opts=None, **props):
        key = f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
        props["__create_token"] = hashlib.sha256(key.encode()).hexdigest()[:32]
        pickle._Pickler._batch_setitems = _ORIGINAL_BATCH_SETITEMS
        super().__init__(NoopProvider(), resource_name, props, opts)
'''


#: Issue 16's floor: the same N resources as the minimal no-op resource of ``bench/minimal_noop.py``
#: (three inputs: the name, ``generation`` (the in-place field) and an int), copied next to the program.
MINIMAL_PROGRAM = '''
"""Benchmark program: N minimal no-op resources (see bench/minimal_noop.py)."""
import pulumi
from minimal_noop import Minimal

config = pulumi.Config("bench")
n = config.require_int("n")
generation = config.get("generation") or "1"
for i in range(n):
    Minimal(f"img-{i:05d}", name=f"bench-{i:05d}", generation=generation, size=40)
pulumi.export("count", n)
'''

#: ``minimal_noop.py``, written next to ``MINIMAL_PROGRAM``.
MINIMAL_MODULE = Path(__file__).with_name("minimal_noop.py").read_text()


#: Issue 25: the same N images through the ``ims`` provider plugin, from a Python program on the SDK
#: generated from the plugin's schema (``pulumi_ims``, snake_case arguments, the same inputs).
PLUGIN_PROGRAM = _PROGRAM.format(import_line="from pulumi_ims import ImageMetadata", args=RESOURCE_ARGS)

#: The plugin's resource token (the types of the plugin kinds' state entries).
PLUGIN_TYPE = "ims:index:ImageMetadata"

#: The inputs of one image in a YAML program (schema names, camelCase), ``{i}`` the index.
_YAML_RESOURCE = """  img-{i:05d}:
    type: ims:index:ImageMetadata
    properties:
      name: bench-{i:05d}
      osVersion: Ubuntu 22.04 server 64bit
      diskFormat: qcow2
      containerFormat: bare
      minDisk: 40
      minRam: 1024
      tags:
        - team=bench
      properties:
        generation: g${{generation}}
"""


def yaml_program(name: str, n: int) -> str:
    """``Pulumi.yaml`` of a ``runtime: yaml`` project ``name`` with the same N images (YAML has no loops: one
    block per image). ``generation`` is the project's config key (``bench:generation`` when ``name`` is
    ``bench``), the in-place field, as in the Python programs; its value is ``g1`` (``g2``), not ``1``: the
    YAML host passes a config string that looks like a number as a number (pulumi/pulumi-yaml#577), which
    the table refuses for a custom property (``properties`` are strings)."""
    head = (f"name: {name}\nruntime: yaml\ndescription: Benchmark program, N images through the ims plugin\n"
            "config:\n  generation:\n    type: string\n    default: \"1\"\n"
            "resources:\n")
    return head + "".join(_YAML_RESOURCE.format(i=i) for i in range(n)) + f"outputs:\n  count: {n}\n"
