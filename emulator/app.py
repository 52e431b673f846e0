"""The aiohttp application: routes, the request pipeline and the test controls.

Pipeline of an API request (one middleware, in this order, mirroring where a real
deployment would fail): count it -> unknown route (gateway 404) -> ``latency`` ->
``reset`` -> ``throttle`` -> authentication (gateway 401) -> ``error`` -> ``forbidden`` ->
handler -> ``drop_response``. ``/_emulator/*`` skips all but the request id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from emulator import PLATFORM_PROJECT_ID, catalogue, errors, rules, schemas
from emulator.auth import BODY_KEY, Authenticator
from emulator.errors import ApiError, Style, bad_request, not_found
from emulator.faults import FaultError, FaultRule, Faults
from emulator.settings import Settings, SettingsError
from emulator.stats import Stats
from emulator.store import Store, UnknownMarker

#: AK/SK-signed bodies are limited to 12 MB by the gateway (IMS upload docs); uploads are streamed.
MAX_BODY = 12 * 1024 * 1024
PROJECT_KEY = "emulator.project"
INTERNAL_PREFIX = "/_emulator/"


@dataclass
class State:
    """Everything the handlers share."""

    store: Store
    settings: Settings
    auth: Authenticator
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    #: Start-up settings, restored by ``POST /_emulator/reset``.
    initial_settings: dict[str, Any] = field(default_factory=dict)
    #: Pending ``saving`` -> ``active`` transitions.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.initial_settings = self.settings.as_dict()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


STATE = web.AppKey("state", State)


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "<unknown>"


def _fire(request: web.Request, kind: str) -> FaultRule | None:
    """Fire a fault of ``kind`` for this request, counting it in the stats."""
    state = request.app[STATE]
    rule = state.faults.fire(kind, request.method, request.path, _template(request))
    if rule is not None:
        state.stats.fault(kind)
    return rule


class _Dropped(Exception):
    """Raised to close the connection without any response (``reset`` fault)."""


def _abort(request: web.Request) -> web.Response:
    """Close the connection without answering; the returned response is never written."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


async def _api_pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.match_info.http_exception is not None:
        raise ApiError(
            404, errors.GW_NOT_FOUND, "The API does not exist or has not been published.", style=Style.GATEWAY
        )
    if rule := _fire(request, "latency"):
        await asyncio.sleep(state.faults.delay(rule))
    if _fire(request, "reset"):
        raise _Dropped
    if rule := _fire(request, "throttle"):
        retry_after = rule.params["retry_after"]
        raise ApiError(
            429,
            errors.GW_THROTTLED,
            "The throttling threshold has been reached: policy user over ratelimit.",
            style=Style.GATEWAY,
            headers={"Retry-After": str(retry_after)},
        )
    request[PROJECT_KEY] = await state.auth.project_of(request)
    if request[PROJECT_KEY] == PLATFORM_PROJECT_ID:  # only possible with --no-auth and X-Project-Id
        raise ApiError(403, errors.ROLE_INVALID, "The platform project that owns the public images is not usable.")
    if rule := _fire(request, "error"):
        raise ApiError(rule.params["status"], errors.FAULT_CODE, f"Injected fault: HTTP {rule.params['status']}.")
    if _fire(request, "forbidden"):
        raise ApiError(403, errors.ROLE_INVALID)
    return await handler(request)


@web.middleware
async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request ids, stats, faults, authentication, and error rendering."""
    state = request.app[STATE]
    request_id = uuid.uuid4()
    internal = request.path.startswith(INTERNAL_PREFIX)
    template = _template(request)
    if not internal:
        state.stats.request(request.method, template)
    try:
        response = await (handler(request) if internal else _api_pipeline(request, handler))
    except _Dropped:
        return _abort(request)
    except ApiError as exc:
        response = exc.response(request_id.hex)
    except web.HTTPException as exc:  # aiohttp's own: body too large, unknown /_emulator/ route
        code = errors.GW_TOO_LARGE if exc.status == 413 else errors.GW_NOT_FOUND
        response = ApiError(exc.status, code, exc.reason, style=Style.GATEWAY).response(request_id.hex)
    response.headers["X-Request-Id"] = request_id.hex
    response.headers["X-Openstack-Request-Id"] = f"req-{request_id}"
    if not internal:
        state.stats.response(request.method, template, response.status)
        if _fire(request, "drop_response"):
            return _abort(request)
    return response


async def _body(request: web.Request) -> bytes:
    """The request body, reusing the copy read for signature checking."""
    body = request.get(BODY_KEY)
    return body if body is not None else await request.read()


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request(message="The request body is not valid JSON.") from None


async def _json(request: web.Request) -> Any:
    """The JSON body; IMG.0007 when there is none."""
    raw = await _body(request)
    if not raw.strip():
        raise bad_request(errors.EMPTY_BODY)
    return _loads(raw)


def _public(request: web.Request) -> bool:
    """Whether the caller sees the catalogue of public images (setting ``public_images``)."""
    return request.app[STATE].settings.public_images


def _image_or_404(request: web.Request) -> dict[str, Any]:
    """The image of the path: one of the caller's or, when shown, a public one."""
    image = request.app[STATE].store.get(request[PROJECT_KEY], request.match_info["id"], public=_public(request))
    if image is None:
        raise not_found()
    return image


def _own_image(request: web.Request, code: str = errors.OWNER_ONLY) -> dict[str, Any]:
    """The image of the path for a write: 404 if unseen, 403 ``code`` if it is a public image."""
    image = _image_or_404(request)
    if catalogue.is_public(image):
        raise errors.public_image_write(code)
    return image


def _quota(request: web.Request) -> int:
    """The private-image quota for this request: the setting, or a lower ``quota`` fault."""
    quota = request.app[STATE].settings.quota
    rule = _fire(request, "quota")
    return min(quota, rule.params["limit"]) if rule else quota


def _check_unique_name(request: web.Request, name: str, image_id: str) -> None:
    """IMG.0009 when unique names are on (setting or fault) and another image has ``name``."""
    state = request.app[STATE]
    enforce = state.settings.unique_names or _fire(request, "unique_names") is not None
    if enforce and name and state.store.name_taken(request[PROJECT_KEY], name, except_id=image_id):
        raise bad_request(errors.NAME_EXISTS)


# --- /v2/images ---------------------------------------------------------------------------


async def create_image(request: web.Request) -> web.Response:
    """``POST /v2/images`` -> 201 with the full image."""
    state = request.app[STATE]
    project = request[PROJECT_KEY]
    image = rules.new_image(await _json(request), str(uuid.uuid4()), project, state.settings)
    # No await from here to the insert: quota and name checks cannot race (see Store).
    if state.store.count(project) >= _quota(request):
        raise bad_request(errors.QUOTA_EXCEEDED)
    _check_unique_name(request, image["name"], image["id"])
    state.store.insert(project, image)
    return web.json_response(image, status=201)


async def show_image(request: web.Request) -> web.Response:
    """``GET /v2/images/{id}``."""
    return web.json_response(_image_or_404(request))


async def list_images(request: web.Request) -> web.Response:
    """``GET /v2/images``: filters, sorting and marker paging with ``first``/``next`` links."""
    query = rules.parse_list_query(request.query.items(), request.app[STATE].settings)
    try:
        images, more = request.app[STATE].store.page(request[PROJECT_KEY], query, public=_public(request))
    except UnknownMarker:
        raise bad_request(message=f"marker {query.marker!r} could not be found.") from None

    def link(*extra: tuple[str, str]) -> str:
        return "/v2/images?" + urlencode([*query.link_params, *extra], quote_via=quote)

    body: dict[str, Any] = {
        "images": images,
        "schema": "/v2/schemas/images",
        "first": link(("limit", str(query.limit))),
    }
    if more:
        body["next"] = link(("marker", images[-1]["id"]), ("limit", str(query.limit)))
    return web.json_response(body)


async def update_image(request: web.Request) -> web.Response:
    """``PATCH /v2/images/{id}`` in either JSON-patch dialect; all operations or none."""
    state = request.app[STATE]
    content_type = request.content_type
    if content_type not in rules.PATCH_TYPES:
        raise ApiError(
            415,
            errors.BAD_BODY,
            f"Unsupported Content-Type {content_type!r}; use one of {', '.join(rules.PATCH_TYPES)}.",
            headers={"Accept-Patch": ", ".join(rules.PATCH_TYPES)},
        )
    ops = rules.parse_patch(content_type, await _json(request))
    image = _own_image(request)
    patched = rules.apply_patch(image, content_type, ops, state.settings)
    if ops:
        if patched["name"] != image["name"]:
            _check_unique_name(request, patched["name"], image["id"])
        patched["updated_at"] = rules.now()
        state.store.replace(patched)
    return web.json_response(patched)


async def delete_image(request: web.Request) -> web.Response:
    """``DELETE /v2/images/{id}`` (optional body ``{"delete_backup": bool}``) -> 204."""
    state = request.app[STATE]
    raw = await _body(request)
    body = _loads(raw) if raw.strip() else None
    if body is not None and not (
        isinstance(body, dict) and set(body) <= {"delete_backup"} and isinstance(body.get("delete_backup", False), bool)
    ):
        raise bad_request(message='The DELETE body may only be {"delete_backup": true|false}.')
    image = state.store.get(request[PROJECT_KEY], request.match_info["id"], public=_public(request))
    if image is None:
        if state.settings.delete_unknown_204:
            return web.Response(status=204)
        raise not_found()
    if catalogue.is_public(image):
        raise errors.public_image_write(errors.PUBLIC_IMAGE_DELETE)
    if image["protected"]:
        raise ApiError(state.settings.protected_delete_status, errors.IMAGE_PROTECTED)
    state.store.delete(image["id"])
    return web.Response(status=204)


async def add_tag(request: web.Request) -> web.Response:
    """``PUT /v2/images/{id}/tags/{tag}`` -> 204; adding a present tag changes nothing."""
    state = request.app[STATE]
    tag = rules.check_path_tag(request.match_info["tag"], state.settings)
    image = _own_image(request)
    if tag not in image["tags"]:
        if len(image["tags"]) >= rules.MAX_TAGS:
            raise bad_request(errors.TAG_QUOTA)
        state.store.replace({**image, "tags": [*image["tags"], tag], "updated_at": rules.now()})
    return web.Response(status=204)


async def delete_tag(request: web.Request) -> web.Response:
    """``DELETE /v2/images/{id}/tags/{tag}`` -> 204, or 404 when the image lacks the tag.

    The tag in the path follows the same rules as for PUT (400 IMG.0115 otherwise).
    """
    tag = rules.check_path_tag(request.match_info["tag"], request.app[STATE].settings)
    image = _own_image(request)
    if tag not in image["tags"]:
        raise ApiError(404, errors.TAG_INVALID, f"Tag {tag!r} not found on image {image['id']}.")
    tags = [t for t in image["tags"] if t != tag]
    request.app[STATE].store.replace({**image, "tags": tags, "updated_at": rules.now()})
    return web.Response(status=204)


async def upload_file(request: web.Request) -> web.Response:
    """``PUT /v2/images/{id}/file`` -> 204; ``queued`` -> ``saving`` -> ``active``.

    The image is ``saving`` (visible to other requests) while the body streams in and for
    ``upload_delay`` seconds after the 204, then ``active``; clients poll as with IMS.
    """
    state = request.app[STATE]
    if request.content_type != "application/octet-stream":
        raise ApiError(415, errors.BAD_BODY, "Image data must be sent as application/octet-stream.")
    project = request[PROJECT_KEY]
    state.store.replace(rules.start_upload(_own_image(request)))
    try:
        checksum, size = await _md5(request)
    except BaseException:  # client gone mid-upload: make the image uploadable again
        current = state.store.get(project, request.match_info["id"])
        if current is not None:
            state.store.replace(rules.abort_upload(current))
        raise
    current = _own_image(request)  # re-read: the image may have been patched meanwhile
    finished = rules.finish_upload(current, size, checksum)
    if state.settings.upload_delay:
        state.store.replace(finished)
        state.spawn(_activate_later(state, project, finished["id"], state.settings.upload_delay))
    else:
        state.store.replace(rules.activate(finished))
    return web.Response(status=204)


async def _md5(request: web.Request) -> tuple[str, int]:
    """MD5 and size of the body, streamed unless signature checking already read it."""
    digest = hashlib.md5(usedforsecurity=False)
    signed_body = request.get(BODY_KEY)
    if signed_body is not None:
        digest.update(signed_body)
        return digest.hexdigest(), len(signed_body)
    size = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


async def _activate_later(state: State, project: str, image_id: str, delay: float) -> None:
    await asyncio.sleep(delay)
    image = state.store.get(project, image_id)
    if image is not None and image["status"] == "saving":
        state.store.replace(rules.activate(image))


# --- static and extension APIs --------------------------------------------------------------


async def versions(request: web.Request) -> web.Response:
    """``GET /`` -> 300 with the API versions."""
    return web.json_response(schemas.versions(f"{request.scheme}://{request.host}"), status=300)


async def image_schema(request: web.Request) -> web.Response:
    """``GET /v2/schemas/image``."""
    return web.json_response(schemas.IMAGE_SCHEMA)


async def images_schema(request: web.Request) -> web.Response:
    """``GET /v2/schemas/images``."""
    return web.json_response(schemas.IMAGES_SCHEMA)


async def os_versions(request: web.Request) -> web.Response:
    """``GET /v1/cloudimages/os_version``."""
    return web.json_response(schemas.os_versions())


async def quota(request: web.Request) -> web.Response:
    """``GET /v1/cloudimages/quota``: the caller's private-image usage and quota."""
    used = request.app[STATE].store.count(request[PROJECT_KEY])
    resource = {"type": "image", "used": used, "quota": _quota(request), "min": 1, "max": 1000}
    return web.json_response({"quotas": {"resources": [resource]}})


# --- /_emulator controls (no authentication) ------------------------------------------------


async def health(request: web.Request) -> web.Response:
    """``GET /_emulator/health``."""
    return web.json_response({"status": "ok"})


async def get_stats(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``."""
    state = request.app[STATE]
    return web.json_response(state.stats.as_dict(state.store.counts()))


async def reset_stats(request: web.Request) -> web.Response:
    """``DELETE /_emulator/stats``."""
    request.app[STATE].stats.reset()
    return web.Response(status=204)


async def get_faults(request: web.Request) -> web.Response:
    """``GET /_emulator/faults``: the active rules with their remaining counts."""
    return web.json_response({"rules": request.app[STATE].faults.as_list()})


async def set_faults(request: web.Request) -> web.Response:
    """``POST /_emulator/faults`` ``{"rules": [...], "seed": N}`` replaces the rules."""
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
        raise bad_request(message='Expected {"rules": [...], "seed": optional integer}.')
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request(message="seed must be an integer.")
    try:
        parsed = [FaultRule.from_dict(rule) for rule in body["rules"]]
    except FaultError as exc:
        raise bad_request(message=str(exc)) from None
    request.app[STATE].faults.replace(parsed, seed)
    return await get_faults(request)


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_emulator/faults``."""
    request.app[STATE].faults.replace([])
    return web.Response(status=204)


async def get_config(request: web.Request) -> web.Response:
    """``GET /_emulator/config``: the behaviour switches."""
    return web.json_response(request.app[STATE].settings.as_dict())


async def patch_config(request: web.Request) -> web.Response:
    """``PATCH /_emulator/config`` with some switches, e.g. ``{"unique_names": true}``."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise bad_request(message="Expected a JSON object of settings.")
    try:
        request.app[STATE].settings.update(body)
    except SettingsError as exc:
        raise bad_request(message=str(exc)) from None
    return await get_config(request)


async def all_images(request: web.Request) -> web.Response:
    """``GET /_emulator/images[?project=P][&public=true]``: user images, oldest first.

    The catalogue of public images is left out unless ``public=true`` (or ``project`` is
    the platform project), whatever the ``public_images`` setting.
    """
    public = request.query.get("public", "false").lower()
    if public not in ("true", "false"):
        raise bad_request(message="public must be true or false.")
    images = request.app[STATE].store.all(request.query.get("project"), public=public == "true")
    return web.json_response({"images": images})


async def delete_all_images(request: web.Request) -> web.Response:
    """``DELETE /_emulator/images``: remove every user image (the catalogue stays)."""
    return web.json_response({"deleted": request.app[STATE].store.delete_all()})


async def reset_all(request: web.Request) -> web.Response:
    """``POST /_emulator/reset``: no user images, no faults, zero stats, start-up settings (the catalogue stays)."""
    state = request.app[STATE]
    deleted = state.store.delete_all()
    state.faults.replace([])
    state.stats.reset()
    state.settings.update(state.initial_settings)
    return web.json_response({"deleted": deleted})


# --- assembly ---------------------------------------------------------------------------------


async def _settle_uploads(app: web.Application) -> None:
    """Finish what a shutdown interrupted: uploaded data -> active, partial upload -> queued."""
    store = app[STATE].store
    for image in store.with_status("saving"):
        store.replace(rules.activate(image) if image["checksum"] else rules.abort_upload(image))


async def _seed_catalogue(app: web.Application) -> None:
    """Write the catalogue of public images, replacing what an older run left."""
    app[STATE].store.seed_public(catalogue.public_images())


async def _shutdown(app: web.Application) -> None:
    state = app[STATE]
    for task in list(state.tasks):
        task.cancel()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    state.store.close()


def build_app(state: State) -> web.Application:
    """The application serving ``state``."""
    app = web.Application(middlewares=[pipeline], client_max_size=MAX_BODY)
    app[STATE] = state
    app.on_startup.append(_seed_catalogue)
    app.on_startup.append(_settle_uploads)
    app.on_cleanup.append(_shutdown)
    r = app.router
    r.add_get("/", versions)
    r.add_post("/v2/images", create_image)
    r.add_get("/v2/images", list_images)
    r.add_get("/v2/images/{id}", show_image)
    r.add_patch("/v2/images/{id}", update_image)
    r.add_delete("/v2/images/{id}", delete_image)
    r.add_put("/v2/images/{id}/tags/{tag}", add_tag)
    r.add_delete("/v2/images/{id}/tags/{tag}", delete_tag)
    r.add_put("/v2/images/{id}/file", upload_file)
    r.add_get("/v2/schemas/image", image_schema)
    r.add_get("/v2/schemas/images", images_schema)
    r.add_get("/v1/cloudimages/os_version", os_versions)
    r.add_get("/v1/cloudimages/quota", quota)
    r.add_get("/_emulator/health", health)
    r.add_get("/_emulator/stats", get_stats)
    r.add_delete("/_emulator/stats", reset_stats)
    r.add_get("/_emulator/faults", get_faults)
    r.add_post("/_emulator/faults", set_faults)
    r.add_delete("/_emulator/faults", clear_faults)
    r.add_get("/_emulator/config", get_config)
    r.add_patch("/_emulator/config", patch_config)
    r.add_get("/_emulator/images", all_images)
    r.add_delete("/_emulator/images", delete_all_images)
    r.add_post("/_emulator/reset", reset_all)
    return app
