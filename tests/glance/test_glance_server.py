"""Contract tests against a REAL OpenStack Glance 33.0.0 (no Keystone) on loopback.

The module-scoped fixture installs Glance into the cache (scripts/glance/install.sh,
~40 s the first time) and starts it with scripts/glance/run_glance.py in a tmp dir
(~5 s). These tests pin down what Glance really answers, so the IMS client can be
written against it. Every request sends ``Accept: application/json``: without it
Glance's error bodies are HTML (see test_error_body_is_html_without_accept_json).

Observed with Glance 33.0.0 (the comments next to each assertion say more):

* Image object of a fresh image (no data uploaded), in this key order:
  name, disk_format, container_format, visibility, size, virtual_size, status,
  checksum, protected, min_ram, min_disk, owner, os_hidden, os_hash_algo,
  os_hash_value, id, created_at, updated_at, tags, self, file, schema.
  Custom properties are extra TOP-LEVEL keys with string values (they come
  first in the JSON). No "locations", "direct_url" or "stores" key.
* Error body (with Accept: application/json), for every status seen here:
  ``{"message": "<text><br /><br />\\n...", "code": "<status> <reason>", "title": "<reason>"}``
  -- flat, no wrapping "error" object; the message carries HTML ``<br />`` noise.
* 204 answers have an empty body and ``Content-Type: text/html; charset=UTF-8``.
* Every answer has ``x-openstack-request-id: req-<uuid>``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.support.glance import GlanceServer

pytestmark = [pytest.mark.glance, pytest.mark.slow]

JSON = {"Accept": "application/json"}
PATCH_CT = "application/openstack-images-v2.1-json-patch"
PATCH = {**JSON, "Content-Type": PATCH_CT}
MISSING_ID = "00000000-0000-0000-0000-000000000000"
TIMEOUT = 30

# Keys of the image object of a fresh, data-less image (no custom properties).
IMAGE_KEYS = {
    "name", "disk_format", "container_format", "visibility", "size", "virtual_size",
    "status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
    "os_hash_algo", "os_hash_value", "id", "created_at", "updated_at", "tags",
    "self", "file", "schema",
}  # fmt: skip
ERROR_KEYS = {"message", "code", "title"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def make_image(glance: GlanceServer, http: requests.Session) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: create an image (asserting 201) and delete it after the test."""
    created: list[str] = []

    def make(**body: Any) -> dict[str, Any]:
        r = http.post(f"{glance.url}/v2/images", json=body, headers=JSON, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        image: dict[str, Any] = r.json()
        created.append(image["id"])
        return image

    yield make
    for image_id in created:
        url = f"{glance.url}/v2/images/{image_id}"
        http.patch(
            url,
            data=json.dumps([{"op": "replace", "path": "/protected", "value": False}]),
            headers=PATCH,
            timeout=TIMEOUT,
        )
        http.delete(url, headers=JSON, timeout=TIMEOUT)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def patch(http: requests.Session, url: str, ops: list[dict[str, Any]]) -> requests.Response:
    return http.patch(url, data=json.dumps(ops), headers=PATCH, timeout=TIMEOUT)


def image_count(glance: GlanceServer, http: requests.Session) -> int:
    r = http.get(f"{glance.url}/v2/images", params={"limit": 1000}, headers=JSON, timeout=TIMEOUT)
    return len(r.json()["images"])


def assert_json_error(r: requests.Response, status: int, reason: str, fragment: str = "") -> None:
    """Glance's JSON error shape: {"message", "code": "<status> <reason>", "title": "<reason>"}."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json", r.headers
    body = r.json()
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == f"{status} {reason}", body
    assert body["title"] == reason, body
    assert fragment in body["message"], body


# --------------------------------------------------------------------------- basics


def test_versions(glance: GlanceServer, http: requests.Session) -> None:
    # GET /versions -> 200 {"versions": [{"id": "v2.17", "status": "CURRENT", "links": [...]}, ...]};
    # the other ids (v2.0 .. v2.15) are "SUPPORTED". GET / -> 300 with the same body.
    r = http.get(f"{glance.url}/versions", headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 200
    versions = {v["id"]: v["status"] for v in r.json()["versions"]}
    assert versions["v2.17"] == "CURRENT"
    assert versions["v2.0"] == "SUPPORTED"
    assert http.get(f"{glance.url}/", headers=JSON, timeout=TIMEOUT).status_code == 300


def test_minimal_create_defaults(glance: GlanceServer, http: requests.Session) -> None:
    # POST /v2/images {"name": ...} -> 201, body = the image object, headers:
    #   Location: http://127.0.0.1:PORT/v2/images/<id>      (absolute)
    #   OpenStack-image-import-methods: glance-direct,web-download,copy-image
    #   OpenStack-image-store-ids: fs
    name = unique("minimal")
    r = http.post(f"{glance.url}/v2/images", json={"name": name}, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    image = r.json()
    try:
        assert r.headers["Location"] == f"{glance.url}/v2/images/{image['id']}"
        assert r.headers["x-openstack-request-id"].startswith("req-")
        assert set(image) == IMAGE_KEYS, sorted(set(image) ^ IMAGE_KEYS)
        assert image == {
            **image,
            "name": name,
            "disk_format": None,
            "container_format": None,
            "visibility": "shared",  # NOT private: the v2 default is "shared"
            "size": None,
            "virtual_size": None,
            "status": "queued",
            "checksum": None,
            "protected": False,
            "min_ram": 0,
            "min_disk": 0,
            "owner": None,  # no Keystone: the context has no project
            "os_hidden": False,
            "os_hash_algo": None,
            "os_hash_value": None,
            "tags": [],
            "self": f"/v2/images/{image['id']}",  # relative links
            "file": f"/v2/images/{image['id']}/file",
            "schema": "/v2/schemas/image",
        }
        uuid.UUID(image["id"])
        # Timestamps: second precision, UTC, "Z" suffix, e.g. "2026-11-27T07:24:36Z".
        assert len(image["created_at"]) == 20 and image["created_at"].endswith("Z")
        assert image["updated_at"] == image["created_at"]
    finally:
        http.delete(f"{glance.url}/v2/images/{image['id']}", headers=JSON, timeout=TIMEOUT)


def test_empty_create_is_accepted(glance: GlanceServer, http: requests.Session) -> None:
    # POST {} -> 201 with "name": null: nothing is required on create. Glance also does
    # not look at the request Content-Type on create (text/plain with a JSON body -> 201).
    r = http.post(f"{glance.url}/v2/images", data="{}", headers={**JSON, "Content-Type": "text/plain"}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    assert r.json()["name"] is None
    assert http.delete(f"{glance.url}/v2/images/{r.json()['id']}", timeout=TIMEOUT).status_code == 204


# --------------------------------------------------------------------------- CRUD


def full_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "private",
        "min_disk": 40,
        "min_ram": 1024,
        "tags": ["web", "base", "web", "arm"],
        "__os_version": "Ubuntu 22.04 server 64bit",
        "x_custom": "hello",
    }


def test_create_full_and_show(
    glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]
) -> None:
    name = unique("full")
    created = make_image(**full_body(name))
    # Custom properties ("__os_version", "x_custom") come back as top-level string keys,
    # "__"-prefixed names are ordinary properties (no special meaning in Glance).
    assert set(created) == IMAGE_KEYS | {"__os_version", "x_custom"}
    assert created["__os_version"] == "Ubuntu 22.04 server 64bit"
    assert created["x_custom"] == "hello"
    assert (created["disk_format"], created["container_format"]) == ("qcow2", "bare")
    assert created["visibility"] == "private"
    assert (created["min_disk"], created["min_ram"]) == (40, 1024)
    # Tags are de-duplicated, and their order is NOT kept (observed: ["z","a","m","b","a"]
    # came back as ["b","a","z","m"]): compare as sets.
    assert sorted(created["tags"]) == ["arm", "base", "web"]

    r = http.get(f"{glance.url}/v2/images/{created['id']}", headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 200  # GET /v2/images/<id> -> 200, same object as the 201 body
    shown = r.json()
    assert {**shown, "tags": sorted(shown["tags"])} == {**created, "tags": sorted(created["tags"])}


def test_list_filters(glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]) -> None:
    name = unique("listed")
    wanted = make_image(**full_body(name))
    make_image(name=unique("other"), tags=["other"], x_custom="other")

    # GET /v2/images?name=<exact> -> 200 {"images": [...], "first": "/v2/images?name=...",
    # "schema": "/v2/schemas/images"}; "next" only when there may be more pages.
    r = http.get(f"{glance.url}/v2/images", params={"name": name}, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"images", "first", "schema"}
    assert body["schema"] == "/v2/schemas/images"
    assert [i["id"] for i in body["images"]] == [wanted["id"]]
    assert body["images"][0]["__os_version"] == "Ubuntu 22.04 server 64bit"  # list items are full objects

    # No match -> 200 with an empty list (not 404).
    r = http.get(f"{glance.url}/v2/images", params={"name": unique("nope")}, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["images"] == []

    # Custom properties and tags are filters too; "in:" works on name.
    for params in (
        {"x_custom": "hello", "name": name},
        {"tag": "arm", "name": name},
        {"name": f"in:{name},{unique('absent')}"},
    ):
        r = http.get(f"{glance.url}/v2/images", params=params, headers=JSON, timeout=TIMEOUT)
        assert [i["id"] for i in r.json()["images"]] == [wanted["id"]], params

    # Pagination: limit=1 with >= 2 images -> "next": "/v2/images?limit=1&marker=<last id>".
    r = http.get(f"{glance.url}/v2/images", params={"limit": 1}, headers=JSON, timeout=TIMEOUT)
    page = r.json()
    assert len(page["images"]) == 1
    assert page["next"].startswith("/v2/images?") and f"marker={page['images'][0]['id']}" in page["next"]


def test_patch_replace_add_remove(
    glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]
) -> None:
    image = make_image(**full_body(unique("patched")))
    url = f"{glance.url}/v2/images/{image['id']}"
    new_name = unique("renamed")
    # PATCH with Content-Type application/openstack-images-v2.1-json-patch -> 200 and the
    # whole updated image object. Several ops in one request are fine.
    r = patch(
        http,
        url,
        [
            {"op": "replace", "path": "/name", "value": new_name},
            {"op": "add", "path": "/os_type", "value": "Linux"},
            {"op": "remove", "path": "/x_custom"},
            {"op": "replace", "path": "/__os_version", "value": "Ubuntu 24.04 server 64bit"},
            {"op": "replace", "path": "/min_disk", "value": 50},
        ],
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["name"] == new_name
    assert patched["os_type"] == "Linux"
    assert "x_custom" not in patched  # a removed property is simply absent (not null)
    assert patched["__os_version"] == "Ubuntu 24.04 server 64bit"
    assert patched["min_disk"] == 50
    assert patched["updated_at"] >= image["updated_at"]
    assert http.get(url, headers=JSON, timeout=TIMEOUT).json() == patched

    # "add" on an existing property replaces its value (JSON-patch semantics) -> 200.
    r = patch(http, url, [{"op": "add", "path": "/os_type", "value": "Windows"}])
    assert r.status_code == 200 and r.json()["os_type"] == "Windows"
    # The tag list can be replaced as a whole by PATCH too (again de-duplicated, unordered).
    r = patch(http, url, [{"op": "replace", "path": "/tags", "value": ["q", "p", "q"]}])
    assert r.status_code == 200 and sorted(r.json()["tags"]) == ["p", "q"]
    # "name" may be set to null (-> 200) but not removed (-> 403, see the error table).
    r = patch(http, url, [{"op": "replace", "path": "/name", "value": None}])
    assert r.status_code == 200 and r.json()["name"] is None
    # An empty op list -> 200, nothing changes.
    r = patch(http, url, [])
    assert r.status_code == 200 and r.json()["name"] is None


def test_patch_is_atomic(
    glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]
) -> None:
    # One failing op (remove of a missing property -> 409) rejects the whole PATCH:
    # the earlier "replace /name" is not applied either.
    image = make_image(name="before", x_custom="kept")
    url = f"{glance.url}/v2/images/{image['id']}"
    r = patch(http, url, [{"op": "replace", "path": "/name", "value": "after"}, {"op": "remove", "path": "/not_there"}])
    assert_json_error(r, 409, "Conflict", "Property not_there does not exist.")
    assert http.get(url, headers=JSON, timeout=TIMEOUT).json() == image


def test_tags_put_delete(
    glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]
) -> None:
    image = make_image(name=unique("tags"), tags=["a"])
    url = f"{glance.url}/v2/images/{image['id']}"
    # PUT /tags/<tag> -> 204, empty body (Content-Type text/html), idempotent (204 again).
    for _ in range(2):
        r = http.put(f"{url}/tags/new-tag", headers=JSON, timeout=TIMEOUT)
        assert r.status_code == 204 and r.content == b""
    assert sorted(http.get(url, headers=JSON, timeout=TIMEOUT).json()["tags"]) == ["a", "new-tag"]
    # DELETE /tags/<tag> -> 204; deleting it again -> 404 {"message": "The resource could not be found. ..."}.
    r = http.delete(f"{url}/tags/new-tag", headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 204 and r.content == b""
    assert http.get(url, headers=JSON, timeout=TIMEOUT).json()["tags"] == ["a"]
    assert_json_error(
        http.delete(f"{url}/tags/new-tag", headers=JSON, timeout=TIMEOUT),
        404,
        "Not Found",
        "The resource could not be found.",
    )
    # PUT a tag on a missing image -> 404 "Image <id> not found."
    assert_json_error(
        http.put(f"{glance.url}/v2/images/{MISSING_ID}/tags/x", headers=JSON, timeout=TIMEOUT),
        404,
        "Not Found",
        f"Image {MISSING_ID} not found.",
    )


def test_protected_delete_lifecycle(
    glance: GlanceServer, http: requests.Session, make_image: Callable[..., dict[str, Any]]
) -> None:
    image = make_image(name=unique("protected"))
    url = f"{glance.url}/v2/images/{image['id']}"
    r = patch(http, url, [{"op": "replace", "path": "/protected", "value": True}])
    assert r.status_code == 200 and r.json()["protected"] is True
    # DELETE of a protected image -> 403 "Image <id> is protected and cannot be deleted."
    assert_json_error(
        http.delete(url, headers=JSON, timeout=TIMEOUT),
        403,
        "Forbidden",
        f"Image {image['id']} is protected and cannot be deleted.",
    )
    # Other changes to a protected image are still allowed.
    r = patch(http, url, [{"op": "add", "path": "/note", "value": "still editable"}])
    assert r.status_code == 200, r.text
    r = patch(http, url, [{"op": "replace", "path": "/protected", "value": False}])
    assert r.status_code == 200 and r.json()["protected"] is False
    # DELETE -> 204, empty body.
    r = http.delete(url, headers=JSON, timeout=TIMEOUT)
    assert r.status_code == 204 and r.content == b""
    # The deleted image is gone at once: GET -> 404 "No image found with ID <id>";
    # DELETE again -> 404 "Failed to find image <id> to delete".
    assert_json_error(
        http.get(url, headers=JSON, timeout=TIMEOUT), 404, "Not Found", f"No image found with ID {image['id']}"
    )
    assert_json_error(
        http.delete(url, headers=JSON, timeout=TIMEOUT),
        404,
        "Not Found",
        f"Failed to find image {image['id']} to delete",
    )
    # PATCH of a deleted image -> 404 as well.
    assert patch(http, url, [{"op": "add", "path": "/x", "value": "y"}]).status_code == 404


def test_error_body_is_html_without_accept_json(glance: GlanceServer, http: requests.Session) -> None:
    url = f"{glance.url}/v2/images/{MISSING_ID}"
    # requests' default "Accept: */*" -> text/html page "<html>...<h1>404 Not Found</h1>...".
    r = http.get(url, timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "<h1>404 Not Found</h1>" in r.text
    # Same request with Accept: application/json -> JSON error body.
    assert_json_error(
        http.get(url, headers=JSON, timeout=TIMEOUT), 404, "Not Found", f"No image found with ID {MISSING_ID}"
    )


# --------------------------------------------------------------------------- error table


@dataclass(frozen=True)
class ErrorCase:
    """One request that Glance refuses; {id} in path/body is the target image's id."""

    id: str
    reason: str
    method: str
    path: str
    body: str | None
    status: int
    title: str
    fragment: str
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def _patch(ops: list[dict[str, Any]]) -> str:
    return json.dumps(ops)


IMG = "/v2/images/{id}"
ERROR_CASES = [
    # --- create (POST /v2/images): schema validation -> 400
    ErrorCase("unknown-disk-format", "disk_format is an enum; Huawei's zvhd2 is not in Glance's list",
              "POST", "/v2/images", '{"name": "x", "disk_format": "zvhd2"}', 400, "Bad Request",
              "'zvhd2' is not one of [None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']"),
    ErrorCase("unknown-container-format", "container_format is an enum too",
              "POST", "/v2/images", '{"name": "x", "container_format": "docker2"}', 400, "Bad Request",
              "'docker2' is not one of [None, 'ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed']"),
    ErrorCase("bad-visibility", "visibility is one of community/public/private/shared",
              "POST", "/v2/images", '{"name": "x", "visibility": "bogus"}', 400, "Bad Request",
              "'bogus' is not one of ['community', 'public', 'private', 'shared']"),
    ErrorCase("name-too-long", "name has maxLength 255",
              "POST", "/v2/images", json.dumps({"name": "n" * 256}), 400, "Bad Request", "is too long"),
    ErrorCase("tag-too-long", "each tag has maxLength 255",
              "POST", "/v2/images", json.dumps({"name": "x", "tags": ["t" * 256]}), 400, "Bad Request",
              "is too long"),
    ErrorCase("property-key-too-long", "custom property names are at most 255 characters",
              "POST", "/v2/images", json.dumps({"name": "x", "k" * 256: "v"}), 400, "Bad Request",
              "Custom property should not be greater than 255 characters."),
    ErrorCase("non-string-property", "custom property values must be strings (additionalProperties: string)",
              "POST", "/v2/images", '{"name": "x", "x_count": 5}', 400, "Bad Request",
              "5 is not of type 'string'"),
    ErrorCase("bad-id", "a client-chosen id must be a UUID",
              "POST", "/v2/images", '{"name": "x", "id": "nope"}', 400, "Bad Request", "'nope' does not match"),
    ErrorCase("malformed-json", "the body must parse as JSON",
              "POST", "/v2/images", "not json", 400, "Bad Request", "Malformed JSON in request body."),
    # --- create: reserved / read-only attributes -> 403
    ErrorCase("reserved-os-glance-prefix", "os_glance_* is the reserved property namespace",
              "POST", "/v2/images", '{"name": "x", "os_glance_x": "1"}', 403, "Forbidden",
              "Attribute 'os_glance_x' is reserved."),
    ErrorCase("read-only-status", "status is read-only",
              "POST", "/v2/images", '{"name": "x", "status": "active"}', 403, "Forbidden",
              "Attribute 'status' is read-only."),
    ErrorCase("reserved-locations", "locations is reserved (show_multiple_locations is off)",
              "POST", "/v2/images", '{"name": "x", "locations": []}', 403, "Forbidden",
              "Attribute 'locations' is reserved."),
    # --- create: conflict
    ErrorCase("duplicate-id", "creating with the id of an existing image",
              "POST", "/v2/images", '{"name": "x", "id": "{id}"}', 409, "Conflict",
              "Image ID {id} already exists!"),
    # --- PATCH
    ErrorCase("patch-wrong-content-type", "PATCH needs the openstack-images json-patch media type "
              "(answer carries Accept-Patch: application/openstack-images-v2.0-json-patch, "
              "application/openstack-images-v2.1-json-patch)",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/name", "value": "y"}]), 415,
              "Unsupported Media Type", "The request media type application/json is not supported by this server.",
              headers={**JSON, "Content-Type": "application/json"}),
    ErrorCase("patch-remove-missing-property", "remove of a property the image does not have",
              "PATCH", IMG, _patch([{"op": "remove", "path": "/nope"}]), 409, "Conflict",
              "Property nope does not exist."),
    ErrorCase("patch-replace-missing-property", "replace (unlike add) needs the property to exist",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/nope", "value": "x"}]), 409, "Conflict",
              "Property nope does not exist."),
    ErrorCase("patch-remove-name", "base attributes cannot be removed, only set (name may be null)",
              "PATCH", IMG, _patch([{"op": "remove", "path": "/name"}]), 403, "Forbidden",
              "Property name may not be removed."),
    ErrorCase("patch-read-only-id", "id is read-only",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/id", "value": MISSING_ID}]), 403, "Forbidden",
              "Attribute 'id' is read-only."),
    ErrorCase("patch-reserved-prefix", "os_glance_* is reserved on PATCH too",
              "PATCH", IMG, _patch([{"op": "add", "path": "/os_glance_foo", "value": "1"}]), 403, "Forbidden",
              "Attribute 'os_glance_foo' is reserved."),
    ErrorCase("patch-null-property", "a custom property cannot be set to null (remove it instead)",
              "PATCH", IMG, _patch([{"op": "add", "path": "/x_null", "value": None}]), 400, "Bad Request",
              "None is not of type 'string'"),
    ErrorCase("patch-protected-not-bool", "protected must be a JSON boolean",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/protected", "value": "yes"}]), 400,
              "Bad Request", "'yes' is not of type 'boolean'"),
    ErrorCase("patch-negative-min-disk", "min_disk cannot be negative",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/min_disk", "value": -1}]), 400, "Bad Request",
              "Invalid value '-1' for parameter 'min_disk': Cannot be a negative value"),
    ErrorCase("patch-min-disk-string", "min_disk must be a JSON integer, not a numeric string",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/min_disk", "value": "3"}]), 400, "Bad Request",
              "'3' is not of type 'integer'"),
    ErrorCase("patch-unknown-disk-format", "disk_format enum is checked on PATCH as well",
              "PATCH", IMG, _patch([{"op": "replace", "path": "/disk_format", "value": "zvhd2"}]), 400,
              "Bad Request", "'zvhd2' is not one of"),
    ErrorCase("patch-test-op", "only add, remove and replace are supported",
              "PATCH", IMG, _patch([{"op": "test", "path": "/name", "value": "x"}]), 400, "Bad Request",
              "Invalid operation: `test`. It must be one of the following: add, remove, replace."),
    ErrorCase("patch-not-a-list", "the PATCH body must be a JSON array",
              "PATCH", IMG, '{"op": "add"}', 400, "Bad Request",
              "Request body must be a JSON array of operation objects."),
    ErrorCase("patch-malformed-json", "the PATCH body must parse as JSON",
              "PATCH", IMG, "not json", 400, "Bad Request", "Malformed JSON in request body."),
    ErrorCase("patch-missing-image", "PATCH of an unknown id",
              "PATCH", f"/v2/images/{MISSING_ID}", _patch([{"op": "add", "path": "/x", "value": "y"}]), 404,
              "Not Found", ""),
    # --- GET / DELETE / methods
    ErrorCase("get-missing", "unknown image id",
              "GET", f"/v2/images/{MISSING_ID}", None, 404, "Not Found", f"No image found with ID {MISSING_ID}"),
    ErrorCase("get-not-a-uuid", "a malformed id is simply not found (no 400)",
              "GET", "/v2/images/not-a-uuid", None, 404, "Not Found", "No image found with ID not-a-uuid"),
    ErrorCase("delete-missing", "DELETE of an unknown id",
              "DELETE", f"/v2/images/{MISSING_ID}", None, 404, "Not Found",
              f"Failed to find image {MISSING_ID} to delete"),
    ErrorCase("put-image", "there is no PUT on an image (updates are PATCH only)",
              "PUT", IMG, '{"name": "x"}', 405, "Method Not Allowed", "The method PUT is not allowed for this resource."),
    ErrorCase("unknown-route", "unknown path under /v2",
              "GET", "/v2/nothing", None, 404, "Not Found", "The resource could not be found."),
    # --- list query parameters
    ErrorCase("list-bad-limit", "limit must be an integer",
              "GET", "/v2/images?limit=abc", None, 400, "Bad Request", "limit param must be an integer"),
    ErrorCase("list-bad-sort-key", "sort_key is restricted to a few base attributes",
              "GET", "/v2/images?sort_key=bogus", None, 400, "Bad Request",
              "Invalid sort key: bogus. It must be one of the following: name, status, container_format, "
              "disk_format, size, id, created_at, updated_at."),
    ErrorCase("list-bad-visibility", "visibility filter is validated",
              "GET", "/v2/images?visibility=bogus", None, 400, "Bad Request", "Invalid visibility value: bogus"),
]  # fmt: skip


@pytest.fixture(scope="module")
def target_image(glance: GlanceServer, http: requests.Session) -> Iterator[dict[str, Any]]:
    """An image the error cases aim at; it must come out of every case unchanged."""
    r = http.post(
        f"{glance.url}/v2/images",
        headers=JSON,
        timeout=TIMEOUT,
        json={
            "name": unique("target"),
            "disk_format": "qcow2",
            "container_format": "bare",
            "x_custom": "v",
            "tags": ["t"],
        },
    )
    assert r.status_code == 201, r.text
    image: dict[str, Any] = r.json()
    yield image
    http.delete(f"{glance.url}/v2/images/{image['id']}", headers=JSON, timeout=TIMEOUT)


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.id for c in ERROR_CASES])
def test_error_table(
    case: ErrorCase, glance: GlanceServer, http: requests.Session, target_image: dict[str, Any]
) -> None:
    image_id = target_image["id"]
    path = case.path.replace("{id}", image_id)
    body = None if case.body is None else case.body.replace("{id}", image_id)
    headers = dict(case.headers)
    if body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = PATCH_CT if case.method == "PATCH" else "application/json"
    count_before = image_count(glance, http)
    r = http.request(case.method, glance.url + path, data=body, headers=headers, timeout=TIMEOUT)
    assert_json_error(r, case.status, case.title, case.fragment.replace("{id}", image_id))
    if case.status == 415:
        assert r.headers["Accept-Patch"] == (
            "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
        )
    # A refused request changes nothing, and a refused POST creates no image.
    assert image_count(glance, http) == count_before
    after = http.get(f"{glance.url}/v2/images/{image_id}", headers=JSON, timeout=TIMEOUT).json()
    assert {**after, "tags": sorted(after["tags"])} == {**target_image, "tags": sorted(target_image["tags"])}
