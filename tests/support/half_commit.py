"""What the half-commit tests (issue 23) share across servers: the provider driven as the engine
drives it, and the 20-lifecycle loop of the issue's "done when", run against the emulator's fault and
against a real Glance's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CreateResult

from ims_pulumi.core.client import CREATE_TOKEN_TAG
from ims_pulumi.dynamic.provider import ImageMetadataProvider

#: The live images of the server under test (gone statuses filtered out).
ListImages = Callable[[], list[dict[str, Any]]]


def outs(result: CreateResult) -> dict[str, Any]:
    """The outputs of a create (always there for this provider)."""
    assert result.outs is not None
    return dict(result.outs)


def checked(p: ImageMetadataProvider, resource: str, olds: dict[str, Any] | None = None, **news: Any) -> dict[str, Any]:
    """What the engine's check returns for resource ``resource`` (its program-side base token)."""
    result = p.check(olds or {}, {"__create_token": f"base{resource}", **news})
    assert not result.failures, result.failures
    return dict(result.inputs)


def lifecycle_loop(prov: ImageMetadataProvider, live: ListImages, *, prefix: str, tag: str,
                   first: Mapping[str, Any], second: Mapping[str, Any], runs: int = 20) -> int:
    """``runs`` times: create, replace (the new image first: ``first`` -> ``second`` replaces), delete
    the old one, destroy. After every step exactly the declared images exist; the survivor of each
    replacement has its declared tag and its create token. Returns the number of creates."""
    creates = 0
    for run in range(runs):
        name = f"{prefix}-{run}"
        declared_first = checked(prov, name, name=name, tags=[tag], **first)
        old = prov.create(declared_first)
        creates += 1
        assert [i["id"] for i in live()] == [old.id], f"run {run}: create"
        assert tag in live()[0]["tags"], f"run {run}: the first image has its tag"

        changed = checked(prov, name, declared_first, name=name, tags=[tag], **second)
        assert not prov.diff(old.id, outs(old), changed).delete_before_replace, f"run {run}: new image first"
        new = prov.create(checked(prov, name, name=name, tags=[tag], **second))  # the replacement's own check
        creates += 1
        assert {i["id"] for i in live()} == {old.id, new.id}, f"run {run}: replacement created"

        prov.delete(old.id, outs(old))
        (image,) = live()
        assert image["id"] == new.id, f"run {run}: old image deleted"
        assert sorted(image["tags"]) == sorted([tag, f"{CREATE_TOKEN_TAG}={outs(new)['__create_token']}"])

        prov.delete(new.id, outs(new))
        assert live() == [], f"run {run}: destroy"
    return creates
