"""Huawei Cloud API Gateway request signing, ``SDK-HMAC-SHA256``.

The algorithm is the one of ``huaweicloudsdkcore.signer.Signer`` (tests compare the two
byte for byte). It is split into pure functions so that the local emulator can rebuild
the canonical request on the server side with the same code paths that the client uses,
and so that each step can be tested on its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
HEADER_DATE = "X-Sdk-Date"
HEADER_CONTENT_SHA256 = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _encode(value: str) -> str:
    """RFC 3986 encoding as the SDK does it: only unreserved characters (and ``~``) stay."""
    return quote(value, safe="~")


def canonical_uri(path: str) -> str:
    """Percent-decode the path, re-encode every segment, and make it end with ``/``."""
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Sorted ``key=value`` pairs, both sides encoded; also the query string sent on the wire."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header whose name has no ``_``, lower-cased and sorted."""
    return sorted(name.lower() for name in headers if "_" not in name)


def canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> str:
    """``name:value`` lines for the signed headers (values trimmed), ending with a newline."""
    lowered = {k.lower(): str(v).strip() for k, v in headers.items()}
    return "".join(f"{name}:{lowered.get(name, '')}\n" for name in names)


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    """Hex SHA-256 of the body, or the ``X-Sdk-Content-Sha256`` override for non-JSON bodies."""
    if not body:
        return EMPTY_SHA256
    for name, value in headers.items():
        if name.lower() == HEADER_CONTENT_SHA256.lower():
            return value
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    names: list[str],
    body: bytes,
) -> str:
    """The six-line canonical request that is hashed into the string to sign."""
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers(headers, names),
            ";".join(names),
            payload_hash(body, headers),
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    """``ALGORITHM \\n date \\n hex(sha256(canonical request))``."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign, keyed with the secret key."""
    return hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def needs_unsigned_payload(content_type: str | None) -> bool:
    """Bodies that are not JSON (json-patch, octet-stream) are sent as ``UNSIGNED-PAYLOAD``."""
    return bool(content_type) and not (
        content_type.startswith("application/json") or content_type.startswith("application/bson")  # type: ignore[union-attr]
    )


def format_date(when: datetime | None = None) -> str:
    """``X-Sdk-Date`` value for ``when`` (default: now, UTC)."""
    return (when or datetime.now(UTC)).strftime(DATE_FORMAT)


@dataclass(frozen=True)
class Authorization:
    """A parsed ``Authorization: SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..``."""

    access_key: str
    signed_headers: list[str]
    signature: str

    @classmethod
    def parse(cls, value: str) -> Authorization | None:
        """Parse the header; ``None`` when it is not an ``SDK-HMAC-SHA256`` authorization."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme != ALGORITHM:
            return None
        fields: dict[str, str] = {}
        for part in rest.split(","):
            key, sep, val = part.strip().partition("=")
            if sep:
                fields[key] = val
        try:
            return cls(fields["Access"], fields["SignedHeaders"].split(";"), fields["Signature"])
        except KeyError:
            return None

    def header(self) -> str:
        """The header value."""
        return f"{ALGORITHM} Access={self.access_key}, SignedHeaders={';'.join(self.signed_headers)}, Signature={self.signature}"


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
    *,
    sdk_date: str | None = None,
) -> dict[str, str]:
    """Sign a request and return the complete header set to send.

    ``url`` may carry a query string; its pairs are signed exactly as given (the caller
    must send the same query, see :func:`canonical_query`). ``headers`` must already hold
    every header that should be signed (``Content-Type``, ``X-Project-Id``,
    ``X-Security-Token``...); ``Host``, ``X-Sdk-Date`` and, for non-JSON bodies,
    ``X-Sdk-Content-Sha256`` are added here.
    """
    parts = urlsplit(url)
    out = dict(headers)
    lower = {k.lower(): k for k in out}
    if needs_unsigned_payload(out.get(lower.get("content-type", ""))):
        out[HEADER_CONTENT_SHA256] = UNSIGNED_PAYLOAD
    if "x-sdk-date" in lower:
        sdk_date = out[lower["x-sdk-date"]]
    else:
        out[HEADER_DATE] = sdk_date = sdk_date or format_date()
    if "host" not in lower:
        out["Host"] = parts.netloc
    query = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in parts.query.split("&") if p]
    pairs = [(unquote(k), unquote(v)) for k, v in query]
    names = signed_header_names(out)
    canonical = canonical_request(method, parts.path or "/", pairs, out, names, body)
    sig = signature(secret_key, string_to_sign(canonical, sdk_date))
    out["Authorization"] = Authorization(access_key, names, sig).header()
    return out
