"""Authentication as the API Gateway does it: ``SDK-HMAC-SHA256`` AK/SK or ``X-Auth-Token``.

The canonical request is rebuilt from what actually arrived (method, raw path, raw query,
the headers the client says it signed, the body) with the provider's own signer
functions, so a client and the emulator can only agree when both follow the algorithm of
``huaweicloudsdkcore``. Every failure is a gateway-style 401 (``APIGW.0301``), including
an ``X-Project-Id`` that is missing or is not the key's project.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from aiohttp import web

from emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN
from emulator.errors import GW_TOO_LARGE, ApiError, Style, unauthorized
from ims_pulumi.signer import DATE_FORMAT, Authorization, canonical_request, signature, string_to_sign

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
    def build(cls, identities: list[Identity], tokens: list[tuple[str, str]], *, enabled: bool = True) -> Authenticator:
        """The configured credentials, or the demo identity and token when none are given."""
        if not identities and not tokens:
            identities = [Identity(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID)]
            tokens = [(DEMO_TOKEN, DEMO_PROJECT_ID)]
        return cls({i.access_key: i for i in identities}, dict(tokens), enabled)

    async def project_of(self, request: web.Request) -> str:
        """The caller's project id."""
        if not self.enabled:
            return request.headers.get("X-Project-Id") or DEMO_PROJECT_ID
        header = request.headers.get("Authorization")
        if header is not None:
            return await self._verify_signature(request, header)
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            project = self.tokens.get(token)
            if project is None:
                raise unauthorized("the token is invalid or expired.")
            return project
        raise unauthorized("no Authorization or X-Auth-Token header.")

    async def _verify_signature(self, request: web.Request, header: str) -> str:
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

        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, GW_TOO_LARGE, "Request entity too large.", style=Style.GATEWAY) from None
        except ConnectionResetError:
            # The client went away mid-body: nobody to answer, and nothing worth a traceback in the log.
            raise web.HTTPBadRequest(text="connection lost") from None
        request[BODY_KEY] = body
        url = request.rel_url
        pairs = [p.partition("=") for p in url.raw_query_string.split("&") if p]
        query = [(unquote(k), unquote(v)) for k, _, v in pairs]
        canonical = canonical_request(request.method, url.raw_path, query, request.headers, auth.signed_headers, body)
        expected = signature(identity.secret_key, string_to_sign(canonical, sdk_date))
        if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
            raise unauthorized("the signature does not match.")

        project = request.headers.get("X-Project-Id")
        if project != identity.project_id:
            raise unauthorized("X-Project-Id is missing or is not the project of the access key.")
        return project
