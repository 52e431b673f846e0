"""The resource class on the program side, with Pulumi's mocks (no engine)."""

from __future__ import annotations

import pickle
from typing import Any

import pulumi
import pytest

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("sdk_event_loop")]


class Mocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs; record what was registered."""

    registered: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(dict(args.inputs))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


pulumi.runtime.set_mocks(Mocks(), project="proj", stack="dev", preview=False)

from ims_pulumi import ImageMetadata, ImageMetadataArgs  # noqa: E402  (after set_mocks)
from ims_pulumi.dynamic import resource as resource_module  # noqa: E402
from ims_pulumi.dynamic import sdk_patches  # noqa: E402


@pulumi.runtime.test
def test_thousands_of_resources_in_one_program() -> Any:
    """pulumi#17803: serialize_provider stacks a pickle wrapper per resource; 1,200 must still work."""
    images = [ImageMetadata(f"img{i}", name=f"img-{i}") for i in range(1200)]

    def check(last_id: str) -> None:
        assert last_id == "img1199-id"
        # The wrapper chain stays one deep: the guard restored the original before each resource.
        wrapper = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
        inner = [c.cell_contents for c in (wrapper.__closure__ or ())]
        assert sdk_patches._ORIGINAL_BATCH_SETITEMS in inner

    return images[-1].id.apply(check)


@pulumi.runtime.test
def test_args_class_and_keywords_register_the_same_inputs() -> Any:
    Mocks.registered.clear()
    first = ImageMetadata("a", ImageMetadataArgs(name="x", min_disk=40, tags=["k=v"]))
    second = ImageMetadata("b", name="x", min_disk=40, tags=["k=v"])

    def check(_: Any) -> None:
        a, b = Mocks.registered[-2], Mocks.registered[-1]
        assert a["min_disk"] == b["min_disk"] == 40 and a["tags"] == b["tags"] == ["k=v"]
        assert a["__create_token"] != b["__create_token"], "one token per resource name"
        assert "status" not in a or a["status"] is None

    return pulumi.Output.all(first.id, second.id).apply(check)


def test_create_token_is_stable_and_scoped_to_the_stack() -> None:
    token = resource_module.create_token("base")
    assert token == resource_module.create_token("base") and len(token) == 32
    assert token != resource_module.create_token("other")


def test_no_runtime_annotations_for_the_sdk_to_resolve() -> None:
    """The SDK resolves class annotations per resource; ImageMetadata keeps them for type checkers only."""
    from pulumi._types import resource_types

    assert resource_types(ImageMetadata) == {}


@pulumi.runtime.test
def test_outputs_exist_as_attributes() -> Any:
    image = ImageMetadata("attrs", name="x")
    return pulumi.Output.all(image.status, image.os_type, image.name).apply(
        lambda v: v[2] == "x" or pytest.fail(str(v)))
