"""``ImsClient.create_image`` under half-committed creates (issue 23), against a scripted server: the
Glance way (a client-chosen id, the same POST again, 409 = it exists, the lost tags added) and the IMS
way (token look-up, then name + created_at, the tagless image deleted before the POST again)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import pytest

from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.errors import Conflict, NotFound, ServerError
from ims_pulumi.core.transport import Budget, Response, RetryPolicy

TOKEN_TAG = "pulumi-create-token=t1"


class HalfCommittingServer:
    """A scripted image server: the first ``half`` creates store the image without its tags and fail
    with 500; ``ids`` says whether a client-chosen ``id`` is taken (Glance) or refused (IMS)."""

    def __init__(self, *, half: int, ids: bool, now: str = "2026-12-06T04:00:00Z") -> None:
        self.half, self.ids, self.now = half, ids, now
        self.images: dict[str, dict[str, Any]] = {}
        self.sent: list[str] = []
        self.retry = RetryPolicy()

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass

    def request(self, method: str, path: str, *, json_body: Any = None, query: Sequence[tuple[str, str]] = (),
                operation: str = "", budget: Budget | None = None, **_: Any) -> Response:
        self.sent.append(f"{method} {path}" + (f"?{'&'.join(f'{k}={v}' for k, v in query)}" if query else ""))
        if method == "POST" and path == "/v2/images":
            return self._create(dict(json_body), operation)
        if method == "GET" and path == "/v2/images":
            return self._list(dict(query))
        image_id = path.split("/")[3]
        if image_id not in self.images:
            raise NotFound(operation=operation, status=404)
        if method == "GET":
            return self._answer(self.images[image_id])
        if method == "DELETE" and path.count("/") == 3:
            del self.images[image_id]
            return self._answer(None, 204)
        if method == "PUT" and "/tags/" in path:
            self.images[image_id]["tags"].append(unquote(path.rsplit("/", 1)[1]))
            return self._answer(None, 204)
        raise AssertionError(f"unexpected {method} {path}")

    def _create(self, body: dict[str, Any], operation: str) -> Response:
        if "id" in body and not self.ids:
            raise AssertionError("IMS documents no id in the create body")
        image_id = str(body.pop("id", f"img-{len(self.images) + len(self.sent)}"))
        if image_id in self.images:
            raise Conflict(operation=operation, status=409, message=f"Image with identifier {image_id} already exists")
        image = {**body, "id": image_id, "status": "queued", "created_at": self.now, "tags": list(body.get("tags", []))}
        if self.half:
            self.half -= 1
            self.images[image_id] = {**image, "tags": []}
            raise ServerError(operation=operation, status=500, message="database is locked")
        self.images[image_id] = image
        return self._answer(image, 201)

    def _list(self, query: Mapping[str, str]) -> Response:
        found = [i for i in self.images.values()
                 if ("tag" not in query or query["tag"] in i["tags"])
                 and ("name" not in query or query["name"] == i.get("name"))
                 and ("created_at" not in query or i["created_at"] >= query["created_at"].removeprefix("gte:"))]
        return self._answer({"images": found})

    @staticmethod
    def _answer(body: Any, status: int = 200) -> Response:
        return Response(status, b"" if body is None else json.dumps(body).encode(), {})


BODY = {"name": "web", "disk_format": "raw", "min_ram": 0, "tags": ["team", TOKEN_TAG]}


@pytest.mark.parametrize("half", [1, 3])
def test_glance_sends_the_same_id_again_and_gives_the_image_its_lost_tags(half: int) -> None:
    server = HalfCommittingServer(half=half, ids=True)
    image = ImsClient(server).create_image(BODY, client_id=True)  # type: ignore[arg-type]
    assert list(server.images) == [image["id"]], "one image, whatever the number of half-commits"
    assert sorted(image["tags"]) == sorted(["team", TOKEN_TAG]), "the token tag too: a later run finds it"
    posts = [s for s in server.sent if s == "POST /v2/images"]
    assert len(posts) == 2, "the second POST of the same id meets the stored image (409): done"


def test_ims_deletes_the_tagless_image_and_posts_again() -> None:
    server = HalfCommittingServer(half=1, ids=False, now="2999-01-01T00:00:00Z")
    image = ImsClient(server).create_image(BODY)  # type: ignore[arg-type]
    assert list(server.images) == [image["id"]] and image["tags"] == ["team", TOKEN_TAG]
    assert any(s.startswith("GET /v2/images?name=web&created_at=gte:") for s in server.sent)


@pytest.mark.parametrize(("other", "reason"), [
    ({"tags": ["x"]}, "an image with tags is a complete create"),
    ({"disk_format": "qcow2"}, "other create fields"),
    ({"status": "active"}, "an image with data is not a create that just failed"),
    ({"created_at": "2000-01-01T00:00:00Z"}, "older than the attempt (less the clock margin)"),
])
def test_ims_leaves_other_images_of_the_name_alone(other: dict[str, Any], reason: str) -> None:
    server = HalfCommittingServer(half=1, ids=False, now="2999-01-01T00:00:00Z")
    server.images["theirs"] = {"id": "theirs", "name": "web", "disk_format": "raw", "min_ram": 0, "tags": [],
                               "status": "queued", "created_at": "2999-01-01T00:00:00Z", **other}
    ImsClient(server).create_image(BODY)  # type: ignore[arg-type]
    assert "theirs" in server.images, reason
    assert len(server.images) == 2


class AlwaysConflict(HalfCommittingServer):
    """A server that answers 409 to every create (an id this create did not store)."""

    def _create(self, body: dict[str, Any], operation: str) -> Response:
        raise Conflict(operation=operation, status=409, message="conflict")


def test_a_409_on_the_first_post_is_not_taken_for_an_earlier_attempt() -> None:
    server = AlwaysConflict(half=0, ids=True)
    with pytest.raises(Conflict):
        ImsClient(server).create_image(BODY, client_id=True)  # type: ignore[arg-type]
    assert [s for s in server.sent if s.startswith("GET /v2/images/")] == [], "no image is read for it"
