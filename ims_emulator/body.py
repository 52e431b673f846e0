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
"""

from __future__ import annotations

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
