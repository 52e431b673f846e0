"""The aiohttp application: routes, the request pipeline and the test controls.

Pipeline of an API request (one middleware, in this order, mirroring where a real
deployment would fail): count it -> unknown route (gateway 404) -> ``latency`` ->
``reset`` -> ``throttle`` -> authentication (gateway 413 for an AK/SK body over the limit,
gateway 401) -> ``error`` -> ``forbidden`` -> handler -> ``drop_response``.
``/_emulator/*`` skips all but the request id. The upload handler reads its own body, in
chunks (``STREAMED_ROUTES``); every other body is read whole, at most 12,000,000 bytes.

A registration (``PUT /v1/cloudimages/{id}/upload``) is answered once the request, the image and
the object (``HeadBucket``/``HeadObject`` on the object store, :mod:`ims_emulator.obs`) pass; a
background task then reads the object, and its job (``GET /v1/{project_id}/jobs/{job_id}``)
follows it to ``SUCCESS`` or ``FAIL``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from ims_emulator import CONTROL_HEADER, PLATFORM_PROJECT_ID, catalogue, errors, registration, rules, schemas
from ims_emulator.auth import BODY_KEY, Authenticator
from ims_emulator.body import AKSK_BODY_LIMIT, LIMIT_KEY, deferred_expect, parse_json, send_continue, too_large
from ims_emulator.errors import ApiError, Style, bad_request, conflict, forbidden, member_not_found, not_found
from ims_emulator.faults import FaultError, FaultRule, Faults
from ims_emulator.imagedata import Digests, ImageFiles
from ims_emulator.obs import ObjectReadError, ObjectStore
from ims_emulator.settings import Settings, SettingsError
from ims_emulator.stats import Stats
from ims_emulator.store import Store, UnknownMarker

#: Largest body read whole (every JSON body): the gateway's AK/SK limit, 12,000,000 bytes
#: (see ``emulator/body.py``). Uploads are streamed in chunks instead, whatever their size.
MAX_BODY = AKSK_BODY_LIMIT
OCTET_STREAM = "application/octet-stream"
#: Size of the chunks an upload is read, hashed and (optionally) written in.
UPLOAD_CHUNK = 1 << 20
PROJECT_KEY = "emulator.project"
INTERNAL_PREFIX = "/_emulator/"
#: Routes that read their body themselves, in chunks (authentication must not read it).
STREAMED_ROUTES = frozenset({("PUT", "/v2/images/{id}/file")})
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class State:
    """Everything the handlers share."""

    store: Store
    settings: Settings
    auth: Authenticator
    #: Kept image data (setting ``keep_image_data``), under the data directory.
    files: ImageFiles
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    #: Start-up settings, restored by ``POST /_emulator/reset``.
    initial_settings: dict[str, Any] = field(default_factory=dict)
    #: Pending ``saving`` -> ``active``/``killed`` transitions, and running registrations.
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    #: The object store registrations read from (``--obs-endpoint``); ``None``: none configured.
    obs: ObjectStore | None = None

    def __post_init__(self) -> None:
        self.initial_settings = self.settings.as_dict()

    def cancel_tasks(self) -> None:
        """Stop the background work (pending transitions, registrations reading their object)."""
        for task in list(self.tasks):
            task.cancel()

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
    streamed = (request.method, _template(request)) in STREAMED_ROUTES
    request[PROJECT_KEY] = await state.auth.project_of(request, stream=streamed)
    if request[PROJECT_KEY] == PLATFORM_PROJECT_ID:  # only possible with --no-auth and X-Project-Id
        raise ApiError(403, errors.ROLE_INVALID, "The platform project that owns the public images is not usable.")
    if rule := _fire(request, "error"):
        raise ApiError(rule.params["status"], errors.FAULT_CODE, f"Injected fault: HTTP {rule.params['status']}.")
    if _fire(request, "forbidden"):
        raise ApiError(403, errors.ROLE_INVALID)
    return await handler(request)


async def _control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A ``/_emulator/*`` request: one that changes something must carry ``X-Emulator-Control: 1``.

    A web page in a browser on this machine can send a cross-origin GET or form POST without
    asking, but not a request with a custom header (that needs a CORS preflight, which the
    emulator never grants): so no page can reset the emulator or install faults. Reads stay
    open (a page cannot read the answers), e.g. ``curl .../_emulator/health``.
    """
    if request.method not in ("GET", "HEAD") and request.headers.get(CONTROL_HEADER) != "1":
        raise ApiError(403, errors.ROLE_INVALID, f"{request.method} {request.path} changes the emulator: send the "
                       f"header '{CONTROL_HEADER}: 1' (it keeps web pages in a browser from calling it).")
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
        response = await (_control(request, handler) if internal else _api_pipeline(request, handler))
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
    return parse_json(raw)  # 400, never a 500, for invalid or too deeply nested JSON


async def _json(request: web.Request) -> Any:
    """The JSON body; IMG.0007 when there is none."""
    raw = await _body(request)
    if not raw.strip():
        raise bad_request(errors.EMPTY_BODY)
    return _loads(raw)


def _public(request: web.Request) -> bool:
    """Whether the caller sees the catalogue of public images (setting ``public_images``)."""
    return request.app[STATE].settings.public_images


@dataclass(frozen=True)
class _Seen:
    """An image the caller sees: its own, a public one, or one shared with it."""

    #: The stored document (the owner's view).
    image: dict[str, Any]
    #: The caller's membership status when the image is shared with it, else ``None``.
    member_status: str | None = None

    @property
    def view(self) -> dict[str, Any]:
        """The image as the caller sees it (a member: ``shared``, with ``member_status``)."""
        return self.image if self.member_status is None else rules.member_view(self.image, self.member_status)

    @property
    def owned(self) -> bool:
        """Whether the caller owns the image (neither shared with it nor public)."""
        return self.member_status is None and not catalogue.is_public(self.image)


def _seen(request: web.Request) -> _Seen | None:
    """The image of the path as the caller sees it, or ``None`` when it does not see it.

    A member sees an image shared with it whatever its membership status: a rejected image
    leaves the member's list, but it can still be shown (and boot servers, IMS says).
    """
    state = request.app[STATE]
    project, image_id = request[PROJECT_KEY], request.match_info["id"]
    image = state.store.get(project, image_id, public=_public(request))
    if image is not None:
        return _Seen(image)
    shared = state.store.membership(project, image_id)
    return _Seen(*shared) if shared is not None else None


def _seen_or_404(request: web.Request) -> _Seen:
    seen = _seen(request)
    if seen is None:
        raise not_found()
    return seen


def _image_or_404(request: web.Request) -> dict[str, Any]:
    """The image of the path as the caller sees it: its own, a public one, one shared with it."""
    return _seen_or_404(request).view


def _own_image(request: web.Request, code: str = errors.OWNER_ONLY) -> dict[str, Any]:
    """The image of the path for a write: 404 if unseen, 403 ``code`` if the caller does not own it.

    A public image answers ``code`` (IMG.0047, or IMG.0094 for DELETE); an image shared
    with the caller answers IMG.0047 (IMG.0092 for DELETE). Both 403s are inferred.
    """
    return _owned(_seen_or_404(request), code)


def _owned(seen: _Seen, code: str = errors.OWNER_ONLY) -> dict[str, Any]:
    """``seen``'s stored image if the caller owns it; the 403s of :func:`_own_image` otherwise."""
    if seen.member_status is not None:
        raise errors.not_owner(errors.OWNER_ONLY_DELETE if code == errors.PUBLIC_IMAGE_DELETE else errors.OWNER_ONLY)
    if catalogue.is_public(seen.image):
        raise errors.public_image_write(code)
    return seen.image


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
    if rule := _fire(request, "half_commit"):
        # The image row commits, the tag write fails: an image without tags, and a 5xx.
        state.store.insert(project, {**image, "tags": []})
        raise ApiError(rule.params["status"], errors.FAULT_CODE,
                       f"Injected fault: HTTP {rule.params['status']} after the image was stored without its tags.")
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
    seen = _seen(request)
    if seen is None:
        if state.settings.delete_unknown_204:
            return web.Response(status=204)
        raise not_found()
    image = _owned(seen, errors.PUBLIC_IMAGE_DELETE)
    if image["protected"]:
        raise ApiError(state.settings.protected_delete_status, errors.IMAGE_PROTECTED)
    state.store.delete(image["id"])
    state.files.remove(image["id"])
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

    Checks, in order: ``application/octet-stream`` (415, Glance's answer), the image (404,
    403 for a public one), ``queued`` (409 IMG.0035). The body is then streamed in chunks
    (MD5, SHA-512 and size computed on the fly, bytes kept only with ``keep_image_data``)
    while the image is ``saving``, visible to other requests. Once it is complete the
    answer is 204 and the image becomes ``active`` after ``upload_delay`` seconds (clients
    poll as with IMS). A body that breaks off (client gone, shorter than its
    ``Content-Length``, ``cut_upload`` fault), or an AK/SK body over the limit (413), puts
    the image back to ``queued``; a ``kill_upload`` fault makes it ``killed`` instead of
    ``active``.
    """
    state = request.app[STATE]
    # Glance: 415 unless the header is there and says octet-stream (aiohttp would default a
    # missing header to application/octet-stream, so the header is checked itself).
    sent = request.headers.get("Content-Type")
    if sent is None or request.content_type != OCTET_STREAM:
        raise ApiError(
            415,
            errors.BAD_BODY,
            f"Unsupported Content-Type {sent!r}: image data must be sent as {OCTET_STREAM}.",
        )
    project = request[PROJECT_KEY]
    image = _own_image(request)
    image_id = image["id"]
    max_file = state.settings.upload_max_bytes
    if request.content_length is not None and request.content_length > max_file:
        raise _file_too_large(request.content_length, max_file)
    # No await between the status check and this write: of two concurrent uploads, one gets 409.
    state.store.replace(rules.start_upload(image))
    cut = _fire(request, "cut_upload")
    try:
        with ExitStack() as stack:
            sink = stack.enter_context(state.files.open_partial(image_id)) if state.settings.keep_image_data else None
            digests = await _receive(
                request, sink, limit=request.get(LIMIT_KEY), cut_after=cut.params["after_bytes"] if cut else None,
                max_file=max_file,
            )
    except _Cut:
        _abandon(state, project, image_id)
        raise _Dropped from None
    except ApiError:  # 413: the AK/SK limit, or 400: the file size limit, with chunked transfer
        _abandon(state, project, image_id)
        raise
    except Exception:  # the body broke off: client gone, or closed before its Content-Length
        _abandon(state, project, image_id)
        raise _Dropped from None
    except BaseException:  # cancelled (shutdown)
        _abandon(state, project, image_id)
        raise

    current = state.store.get(project, image_id)  # re-read: it may have been patched or deleted meanwhile
    if current is None:
        state.files.discard(image_id)
        raise not_found()
    if _fire(request, "kill_upload"):
        state.files.discard(image_id)
        _settle(state, project, image_id, rules.kill_upload)
    else:
        if sink is not None:
            state.files.commit(image_id)
        state.store.replace(rules.finish_upload(current, digests.size, digests.md5, digests.sha512))
        _settle(state, project, image_id, rules.activate)
    return web.Response(status=204)


class _Cut(Exception):
    """A ``cut_upload`` fault fired: drop the connection mid-body."""


def _file_too_large(size: int | None, limit: int) -> ApiError:
    """400 IMG.0059 for an upload over the native limit: Huawei's current upload page says "smaller than
    2 GB" and sends larger files to registration; its errors are 400/401/403/404/409/500 (no 413), and
    IMG.0059 is IMS's code for an image file over the size limit (its use here is inferred)."""
    what = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return bad_request(
        errors.IMAGE_FILE_TOO_LARGE,
        f"{errors.MESSAGES[errors.IMAGE_FILE_TOO_LARGE]} The file is {what}; PUT /v2/images/{{image_id}}/file takes "
        f"at most {limit:,} bytes (\"must be smaller than 2 GB\"): put larger files into an OBS bucket and register "
        "them (PUT /v1/cloudimages/{image_id}/upload).",
    )


async def _chunks(request: web.Request) -> AsyncIterator[bytes | memoryview]:
    """The body in chunks: streamed, or sliced from the copy signature checking read."""
    body = request.get(BODY_KEY)
    if body is not None:
        view = memoryview(body)
        for start in range(0, len(view), UPLOAD_CHUNK):
            yield view[start : start + UPLOAD_CHUNK]
        return
    await send_continue(request)
    async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
        yield chunk


async def _receive(
    request: web.Request, sink: IO[bytes] | None, *, limit: int | None, cut_after: int | None, max_file: int
) -> Digests:
    """Hash (and write to ``sink``) the body chunk by chunk, never holding more than one chunk.

    Raises the gateway's 413 once more than ``limit`` bytes arrived, IMS's 400 IMG.0059 once
    more than ``max_file`` did, and :class:`_Cut` once ``cut_after`` bytes arrived (or at the
    end of a shorter body).
    """
    digests = Digests()
    if cut_after == 0:
        raise _Cut
    async for received in _chunks(request):
        chunk = received if cut_after is None else received[: cut_after - digests.size]
        if limit is not None and digests.size + len(chunk) > limit:
            raise too_large(limit)
        if digests.size + len(chunk) > max_file:
            raise _file_too_large(None, max_file)
        digests.update(chunk)
        if sink is not None:
            sink.write(chunk)
        if cut_after is not None and digests.size >= cut_after:
            raise _Cut
    if cut_after is not None:
        raise _Cut
    return digests


def _abandon(state: State, project: str, image_id: str) -> None:
    """An upload broke off: forget its data, and make the image uploadable again (``queued``)."""
    state.files.discard(image_id)
    current = state.store.get(project, image_id)
    if current is not None and current["status"] == "saving":
        state.store.replace(rules.abort_upload(current))


def _settle(state: State, project: str, image_id: str, outcome: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Apply ``outcome`` to the ``saving`` image now, or after ``upload_delay`` seconds."""
    delay = state.settings.upload_delay
    if delay:
        state.spawn(_settle_later(state, project, image_id, delay, outcome))
        return
    image = state.store.get(project, image_id)
    if image is not None:
        state.store.replace(outcome(image))


async def _settle_later(
    state: State, project: str, image_id: str, delay: float, outcome: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    await asyncio.sleep(delay)
    image = state.store.get(project, image_id)
    if image is not None and image["status"] == "saving":
        state.store.replace(outcome(image))


# --- registration from OBS and its job -----------------------------------------------------

#: Seconds between two ``process_percent`` updates of a running registration's job.
PROGRESS_INTERVAL = 0.5


def _object_store(state: State) -> ObjectStore:
    """The configured object store; 400 IMG.0069 when the emulator was started without one."""
    if state.obs is None:
        raise bad_request(errors.BUCKET_INACCESSIBLE,
                          f"{errors.MESSAGES[errors.BUCKET_INACCESSIBLE]} This emulator has no object store: start it "
                          "with --obs-endpoint URL --obs-credentials AK:SK (scripts/s3/serve.sh runs one).")
    return state.obs


async def register_image(request: web.Request) -> web.Response:
    """``PUT /v1/cloudimages/{id}/upload`` ``{"image_url": "<bucket>:<object>"}`` -> 200 ``{"job_id": ...}``.

    Checks, in order: the body and ``image_url`` (400, :func:`registration.parse_body`), the image
    (404; 403 for a public or shared one), ``queued`` (400 IMG.0046), an object store configured
    (400 IMG.0069), the bucket (400 IMG.0069) and the object (400 IMG.0057: missing, unreadable,
    empty, not Standard; 400 IMG.0059: over ``register_max_bytes``). Then the image is ``saving``,
    the job ``INIT``, and a background task reads the object (:func:`_register`).
    """
    state = request.app[STATE]
    project = request[PROJECT_KEY]
    url = registration.parse_body(await _json(request))
    registration.check_registrable(_own_image(request))
    info = await _object_store(state).stat(url)
    registration.check_size(url, info.size, state.settings.register_max_bytes)
    # Re-read after the awaits above: no await from this check to the writes (one of two concurrent
    # registrations of an image wins, the other gets IMG.0046).
    image = _own_image(request)
    registration.check_registrable(image)
    job = registration.new_job(image)
    state.store.replace(rules.start_upload(image))
    state.store.insert_job(project, job)
    kill = _fire(request, "kill_registration") is not None
    state.spawn(_register(state, project, image["id"], job["job_id"], url, size=info.size, kill=kill))
    return web.json_response({"job_id": job["job_id"]})


def _job_update(state: State, project: str, job_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    job = state.store.job(project, job_id)
    if job is not None:
        state.store.replace_job(change(job))


def _fail_registration(state: State, project: str, image_id: str, job_id: str, code: str, reason: str) -> None:
    """The job ``FAIL``s with ``code``/``reason``; the image, if still ``saving``, ends ``killed`` (IMS:
    "upload failure -> killed"), with no data recorded."""
    image = state.store.get(project, image_id)
    if image is not None and image["status"] == "saving":
        state.store.replace(rules.kill_upload(image))
    _job_update(state, project, job_id, lambda job: registration.job_failed(job, code, reason))


async def _register(
    state: State, project: str, image_id: str, job_id: str, url: registration.ImageUrl, *, size: int, kill: bool
) -> None:
    """Read the object (size, MD5, SHA-512, format check), then ``active`` and ``SUCCESS`` after
    ``upload_delay`` seconds; or ``killed`` and ``FAIL`` with the reason.

    ``size`` is what ``HeadObject`` said, for ``process_percent``; the image's ``size`` is what
    was read. A shutdown cancels the task: the next start settles the image and the job.
    """
    _job_update(state, project, job_id, lambda job: registration.job_progress(job, 0.0))
    loop = asyncio.get_running_loop()
    last = loop.time()

    def progress(done: int) -> None:
        nonlocal last
        if loop.time() - last >= PROGRESS_INTERVAL:
            last = loop.time()
            _job_update(state, project, job_id, lambda job: registration.job_progress(job, done / size))

    try:
        read = await _object_store(state).read(url, progress)
    except ObjectReadError as exc:
        _fail_registration(state, project, image_id, job_id, exc.code, exc.reason)
        return
    if (why := registration.format_error(url, read.head, read.tail)) is not None:
        message = f"{errors.MESSAGES[errors.IMAGE_FILE_INVALID]} {why}."
        _fail_registration(state, project, image_id, job_id, errors.IMAGE_FILE_INVALID, message)
        return
    current = state.store.get(project, image_id)  # re-read: it may have been deleted meanwhile
    if current is None or current["status"] != "saving":
        reason = f"{errors.MESSAGES[errors.REGISTER_FAILED]} The image was deleted during the registration."
        _job_update(state, project, job_id, lambda job: registration.job_failed(job, errors.REGISTER_FAILED, reason))
        return
    _job_update(state, project, job_id, lambda job: registration.job_progress(job, 1.0))
    if kill:  # like kill_upload: the bytes arrived, the import fails; no data is recorded
        await asyncio.sleep(state.settings.upload_delay)
        reason = f"{errors.MESSAGES[errors.REGISTER_FAILED]} (injected fault kill_registration)"
        _fail_registration(state, project, image_id, job_id, errors.REGISTER_FAILED, reason)
        return
    digests = read.digests
    state.store.replace(rules.finish_upload(current, digests.size, digests.md5, digests.sha512))
    await asyncio.sleep(state.settings.upload_delay)
    current = state.store.get(project, image_id)
    if current is None or current["status"] != "saving":
        reason = f"{errors.MESSAGES[errors.REGISTER_FAILED]} The image was deleted during the registration."
        _job_update(state, project, job_id, lambda job: registration.job_failed(job, errors.REGISTER_FAILED, reason))
        return
    state.store.replace(rules.activate(current))
    _job_update(state, project, job_id, registration.job_succeeded)


async def show_job(request: web.Request) -> web.Response:
    """``GET /v1/{project_id}/jobs/{job_id}``: a job of the caller's project.

    The documented failures are 400, 401, 403, 500 and 503 (no 404): a ``project_id`` that is not
    the caller's is 400 IMG.0067 "The project ID is incorrect.", an unknown job (or one of
    another project) 400 IMG.0023 "An exception occurred during task query." (both inferred).
    """
    if request.match_info["project_id"] != request[PROJECT_KEY]:
        raise bad_request(errors.PROJECT_ID_INVALID,
                          f"{errors.MESSAGES[errors.PROJECT_ID_INVALID]} The project in the path is not the project of "
                          "the credentials.")
    job = request.app[STATE].store.job(request[PROJECT_KEY], request.match_info["job_id"])
    if job is None:
        raise bad_request(errors.JOB_QUERY_FAILED,
                          f"{errors.MESSAGES[errors.JOB_QUERY_FAILED]} Job {request.match_info['job_id']!r} does not "
                          "exist.")
    return web.json_response(job)


# --- /v2/images/{id}/members ---------------------------------------------------------------


def _member_id(request: web.Request) -> str:
    return request.match_info["member_id"]


async def add_member(request: web.Request) -> web.Response:
    """``POST /v2/images/{id}/members`` ``{"member": "<project id>"}`` -> 200 member, ``pending``.

    Checks, in order: the body (400 IMG.0007/IMG.0001), the image (404), a public image
    (400 IMG.0089), the owner (403 IMG.0047 for a member project), the owner's own project
    (400 IMG.0076), an existing membership (409, Glance), the member limit (400 IMG.0088).
    """
    state = request.app[STATE]
    member_id = rules.new_member_id(await _json(request))
    seen = _seen_or_404(request)
    if catalogue.is_public(seen.image):
        raise bad_request(errors.SHARE_PUBLIC_IMAGE)
    image_id = _owned(seen)["id"]
    if member_id == request[PROJECT_KEY]:
        raise bad_request(errors.SHARE_WITH_SELF)
    # No await from here to the insert: the duplicate and limit checks cannot race (see Store).
    if state.store.member(image_id, member_id) is not None:
        raise conflict(f"Member {member_id} is already associated with image {image_id}.")
    limit = state.settings.member_limit
    if state.store.count_members(image_id) >= limit:
        raise bad_request(
            errors.SHARE_QUOTA,
            f"{errors.MESSAGES[errors.SHARE_QUOTA]} Image {image_id} already has {limit} members (the limit).",
        )
    member = rules.new_member(image_id, member_id)
    state.store.add_member(member)
    return web.json_response(member)


async def list_members(request: web.Request) -> web.Response:
    """``GET /v2/images/{id}/members[?limit=N&marker=M]``: the owner sees every member, a member itself.

    Oldest first; ``page_info`` has ``current_count`` and, when more follow,
    ``next_marker`` (the ``marker`` of the next page).
    """
    state = request.app[STATE]
    query = rules.parse_member_query(request.query.items())
    seen = _seen_or_404(request)
    members = state.store.members(seen.image["id"])
    if not seen.owned:
        members = [m for m in members if m["member_id"] == request[PROJECT_KEY]]
    start = 0
    if query.after is not None:
        ids = [m["member_id"] for m in members]
        if query.after not in ids:
            raise bad_request(message=f"marker {request.query['marker']!r} could not be found.")
        start = ids.index(query.after) + 1
    page = members[start : start + query.limit]
    page_info: dict[str, Any] = {"current_count": len(page)}
    if start + len(page) < len(members):
        page_info["next_marker"] = rules.encode_member_marker(page[-1]["member_id"])
    return web.json_response({"members": page, "schema": "/v2/schemas/members", "page_info": page_info})


def _visible_member(request: web.Request, seen: _Seen) -> dict[str, Any]:
    """The membership of the path: the owner sees every one, a member only its own (404 otherwise)."""
    image_id, member_id = seen.image["id"], _member_id(request)
    member = None
    if seen.owned or member_id == request[PROJECT_KEY]:
        member = request.app[STATE].store.member(image_id, member_id)
    if member is None:
        raise member_not_found(image_id, member_id)
    return member


async def show_member(request: web.Request) -> web.Response:
    """``GET /v2/images/{id}/members/{member_id}``: for the owner or that member; 404 otherwise."""
    return web.json_response(_visible_member(request, _seen_or_404(request)))


async def update_member(request: web.Request) -> web.Response:
    """``PUT /v2/images/{id}/members/{member_id}`` ``{"status": "accepted"|"rejected"}`` -> 200 member.

    Only the member project sets its status; the owner gets 403 (Glance), another project
    404. An optional ``vault_id`` (full-ECS images from CBR) is accepted and ignored.
    """
    status = rules.member_status_update(await _json(request))
    member = _visible_member(request, _seen_or_404(request))
    if member["member_id"] != request[PROJECT_KEY]:
        raise forbidden(
            f"You cannot update image member {member['member_id']}: only the member project itself "
            "can accept or reject a shared image."
        )
    updated = {**member, "status": status, "updated_at": rules.now()}
    request.app[STATE].store.replace_member(updated)
    return web.json_response(updated)


async def delete_member(request: web.Request) -> web.Response:
    """``DELETE /v2/images/{id}/members/{member_id}`` -> 204; owner only, 404 when not a member."""
    image_id = _owned(_seen_or_404(request))["id"]
    if not request.app[STATE].store.remove_member(image_id, _member_id(request)):
        raise member_not_found(image_id, _member_id(request))
    return web.Response(status=204)


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


async def member_schema(request: web.Request) -> web.Response:
    """``GET /v2/schemas/member``."""
    return web.json_response(schemas.MEMBER_SCHEMA)


async def members_schema(request: web.Request) -> web.Response:
    """``GET /v2/schemas/members``."""
    return web.json_response(schemas.MEMBERS_SCHEMA)


async def os_versions(request: web.Request) -> web.Response:
    """``GET /v1/cloudimages/os_version``."""
    return web.json_response(schemas.os_versions())


async def quota(request: web.Request) -> web.Response:
    """``GET /v1/cloudimages/quota``: the caller's private-image usage and quota."""
    used = request.app[STATE].store.count(request[PROJECT_KEY])
    resource = {"type": "image", "used": used, "quota": _quota(request), "min": 1, "max": 1000}
    return web.json_response({"quotas": {"resources": [resource]}})


# --- /_emulator controls (no credentials; changes need the X-Emulator-Control header) ---------


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
    """``DELETE /_emulator/images``: remove every user image, its kept data and the jobs (the catalogue stays)."""
    state = request.app[STATE]
    state.cancel_tasks()
    state.files.clear()
    state.store.delete_jobs()
    return web.json_response({"deleted": state.store.delete_all()})


async def image_data(request: web.Request) -> web.StreamResponse:
    """``GET /_emulator/images/{id}/file``: the data kept of an upload (``keep_image_data``), or 404."""
    image_id = request.match_info["id"]
    path = request.app[STATE].files.path(image_id)
    if not UUID_RE.fullmatch(image_id) or not path.is_file():
        raise ApiError(404, errors.IMAGE_NOT_FOUND, f"No image data is kept for {image_id!r}.")
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


async def reset_all(request: web.Request) -> web.Response:
    """``POST /_emulator/reset``: no user images, no jobs, no faults, zero stats, start-up settings (the catalogue stays)."""
    state = request.app[STATE]
    state.cancel_tasks()
    deleted = state.store.delete_all()
    state.store.delete_jobs()
    state.files.clear()
    state.faults.replace([])
    state.stats.reset()
    state.settings.update(state.initial_settings)
    return web.json_response({"deleted": deleted})


# --- assembly ---------------------------------------------------------------------------------


async def _settle_uploads(app: web.Application) -> None:
    """Finish what a shutdown interrupted: uploaded data -> active, partial upload or registration -> queued."""
    store = app[STATE].store
    app[STATE].files.remove_partials()
    for image in store.with_status("saving"):
        store.replace(rules.activate(image) if image["checksum"] else rules.abort_upload(image))
    # Registrations: the job of an image that became active above succeeded; any other was cut off
    # (its image is queued again, so it can be registered anew).
    for project, job in store.unfinished_jobs():
        registered = store.get(project, job["entities"]["image_id"])
        if registered is not None and registered["status"] == "active":
            store.replace_job(registration.job_succeeded(job))
        else:
            reason = (f"{errors.MESSAGES[errors.REGISTER_FAILED]} The registration was interrupted: the emulator "
                      "stopped while it ran.")
            store.replace_job(registration.job_failed(job, errors.REGISTER_FAILED, reason))


async def _seed_catalogue(app: web.Application) -> None:
    """Write the catalogue of public images, replacing what an older run left."""
    app[STATE].store.seed_public(catalogue.public_images())


async def _shutdown(app: web.Application) -> None:
    state = app[STATE]
    state.cancel_tasks()
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
    r.add_put("/v2/images/{id}/file", upload_file, expect_handler=deferred_expect)
    r.add_post("/v2/images/{id}/members", add_member)
    r.add_get("/v2/images/{id}/members", list_members)
    r.add_get("/v2/images/{id}/members/{member_id}", show_member)
    r.add_put("/v2/images/{id}/members/{member_id}", update_member)
    r.add_delete("/v2/images/{id}/members/{member_id}", delete_member)
    r.add_get("/v2/schemas/image", image_schema)
    r.add_get("/v2/schemas/images", images_schema)
    r.add_get("/v2/schemas/member", member_schema)
    r.add_get("/v2/schemas/members", members_schema)
    r.add_get("/v1/cloudimages/os_version", os_versions)
    r.add_get("/v1/cloudimages/quota", quota)
    r.add_put("/v1/cloudimages/{id}/upload", register_image)
    r.add_get("/v1/{project_id}/jobs/{job_id}", show_job)
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
    r.add_get("/_emulator/images/{id}/file", image_data)
    r.add_post("/_emulator/reset", reset_all)
    return app
