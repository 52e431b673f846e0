"""The signer against the official one (huaweicloudsdkcore) as an oracle, plus properties."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import given, settings
from hypothesis import strategies as st

from ims_pulumi.core import signer

pytestmark = pytest.mark.unit

AK, SK, DATE = "AKEXAMPLE0000000", "sk-example-secret", "20260101T120000Z"
HOST = "ims.cn-north-4.myhuaweicloud.com"


def oracle(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes) -> str:
    """The Authorization header huaweicloudsdkcore computes for the same request."""
    req = SdkRequest(method=method, schema="https", host=HOST, resource_path=path, query_params=list(query),
                     header_params={**headers, "X-Sdk-Date": DATE}, body=body)
    Signer(SimpleNamespace(ak=AK, sk=SK)).sign(req)
    return str(req.header_params["Authorization"])


def ours(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes) -> str:
    url = f"https://{HOST}{path}" + (f"?{signer.canonical_query(query)}" if query else "")
    return signer.sign(method, url, {**headers, "Host": HOST}, body, AK, SK, sdk_date=DATE)["Authorization"]


CASES = [
    # (reason, method, path, query, headers, body)
    ("JSON POST: body hash signed", "POST", "/v2/images", [],
     {"Content-Type": "application/json;charset=utf-8", "X-Project-Id": "p1"},
     json.dumps({"name": "a", "tags": ["k=v"]}).encode()),
    ("GET with a query that needs escaping (tag=k=v)", "GET", "/v2/images",
     [("tag", "k=v"), ("name", "a b/c"), ("limit", "25")], {"X-Project-Id": "p1"}, b""),
    ("json-patch PATCH: unsigned payload", "PATCH", "/v2/images/0e4c-11",
     [], {"Content-Type": "application/openstack-images-v2.1-json-patch", "X-Project-Id": "p1"},
     b'[{"op":"replace","path":"/name","value":"x"}]'),
    ("path segment that needs escaping", "PUT", "/v2/images/abc/tags/a%20b~c", [], {"X-Project-Id": "p1"}, b""),
    ("temporary credentials: security token is signed", "DELETE", "/v2/images/abc", [],
     {"X-Project-Id": "p1", "X-Security-Token": "tok"}, b""),
    ("header names with '_' are not signed", "GET", "/v2/images/abc", [],
     {"X-Project-Id": "p1", "X_Custom": "x"}, b""),
]


@pytest.mark.parametrize("reason,method,path,query,headers,body", CASES, ids=[c[0] for c in CASES])
def test_signature_equals_sdk(reason: str, method: str, path: str, query: list[tuple[str, str]],
                              headers: dict[str, str], body: bytes) -> None:
    assert ours(method, path, query, headers, body) == oracle(method, path, query, headers, body), reason


@pytest.mark.parametrize("path,expected,reason", [
    ("/v2/images", "/v2/images/", "a trailing slash is always added"),
    ("/v2/images/", "/v2/images/", "an existing trailing slash is kept"),
    ("/v2/images/a b", "/v2/images/a%20b/", "segments are percent-encoded"),
    ("/v2/images/a%2Fb", "/v2/images/a/b/", "the path is decoded before encoding, as the SDK does"),
])
def test_canonical_uri(path: str, expected: str, reason: str) -> None:
    assert signer.canonical_uri(path) == expected, reason


def test_authorization_round_trip() -> None:
    auth = signer.Authorization("AK", ["host", "x-sdk-date"], "abc")
    assert signer.Authorization.parse(auth.header()) == auth
    assert signer.Authorization.parse("Bearer xyz") is None


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    segments=st.lists(st.text(alphabet="abcXYZ019-._~ %=+", min_size=1, max_size=8), min_size=1, max_size=4),
    query=st.lists(st.tuples(st.text(alphabet="abc_=", min_size=1, max_size=5), text), max_size=4),
    body=st.binary(max_size=64),
    content_type=st.sampled_from(["application/json", "application/openstack-images-v2.1-json-patch",
                                  "application/octet-stream"]),
)
def test_property_signer_always_agrees_with_sdk(method: str, segments: list[str], query: list[tuple[str, str]],
                                                body: bytes, content_type: str) -> None:
    path = "/" + "/".join(s.replace("%", "%25") for s in segments)
    headers = {"Content-Type": content_type, "X-Project-Id": "p"}
    assert ours(method, path, query, headers, body) == oracle(method, path, query, headers, body)
