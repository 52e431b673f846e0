"""Lookups over real HTTP against the emulator: every filter, paging, other projects, ordering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core import lookup
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.lookup import ImageLookupError, Lookups
from ims_pulumi.core.profiles import IMS
from ims_pulumi.core.transport import Credentials, Transport

pytestmark = pytest.mark.contract

OTHER_TOKEN, OTHER_PROJECT = "other-project-token", "f" * 32


def client(url: str, **creds: str) -> ImsClient:
    return ImsClient(Transport(url, Credentials(**creds)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator that knows a second project (token auth), with images of both projects."""
    identities = ("--identity", f"{DEMO_AK}:{DEMO_SK}:{DEMO_PROJECT_ID}", "--token", f"{OTHER_TOKEN}:{OTHER_PROJECT}")
    with Emulator.start(tmp_path_factory.mktemp("lookup"), *identities) as emu:
        mine = client(emu.url, access_key=DEMO_AK, secret_key=DEMO_SK, project_id=DEMO_PROJECT_ID)
        for name, os_version, tags, props in (
            ("web-1", "Ubuntu 22.04 server 64bit", ["team=infra", "release=2026.11"], {"role": "web"}),
            ("web-2", "Ubuntu 22.04 server 64bit", ["team=apps", "release=2026.11"], {"role": "web"}),
            ("db-1", "CentOS 7.9 64bit", ["team=infra", "deprecated=true"], {"role": "db"}),
        ):
            image = mine.create_image({"name": name, "__os_version": os_version, "disk_format": "qcow2",
                                       "tags": tags, "min_disk": 40})
            mine.update_image(image["id"], [{"op": "add", "path": f"/{k}", "value": v} for k, v in props.items()])
        theirs = client(emu.url, auth_token=OTHER_TOKEN)
        theirs.create_image({"name": "web-1", "__os_version": "Ubuntu 22.04 server 64bit", "tags": ["team=infra"]})
        yield emu


@pytest.fixture
def lookups(server: Emulator) -> Lookups:
    return Lookups(client(server.url, access_key=DEMO_AK, secret_key=DEMO_SK, project_id=DEMO_PROJECT_ID), IMS)


# (reason, filters, the names expected, by name: the images are created within one second)
CASES = [
    ("exact name, server-side", {"name": "web-1"}, ["web-1"]),
    ("regex, client-side", {"name_regex": r"^web-\d$"}, ["web-1", "web-2"]),
    ("every tag", {"tags": ["team=infra", "release=2026.11"]}, ["web-1"]),
    ("any tag", {"tags_any": ["team=apps", "deprecated=true"]}, ["db-1", "web-2"]),
    ("no such tag", {"tags": ["team=infra"], "not_tags": ["deprecated=true"]}, ["web-1"]),
    ("custom properties", {"properties": {"role": "db"}}, ["db-1"]),
    ("os_version, any case", {"os_version": "centos 7.9 64bit", "visibility": "private"}, ["db-1"]),
    ("own images by owner", {"owner": DEMO_PROJECT_ID, "platform": "Ubuntu"}, ["web-1", "web-2"]),
    ("visibility private: own images only", {"visibility": "private", "disk_format": "qcow2"},
     ["db-1", "web-1", "web-2"]),
    ("image_type private", {"image_type": "private", "tags": ["team=infra"]}, ["db-1", "web-1"]),
]


@pytest.mark.parametrize("reason,filters,names", CASES, ids=[c[0] for c in CASES])
def test_filters(lookups: Lookups, reason: str, filters: dict[str, object], names: list[str]) -> None:
    assert [i.name for i in lookups.get_images(sort="name:asc", **filters)] == names, reason


def test_another_projects_private_images_are_never_returned(lookups: Lookups, server: Emulator) -> None:
    (other,) = [i for i in server.images(OTHER_PROJECT)]
    assert all(i.id != other["id"] for i in lookups.get_images(name="web-1"))
    with pytest.raises(ImageLookupError, match="no image matches"):
        lookups.get_image(id=other["id"])


def test_public_images_are_found_with_os_filters(lookups: Lookups) -> None:
    newest = lookups.get_image(platform="Ubuntu", visibility="public", name_regex=r"^Ubuntu 22\.04",
                               most_recent=True)
    assert newest.visibility == "public" and newest.image_type == "gold" and newest.status == "active"
    everything = lookups.get_images(platform="Ubuntu", visibility="public", name_regex=r"^Ubuntu 22\.04")
    assert newest.id == everything[0].id and len(everything) >= 2
    created = [i.created_at for i in everything]
    assert created == sorted(created, reverse=True)


def test_most_recent_with_equal_timestamps_is_deterministic(lookups: Lookups) -> None:
    public = lookups.get_images(visibility="public", status="active")
    by_time: dict[str, list[str]] = {}
    for info in public:
        by_time.setdefault(info.created_at, []).append(info.id)
    tied = next(ids for ids in by_time.values() if len(ids) > 1)
    info = lookups.get_images(visibility="public", status="active")
    assert [i.id for i in info if i.id in tied] == sorted(tied), "ties by id, ascending"
    chosen = {lookups.get_image(id=i, most_recent=True).id for i in tied}
    assert chosen == set(tied)


def test_a_client_filter_finds_a_match_on_the_last_page(server: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = client(server.url, access_key=DEMO_AK, secret_key=DEMO_SK, project_id=DEMO_PROJECT_ID)
    first = mine.create_image({"name": "page-target", "tags": ["paging=yes"]})
    for i in range(12):
        mine.create_image({"name": f"page-filler-{i:02d}", "tags": ["paging=yes"]})
    monkeypatch.setattr(lookup, "PAGE_SIZE", 5)
    fresh = Lookups(mine, IMS)
    found = fresh.get_image(tags=["paging=yes"], name_regex="target$")
    assert found.id == first["id"], "the oldest image is on the last page of created_at desc"


@pytest.mark.slow
def test_a_thousand_images(tmp_path: Path) -> None:
    with Emulator.start(tmp_path / "data", "--quota", "2000") as emu:
        mine = client(emu.url, access_key=DEMO_AK, secret_key=DEMO_SK, project_id=DEMO_PROJECT_ID)
        for i in range(1000):
            mine.create_image({"name": f"bulk-{i:04d}", "tags": ["bulk=yes", f"half={i % 2}"]})
        emu.reset_stats()
        found = Lookups(mine, IMS).get_images(tags=["bulk=yes"], not_tags=["half=1"], sort="name:asc")
        assert [i.name for i in found] == [f"bulk-{i:04d}" for i in range(0, 1000, 2)]
        pages = emu.stats()["requests"]["GET /v2/images"]
        assert 1000 // lookup.PAGE_SIZE <= pages <= 1000 // lookup.PAGE_SIZE + 1, pages
