"""Lookups offline: which filters go to the server, which stay here, ordering and the error texts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from ims_pulumi.core.lookup import ImageInfo, ImageLookupError, Lookups, plan_query
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile

pytestmark = pytest.mark.unit

# (reason, profile, filters, server query, filters applied here besides the default status)
PLANS = [
    ("exact name is a documented server filter", IMS, {"name": "web"}, [("name", "web")], ["name"]),
    ("a regex only the client can apply", IMS, {"name_regex": "^web"}, [], ["name_regex"]),
    ("OS fields are IMS query parameters", IMS, {"platform": "Ubuntu", "os_bit": "64"},
     [("__platform", "Ubuntu"), ("__os_bit", "64")], ["platform", "os_bit"]),
    ("IMS documents one tag value: the first goes to the server, all are checked here", IMS,
     {"tags": ["a=1", "b=2"]}, [("tag", "a=1")], ["tags"]),
    ("Glance takes every tag", GLANCE, {"tags": ["a", "b"]}, [("tag", "a"), ("tag", "b")], ["tags"]),
    ("any-of and none-of tags are client-side", IMS, {"tags_any": ["a=1"], "not_tags": ["b=2"]}, [],
     ["tags_any", "not_tags"]),
    ("custom properties have no documented filter", IMS, {"properties": {"role": "web"}}, [], ["properties"]),
    ("member_status needs visibility=shared on IMS", IMS, {"member_status": "accepted"},
     [("member_status", "accepted"), ("visibility", "shared")], ["member_status"]),
    ("an explicit status replaces the default", IMS, {"status": "saving"}, [("status", "saving")], ["status"]),
    ("id is read directly, not listed", IMS, {"id": "abc"}, [], ["id"]),
    ("os_version has no documented filter", IMS, {"os_version": "Ubuntu 22.04 server 64bit"}, [], ["os_version"]),
]


@pytest.mark.parametrize("reason,profile,filters,server,client", PLANS, ids=[p[0] for p in PLANS])
def test_filter_planning(reason: str, profile: ServerProfile, filters: dict[str, Any],
                         server: list[tuple[str, str]], client: list[str]) -> None:
    plan = plan_query(filters, profile)
    assert list(plan.server) == server, reason
    names = [n for n, _ in plan.client]
    assert [n for n in names if n != "status_default"] == client, reason
    assert ("status_default" in names) == ("status" not in filters), "default: active or queued only"


@pytest.mark.parametrize("name", ["os_type", "platform", "os_bit", "image_type"])
def test_fields_glance_does_not_have_fail_clearly(name: str) -> None:
    with pytest.raises(ImageLookupError, match=f"{name}=.*cannot be used on a Glance server"):
        plan_query({name: "x"}, GLANCE)


def image(id_: str, name: str, created: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "name": name, "created_at": created, "updated_at": created, "status": "active",
            "visibility": "public", "tags": [], **extra}


CATALOGUE = [
    image("b", "Ubuntu 22.04 server 64bit", "2026-01-02T00:00:00Z", __platform="Ubuntu"),
    image("a", "Ubuntu 22.04 server 64bit(40GB)", "2026-01-02T00:00:00Z", __platform="Ubuntu"),
    image("c", "Ubuntu 20.04 server 64bit", "2025-06-01T00:00:00Z", __platform="Ubuntu"),
    image("k", "killed one", "2026-02-01T00:00:00Z", status="killed"),
    image("g", "golden", "2026-03-01T00:00:00Z", tags=["release=2026.11", "team=infra"], role="web",
          visibility="private"),
]


class FakeClient:
    """Serves the catalogue in pages of two, honouring the name filter only (like a partial server)."""

    def __init__(self) -> None:
        self.calls = 0

    def list_images(self, filters: Sequence[tuple[str, str]] = (), **_: Any) -> Iterator[dict[str, Any]]:
        self.calls += 1
        query = dict(filters)
        yield from (i for i in CATALOGUE if "name" not in query or i["name"] == query["name"])

    def get_image(self, image_id: str, **_: Any) -> dict[str, Any] | None:
        return next((i for i in CATALOGUE if i["id"] == image_id), None)


@pytest.fixture
def lookups() -> Lookups:
    return Lookups(FakeClient(), IMS)  # type: ignore[arg-type]


def test_most_recent_breaks_created_at_ties_by_id(lookups: Lookups) -> None:
    found = lookups.get_image(name_regex=r"^Ubuntu 22\.04", most_recent=True)
    assert found.id == "a", "equal created_at: the smaller id, always"


def test_several_matches_list_candidates_and_the_fix(lookups: Lookups) -> None:
    with pytest.raises(ImageLookupError) as info:
        lookups.get_image(platform="Ubuntu")
    text = str(info.value)
    assert text.startswith("3 images match platform='Ubuntu': a 'Ubuntu 22.04 server 64bit(40GB)' created")
    assert "most_recent=True" in text and "Add a filter" in text


def test_no_match_names_the_filters_and_the_closest_relaxation(lookups: Lookups) -> None:
    with pytest.raises(ImageLookupError) as info:
        lookups.get_image(name_regex="^Ubuntu", tags=["release=2026.11"])
    text = str(info.value)
    assert "no image matches name_regex='^Ubuntu', tags=['release=2026.11']" in text
    assert "without name_regex: 1 image(s)" in text and "without tags: 3 image(s)" in text


def test_killed_images_are_never_returned_unless_asked(lookups: Lookups) -> None:
    assert [i.id for i in lookups.get_images(name_regex="killed")] == []
    assert [i.id for i in lookups.get_images(status="killed")] == ["k"]


def test_sorting_and_limit(lookups: Lookups) -> None:
    assert [i.id for i in lookups.get_images(sort="name:asc", limit=2)] == ["c", "b"], "byte order, as servers sort"
    assert [i.id for i in lookups.get_images(sort="created_at:asc")] == ["c", "a", "b", "g"]
    with pytest.raises(ImageLookupError, match="must be one of created_at, updated_at, name"):
        lookups.get_images(sort="size")


def test_identical_lookups_are_cached(lookups: Lookups) -> None:
    lookups.get_images(platform="Ubuntu")
    lookups.get_image(platform="Ubuntu", most_recent=True)
    assert lookups.client.calls == 1  # type: ignore[attr-defined]


def test_image_info_carries_the_outputs_and_custom_properties(lookups: Lookups) -> None:
    info = lookups.get_image(tags=["release=2026.11"], properties={"role": "web"})
    assert isinstance(info, ImageInfo) and (info.id, info.name, info.tags) == ("g", "golden",
                                                                                ("release=2026.11", "team=infra"))
    assert info.properties == {"role": "web"} and info.status == "active"
