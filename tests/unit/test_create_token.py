"""The create token per image (issue 24): check derives a new image's token from the program's base and
the values that replace, keeps an existing image's, and diff creates a replacement first only when
its token differs from the old image's. Pure and offline."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.dynamic import DiffResult

from ims_pulumi.core.context import ProviderContext, _create_first
from ims_pulumi.core.framework import Table
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.kinds import OfflineServices, TokenTag
from ims_pulumi.core.profiles import GLANCE, IMS
from ims_pulumi.core.sharing import IMAGE_MEMBER
from ims_pulumi.dynamic.provider import ImageMetadataProvider

BASE = "0123456789abcdef0123456789abcdef"  # what resource.create_token gives: 32 hex digits
TOKEN = IMAGE_METADATA.by_name["__create_token"]


def check(news: dict[str, Any], olds: dict[str, Any] | None = None, profile: Any = IMS) -> dict[str, Any]:
    inputs, failures = IMAGE_METADATA.check(olds or {}, {"__create_token": BASE, **news}, profile, OfflineServices())
    assert not failures, failures
    return inputs


def test_the_digest_covers_every_input_whose_change_can_replace() -> None:
    assert isinstance(TOKEN.kind, TokenTag)
    assert set(TOKEN.kind.distinguished_by) == {"os_version", "disk_format", "container_format", "min_disk",
                                                 "min_ram", "tags", "protected", "visibility", "source", "adopt_id"}
    assert "name" not in TOKEN.kind.distinguished_by, "a rename is in place: no new token needed"


@pytest.mark.parametrize(("olds", "news", "expect", "reason"), [
    ({}, {"name": "a", "disk_format": "qcow2"}, "derived", "a new image: base and digest"),
    ({"name": "a", "__create_token": BASE}, {"name": "b"}, BASE, "an image of an earlier release keeps its token"),
    ({"name": "a", "__create_token": f"{BASE}-0000000000000000"}, {"name": "a", "disk_format": "raw"},
     f"{BASE}-0000000000000000", "check with previous inputs keeps the token even when a value that replaces "
                                 "changes: the replacement's own check (without them) derives the new one"),
    ({"name": "a", "create_token": BASE}, {"name": "a"}, BASE, "release 0.1 state (no __create_token): the base"),
])
def test_check(olds: dict[str, Any], news: dict[str, Any], expect: str, reason: str) -> None:
    token = check(news, olds)["__create_token"]
    if expect == "derived":
        assert token.startswith(BASE + "-") and len(token) == len(BASE) + 17, reason
    else:
        assert token == expect, reason


@pytest.mark.parametrize(("a", "b", "same", "reason"), [
    ({"disk_format": "qcow2"}, {"disk_format": "qcow2"}, True, "deterministic: a run after a crash finds its image"),
    ({"disk_format": "qcow2"}, {"disk_format": "raw"}, False, "a value that replaces changes the token"),
    ({"disk_format": "qcow2", "name": "x"}, {"disk_format": "qcow2", "name": "y"}, True, "the name does not count"),
    ({"tags": ["a=1", "b=2"]}, {"tags": ["b=2", "a=1"]}, True, "tag order is no change"),
])
def test_derived_tokens(a: dict[str, Any], b: dict[str, Any], same: bool, reason: str) -> None:
    first, second = check({"name": "n", **a})["__create_token"], check({"name": "n", **b})["__create_token"]
    assert (first == second) is same, reason


def test_a_base_with_dashes_is_not_taken_for_a_derived_token() -> None:
    # Two resources whose bases share a prefix before a '-' must never share a derived token.
    kind = TOKEN.kind
    assert isinstance(kind, TokenTag)
    assert kind.fresh("tok-r1", {"disk_format": "raw"}) != kind.fresh("tok-r2", {"disk_format": "raw"})
    derived = kind.fresh("tok-r1", {"disk_format": "raw"})
    assert derived is not None and kind.fresh(derived, {"disk_format": "qcow2"}) == kind.fresh(
        "tok-r1", {"disk_format": "qcow2"}), "a derived token's base is found again"


def outputs_of(inputs: dict[str, Any]) -> dict[str, Any]:
    """What the state holds after a create of ``inputs`` (outputs echo the inputs)."""
    return {**IMAGE_METADATA.effective(inputs, IMS), "status": "queued"}


@pytest.mark.parametrize(("old", "new", "create_first", "reason"), [
    ({"disk_format": "qcow2"}, {"disk_format": "raw"}, True,
     "a value that replaces changed: the replacement's token differs, it is created first"),
    ({"disk_format": "qcow2"}, {"disk_format": "qcow2"}, False,
     "--replace / replace_on_changes with the same values: same token, the old image goes first"),
    ({"tags": ["a=1"]}, {"tags": ["a=2"]}, True, "a tag change replaces on IMS: tokens differ"),
])
def test_diff_orders_the_replacement(old: dict[str, Any], new: dict[str, Any], create_first: bool,
                                     reason: str) -> None:
    first = check({"name": "n", **old})
    olds = outputs_of(first)
    news = check({"name": "n", **new}, first)  # the engine's check with the previous inputs
    assert _create_first(IMAGE_METADATA, olds, news) is create_first, reason


def test_a_legacy_image_is_replaced_create_first() -> None:
    # An image of release 0.3 carries the bare base token; its replacement gets BASE-<digest>.
    first = {**check({"name": "n", "disk_format": "qcow2"}), "__create_token": BASE}
    news = check({"name": "n", "disk_format": "qcow2"}, first)
    assert news["__create_token"] == BASE
    assert _create_first(IMAGE_METADATA, outputs_of(first), news)


def test_unknown_values_count_as_distinct() -> None:
    from pulumi.output import Unknown

    first = check({"name": "n", "disk_format": "qcow2"})
    news = {**first, "disk_format": Unknown()}  # type: ignore[no-untyped-call]
    assert _create_first(IMAGE_METADATA, outputs_of(first), news), "decided again at `up`, when known"


def test_tables_without_a_create_token_delete_first() -> None:
    sharing: Table = IMAGE_MEMBER
    assert not _create_first(sharing, {"image_id": "a", "member_id": "b"}, {"image_id": "c", "member_id": "b"})


def test_provider_diff_reports_the_order() -> None:
    provider = ImageMetadataProvider.with_context(ProviderContext({"server": "glance",
                                                                   "endpoint": "http://127.0.0.1:9"}))
    first = check({"name": "n", "disk_format": "qcow2", "container_format": "bare"}, profile=GLANCE)
    news = check({"name": "n", "disk_format": "raw", "container_format": "bare"}, first, profile=GLANCE)
    result: DiffResult = provider.diff("id", {**IMAGE_METADATA.effective(first, GLANCE), "status": "queued"}, news)
    assert result.replaces == ["disk_format"] and result.delete_before_replace is False
