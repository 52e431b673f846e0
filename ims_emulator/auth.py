"""Authentication as the API Gateway does it: ``SDK-HMAC-SHA256`` AK/SK or ``X-Auth-Token``.

The canonical request is rebuilt from what actually arrived (method, raw path, raw query,
the headers the client says it signed, the body) with the provider's own signer
functions, so a client and the emulator can only agree when both follow the algorithm of
``huaweicloudsdkcore``. Every failure is a gateway-style 401 (``APIGW.0301``), including
an ``X-Project-Id`` that is missing or is not the key's project.

Bodies of AK/SK requests are limited (:data:`ims_emulator.body.AKSK_BODY_LIMIT`, 413
``APIGW.0201``); a ``Content-Length`` over it is refused before the body is read. The
signature covers the SHA-256 of the body, so the body is normally read (at most the limit)
before the handler runs. A *streamed* route (the upload) is verified without reading the
body when the client signed ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` (what
huaweicloudsdkcore and the provider's signer send for every non-JSON body): the payload
hash of the canonical request is then that header value, known from the headers alone.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from aiohttp import web

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN
from ims_emulator.body import AKSK_BODY_LIMIT, LIMIT_KEY, send_continue, too_large
from ims_emulator.errors import unauthorized
from ims_pulumi.core.signer import (
    DATE_FORMAT,
    HEADER_CONTENT_SHA256,
    Authorization,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    signature,
    string_to_sign,
)

MAX_SKEW = timedelta(minutes=15)
REQUIRED_SIGNED = ("host", "x-sdk-date")
#: Key under which the request body read for signature checking is kept for the handler.
BODY_KEY = "emulator.body"


@dataclass(frozen=True)
class Identity:
    """One AK/SK pair and the project it is scoped to."""

    access_key: str
    secret_key: str
    project_id: str

    @classmethod
    def parse(cls, value: str) -> Identity:
        """``AK:SK:PROJECT_ID`` (the secret key may itself contain ``:``)."""
        access_key, _, rest = value.partition(":")
        secret_key, _, project_id = rest.rpartition(":")
        if not (access_key and secret_key and project_id):
            raise ValueError(f"expected AK:SK:PROJECT_ID, got {value!r}")
        return cls(access_key, secret_key, project_id)


def parse_token(value: str) -> tuple[str, str]:
    """``TOKEN:PROJECT_ID`` -> ``(token, project_id)``."""
    token, _, project_id = value.rpartition(":")
    if not (token and project_id):
        raise ValueError(f"expected TOKEN:PROJECT_ID, got {value!r}")
    return token, project_id


@dataclass
class Authenticator:
    """Maps a request to the project it may act in, or raises a 401 :class:`ApiError`."""

    identities: dict[str, Identity] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    enabled: bool = True

    @classmethod
    def build(cls, identities: list[Identity], tokens: list[tuple[str, str]], *, enabled: bool = True,
              demo: bool = True) -> Authenticator:
        """The given credentials, plus the demo identity and token unless ``demo`` is false.

        Giving more identities never turns the demo ones off (a second project for sharing keeps the
        README's demo credentials working); an identity or token given with the demo AK or token
        replaces the demo one.
        """
        if demo:
            identities = [Identity(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID), *identities]
            tokens = [(DEMO_TOKEN, DEMO_PROJECT_ID), *tokens]
        return cls({i.access_key: i for i in identities}, dict(tokens), enabled)

    async def project_of(self, request: web.Request, *, stream: bool = False) -> str:
        """The caller's project id.

        With ``stream`` (a route that reads its body itself, in chunks) an AK/SK request
        signed with an ``X-Sdk-Content-Sha256`` payload hash is verified from its headers
        and its body is left unread; otherwise the body is read here (and kept under
        :data:`BODY_KEY`) to check the signature.
        """
        if not self.enabled:
            return request.headers.get("X-Project-Id") or DEMO_PROJECT_ID
        header = request.headers.get("Authorization")
        if header is not None:
            return await self._verify_signature(request, header, stream=stream)
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            project = self.tokens.get(token)
            if project is None:
                raise unauthorized("the token is invalid or expired.")
            return project
        raise unauthorized("no Authorization or X-Auth-Token header.")

    async def _verify_signature(self, request: web.Request, header: str, *, stream: bool) -> str:
        # The gateway's size check comes first: it needs no credentials and no body.
        request[LIMIT_KEY] = AKSK_BODY_LIMIT
        if request.content_length is not None and request.content_length > AKSK_BODY_LIMIT:
            raise too_large(AKSK_BODY_LIMIT)
        auth = Authorization.parse(header)
        if auth is None:
            raise unauthorized("the Authorization header is not a valid SDK-HMAC-SHA256 authorization.")
        identity = self.identities.get(auth.access_key)
        if identity is None:
            raise unauthorized("the access key does not exist.")
        missing = [name for name in REQUIRED_SIGNED if name not in auth.signed_headers]
        if "X-Security-Token" in request.headers and "x-security-token" not in auth.signed_headers:
            missing.append("x-security-token")
        if missing:
            raise unauthorized(f"SignedHeaders must include {', '.join(missing)}.")

        sdk_date = request.headers.get("X-Sdk-Date", "")
        try:
            signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise unauthorized(f"X-Sdk-Date {sdk_date!r} is not in the {DATE_FORMAT} format.") from None
        if abs(datetime.now(UTC) - signed_at) > MAX_SKEW:
            raise unauthorized("X-Sdk-Date is more than 15 minutes away from the server time.")

        url = request.rel_url
        pairs = [p.partition("=") for p in url.raw_query_string.split("&") if p]
        query = [(unquote(k), unquote(v)) for k, _, v in pairs]

        def valid(canonical: str) -> bool:
            expected = signature(identity.secret_key, string_to_sign(canonical, sdk_date))
            return hmac.compare_digest(expected.encode(), auth.signature.encode())

        declared = request.headers.get(HEADER_CONTENT_SHA256)
        if stream and declared is not None and request.content_length != 0:
            # The payload hash is the declared value (UNSIGNED-PAYLOAD) unless the body is
            # empty (then it is the empty hash): with a Content-Length > 0 that is settled
            # now; with chunked transfer only a match of the declared value is, and a
            # mismatch falls back to reading the (then presumably empty) body below.
            parts = [
                request.method.upper(),
                canonical_uri(url.raw_path),
                canonical_query(query),
                canonical_headers(request.headers, auth.signed_headers),
                ";".join(auth.signed_headers),
                declared,
            ]
            if valid("\n".join(parts)):
                return self._project(request, identity)
            if request.content_length is not None:
                raise unauthorized("the signature does not match.")

        await send_continue(request)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # chunked, and more than client_max_size arrived
            raise too_large(AKSK_BODY_LIMIT) from None
        except ConnectionResetError:
            # The client went away mid-body: nobody to answer, and nothing worth a traceback in the log.
            raise web.HTTPBadRequest(text="connection lost") from None
        request[BODY_KEY] = body
        canonical = canonical_request(request.method, url.raw_path, query, request.headers, auth.signed_headers, body)
        if not valid(canonical):
            raise unauthorized("the signature does not match.")
        return self._project(request, identity)

    @staticmethod
    def _project(request: web.Request, identity: Identity) -> str:
        project = request.headers.get("X-Project-Id")
        if project != identity.project_id:
            raise unauthorized("X-Project-Id is missing or is not the project of the access key.")
        return project
