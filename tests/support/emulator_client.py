"""A small HTTP client for tests against the emulator, AK/SK-signed with the provider's signer."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from ims_emulator import CONTROL_HEADER, DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_pulumi.core.signer import canonical_query, sign

JSON = "application/json;charset=UTF-8"
PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
#: Headers of a ``/_emulator/*`` call that changes something (the emulator refuses it without them).
CONTROL = {CONTROL_HEADER: "1"}


class Api:
    """Requests to the emulator, AK/SK-signed like the SDK does, or with a token."""

    def __init__(
        self,
        url: str,
        *,
        ak: str = DEMO_AK,
        sk: str = DEMO_SK,
        project: str | None = DEMO_PROJECT_ID,
        token: str | None = None,
        verify: str | bool = True,
    ) -> None:
        self.url = url
        self.ak, self.sk, self.project, self.token = ak, sk, project, token
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = verify

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        params: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        sdk_date: str | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """Send one request; the query is sent exactly as it is signed (canonical order)."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        query = canonical_query(pairs)
        url = self.url + path + (f"?{query}" if query else "")
        body = jsonlib.dumps(json).encode() if json is not None else (data or b"")
        out: dict[str, str] = {}
        if content_type or json is not None:
            out["Content-Type"] = content_type or JSON
        out.update(headers or {})
        if self.token is not None:
            out["X-Auth-Token"] = self.token
        else:
            if self.project is not None:
                out["X-Project-Id"] = self.project
            out = sign(method, url, out, body, self.ak, self.sk, sdk_date=sdk_date)
        return self.session.request(method, url, data=body, headers=out, timeout=timeout)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, ops: Any, *, dialect: str = PATCH_V21, **kwargs: Any) -> requests.Response:
        """PATCH with a JSON-patch body in ``dialect``."""
        return self.request("PATCH", path, data=jsonlib.dumps(ops).encode(), content_type=dialect, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create an image and return it, failing the test on anything but 201."""
        response = self.post("/v2/images", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())


def error_code(response: requests.Response) -> str:
    """The code of an IMS-style or gateway-style error body."""
    body = response.json()
    return str(body["error"]["code"] if "error" in body else body["error_code"])
