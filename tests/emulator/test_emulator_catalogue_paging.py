"""Paging a 1,000-image list (own images + the public catalogue): every image exactly once, in order.

Images made in the same second share ``created_at``, as do two pairs of public images, so
these lists are full of ties; only the ``id`` tie-break keeps ``marker`` paging from
skipping or repeating an image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from ims_emulator.catalogue import public_images
from ims_emulator.process import Emulator
from tests.support.emulator_client import Api

pytestmark = [pytest.mark.contract, pytest.mark.slow]

OWN = 1000


@pytest.fixture(scope="module")
def everything(emulator: Emulator) -> Iterator[list[dict[str, Any]]]:
    """1,000 private images of the demo project, made once for the module, plus the catalogue."""
    emulator.reset()
    emulator.configure(quota=OWN)
    api = Api(emulator.url)
    own = [api.create(name=f"bulk-{i % 97:02d}", tags=[f"batch={i % 3}"]) for i in range(OWN)]
    yield [*own, *public_images()]
    emulator.reset()


@pytest.fixture
def api(emulator: Emulator) -> Api:
    """A demo-project client of the module's emulator (not reset: the images are made once)."""
    return Api(emulator.url)


def _pages(api: Api, params: list[tuple[str, str]]) -> list[list[dict[str, Any]]]:
    """Every page of a list, following the ``next`` links exactly as the server wrote them."""
    body = api.get("/v2/images", params=params).json()
    pages = [body["images"]]
    while "next" in body:
        parts = urlsplit(body["next"])
        body = api.get(parts.path, params=parse_qsl(parts.query)).json()
        pages.append(body["images"])
    return pages


def _expected(images: list[dict[str, Any]], key: str, desc: bool) -> list[str]:
    return [i["id"] for i in sorted(images, key=lambda i: (i[key], i["id"]), reverse=desc)]


# fmt: off
CASES: dict[str, dict[str, Any]] = {
    "Default25": {"reason": "default order (created_at desc, id desc), the default-sized pages", "params": [("limit", "25")], "key": "created_at", "desc": True},
    "Default100": {"reason": "default order, pages of 100", "params": [("limit", "100")], "key": "created_at", "desc": True},
    "CreatedAsc25": {"reason": "created_at asc, ties by id asc", "params": [("sort_key", "created_at"), ("sort_dir", "asc"), ("limit", "25")], "key": "created_at", "desc": False},
    "NameAsc100": {"reason": "name asc: 97 names shared by ~10 images each, ties by id", "params": [("sort_key", "name"), ("sort_dir", "asc"), ("limit", "100")], "key": "name", "desc": False},
    "NameDesc25": {"reason": "name desc", "params": [("sort_key", "name"), ("limit", "25")], "key": "name", "desc": True},
    "StatusAsc100": {"reason": "status: only two values, so the order is almost all tie-break", "params": [("sort_key", "status"), ("sort_dir", "asc"), ("limit", "100")], "key": "status", "desc": False},
}
# fmt: on


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_image_exactly_once_in_order(api: Api, everything: list[dict[str, Any]], case: dict[str, Any]) -> None:
    pages = _pages(api, case["params"])
    limit = int(dict(case["params"])["limit"])
    assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    got = [image["id"] for page in pages for image in page]
    assert len(got) == len(set(got)) == len(everything), f"{case['reason']}: every image once"
    assert got == _expected(everything, case["key"], case["desc"]), case["reason"]


def test_the_list_is_full_of_ties(everything: list[dict[str, Any]]) -> None:
    """The precondition of the tests above: many images share one created_at."""
    stamps = Counter(image["created_at"] for image in everything)
    assert max(stamps.values()) >= 2 and sum(n for n in stamps.values() if n > 1) >= OWN // 10


def test_a_page_boundary_inside_a_group_of_equal_created_at(api: Api, everything: list[dict[str, Any]]) -> None:
    """Choose limits so that a page ends between two own images of the same second."""
    order = sorted(everything, key=lambda i: (i["created_at"], i["id"]), reverse=True)
    splits = [n for n in range(1, len(order)) if order[n - 1]["created_at"] == order[n]["created_at"]]
    for limit in (splits[0], splits[len(splits) // 2]):  # both below 1,000, the largest page
        first, second = _pages(api, [("limit", str(limit))])[:2]
        assert first[-1]["created_at"] == second[0]["created_at"], "the boundary splits a tie"
        assert [i["id"] for i in first + second] == [i["id"] for i in order[: len(first) + len(second)]]


def test_a_marker_inside_a_pair_of_public_images(api: Api, everything: list[dict[str, Any]]) -> None:
    """A marker on the first of two public images of the same second: the next page starts at the second."""
    order = sorted(everything, key=lambda i: (i["created_at"], i["id"]), reverse=True)
    pairs = [
        n for n in range(1, len(order))
        if order[n]["visibility"] == "public" and order[n - 1]["created_at"] == order[n]["created_at"]
    ]  # fmt: skip
    assert len(pairs) == 2, "the catalogue has two such pairs"
    for n in pairs:
        page = api.get("/v2/images", params={"marker": order[n - 1]["id"], "limit": "3"}).json()["images"]
        assert [i["id"] for i in page] == [i["id"] for i in order[n : n + 3]]


def test_filtered_paging_over_the_combined_set(api: Api, everything: list[dict[str, Any]]) -> None:
    pages = _pages(api, [("tag", "batch=1"), ("limit", "25")])
    got = [image["id"] for page in pages for image in page]
    want = [i for i in everything if "batch=1" in i["tags"]]
    assert got == _expected(want, "created_at", True) and len(got) == len(set(got)) == 333
    public = [image["id"] for page in _pages(api, [("visibility", "public"), ("limit", "7")]) for image in page]
    assert public == _expected(public_images(), "created_at", True)
