"""Request bodies: the API Gateway's size limit for AK/SK requests, and ``100 Continue``.

**The limit.** Huawei's IMS upload page says AK/SK-signed requests are limited to "12 MB"
bodies and that uploads must use token authentication. It does not say whether 12 MB is
12 * 10^6 or 12 * 2^20 bytes; the emulator takes the stricter reading,
**12,000,000 bytes** (:data:`AKSK_BODY_LIMIT`), so a client that passes here also passes
under the other one. A larger AK/SK request is refused with the gateway's 413
``APIGW.0201`` "Request entity too large": before any byte of the body is read when its
``Content-Length`` says so, or as soon as byte 12,000,001 arrives with chunked transfer.
Token-authenticated uploads have no limit.

**100 Continue.** aiohttp answers ``Expect: 100-continue`` as soon as the route is known,
before authentication. For the upload route the emulator defers it
(:func:`deferred_expect`) until the body is really about to be read (:func:`send_continue`),
so a client that waits for it (curl does) sends no byte of a body that is refused (401,
404, 409, 413, 415) anyway.

**JSON.** Bodies are parsed by :func:`parse_json`: invalid JSON and JSON nested deeper than
:data:`MAX_JSON_DEPTH` levels are a 400 with an IMS error body (``IMG.0001``), never a 500. The
API's deepest documented body (a JSON-patch of a list value) is 3 levels deep.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11

from ims_emulator import errors
from ims_emulator.errors import ApiError, Style

#: AK/SK-signed bodies: "12 MB" in the IMS docs, read as 12 * 10^6 bytes (the stricter reading).
AKSK_BODY_LIMIT = 12_000_000
#: Key of the body limit that applies to a request (set by authentication; absent: unlimited).
LIMIT_KEY = "emulator.body_limit"
#: Key set while a ``100 Continue`` is owed to the client.
CONTINUE_KEY = "emulator.continue_owed"


def too_large(limit: int) -> ApiError:
    """The gateway's 413 for a body over ``limit`` bytes."""
    return ApiError(
        413,
        errors.GW_TOO_LARGE,
        f"Request entity too large: AK/SK-signed request bodies are limited to {limit} bytes; "
        "upload larger image files with token authentication (X-Auth-Token).",
        style=Style.GATEWAY,
    )


async def deferred_expect(request: web.Request) -> None:
    """Expect handler of the upload route: validate the header, owe the ``100 Continue``."""
    expect = request.headers.get("Expect", "")
    if request.version != HttpVersion11:
        return
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
    request[CONTINUE_KEY] = True


async def send_continue(request: web.Request) -> None:
    """Send the ``100 Continue`` owed to the client, if any, right before reading its body."""
    if request.pop(CONTINUE_KEY, False):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        # Like aiohttp's own handler: the interim response is not part of the response size.
        request.writer.output_size = 0


#: Deepest nesting of objects and arrays accepted in a JSON body.
MAX_JSON_DEPTH = 32


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes) -> Any:
    """The JSON value of a request body; ``400 IMG.0001`` when it is not JSON or nests too deeply."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the decoder's own limit (about 1000 levels), before ours is checked
        value = None
        deep = True
    except ValueError:
        raise errors.bad_request(message="The request body is not valid JSON.") from None
    else:
        deep = _too_deep(value, MAX_JSON_DEPTH)
    if deep:
        raise errors.bad_request(message=f"The request body nests JSON objects or arrays more than "
                                         f"{MAX_JSON_DEPTH} levels deep.")
    return value
