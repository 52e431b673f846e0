"""Authentication (AK/SK signature, token, no-auth, TLS) and project isolation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN, PLATFORM_PROJECT_ID
from ims_emulator.process import Emulator
from ims_pulumi.core.signer import DATE_FORMAT, Authorization, canonical_request, sign, signature, string_to_sign
from tests.support.emulator_client import JSON, Api, error_code

pytestmark = pytest.mark.contract

Headers = dict[str, str]


def _date(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime(DATE_FORMAT)


def _signed(url: str, *, ak: str = DEMO_AK, sk: str = DEMO_SK, **extra: str) -> Headers:
    """Headers of a correctly signed ``POST url`` with the body ``{}``."""
    headers = {"Content-Type": JSON, "X-Project-Id": DEMO_PROJECT_ID, **extra}
    return sign("POST", url, headers, b"{}", ak, sk)


def _replace_signature(headers: Headers, new: str) -> Headers:
    auth = Authorization.parse(headers["Authorization"])
    assert auth is not None
    return {**headers, "Authorization": Authorization(auth.access_key, auth.signed_headers, new).header()}


def _without_host_signed(url: str) -> Headers:
    """A correct signature over a header set that lacks ``host``."""
    headers = {"Content-Type": JSON, "X-Project-Id": DEMO_PROJECT_ID, "X-Sdk-Date": _date()}
    names = ["content-type", "x-project-id", "x-sdk-date"]
    canonical = canonical_request("POST", "/v2/images", [], headers, names, b"{}")
    sig = signature(DEMO_SK, string_to_sign(canonical, headers["X-Sdk-Date"]))
    return {**headers, "Authorization": Authorization(DEMO_AK, names, sig).header()}


# Each case turns the target URL into (url to send, headers, body).
Request = tuple[str, Headers, bytes]
# fmt: off
UNAUTHORIZED: dict[str, dict[str, Any]] = {
    "TamperedSignature": {"reason": "one changed hex digit", "make": lambda u: (u, _replace_signature(_signed(u), "0" * 64), b"{}")},
    "WrongSecretKey": {"reason": "signed with another secret", "make": lambda u: (u, _signed(u, sk="not-the-secret"), b"{}")},
    "UnknownAccessKey": {"reason": "the AK is not registered", "make": lambda u: (u, _signed(u, ak="UNKNOWNAK0000000"), b"{}")},
    "StaleDate": {"reason": "X-Sdk-Date 20 minutes old", "make": lambda u: (u, _signed(u, **{"X-Sdk-Date": _date(-20)}), b"{}")},
    "FutureDate": {"reason": "X-Sdk-Date 20 minutes ahead", "make": lambda u: (u, _signed(u, **{"X-Sdk-Date": _date(20)}), b"{}")},
    "MalformedDate": {"reason": "X-Sdk-Date not in the basic format", "make": lambda u: (u, _signed(u, **{"X-Sdk-Date": "2024-01-01T00:00:00Z"}), b"{}")},
    "BodyChanged": {"reason": "the body hash is signed", "make": lambda u: (u, _signed(u), b'{"name": "evil"}')},
    "QueryAdded": {"reason": "the query is signed", "make": lambda u: (u + "?x=1", _signed(u), b"{}")},
    "HostNotSigned": {"reason": "SignedHeaders must include host", "make": lambda u: (u, _without_host_signed(u), b"{}")},
    "NoProjectHeader": {"reason": "X-Project-Id is required with AK/SK", "make": lambda u: (u, sign("POST", u, {"Content-Type": JSON}, b"{}", DEMO_AK, DEMO_SK), b"{}")},
    "OtherProject": {"reason": "X-Project-Id must be the key's project", "make": lambda u: (u, _signed(u, **{"X-Project-Id": "another-project"}), b"{}")},
    "UnsignedSecurityToken": {"reason": "X-Security-Token must be signed", "make": lambda u: (u, {**_signed(u), "X-Security-Token": "t"}, b"{}")},
    "OtherScheme": {"reason": "only SDK-HMAC-SHA256", "make": lambda u: (u, {"Authorization": "Bearer abc", "Content-Type": JSON}, b"{}")},
    "NoCredentials": {"reason": "no Authorization, no token", "make": lambda u: (u, {"Content-Type": JSON}, b"{}")},
    "UnknownToken": {"reason": "a token nobody issued", "make": lambda u: (u, {"X-Auth-Token": "forged", "Content-Type": JSON}, b"{}")},
}
# fmt: on


@pytest.mark.parametrize("case", UNAUTHORIZED.values(), ids=UNAUTHORIZED.keys())
def test_rejected_credentials_are_gateway_401(emu: Emulator, case: dict[str, Any]) -> None:
    make: Callable[[str], Request] = case["make"]
    url, headers, body = make(emu.url + "/v2/images")
    response = requests.post(url, data=body, headers=headers, timeout=10)
    assert response.status_code == 401, f"{case['reason']}: {response.text}"
    payload = response.json()
    assert payload["error_code"] == "APIGW.0301"
    assert payload["error_msg"].startswith("Incorrect IAM authentication information")
    assert payload["request_id"] == response.headers["X-Request-Id"]
    assert emu.images() == [], case["reason"]


# fmt: off
# "extra" is made when the test runs: a date taken at collection is minutes old by then in a full run.
ACCEPTED: dict[str, dict[str, Any]] = {
    "Fresh": {"reason": "a normal signed request", "extra": dict},
    "TenMinutesOld": {"reason": "skew within 15 minutes is fine", "extra": lambda: {"X-Sdk-Date": _date(-10)}},
    "SignedSecurityToken": {"reason": "temporary credentials sign X-Security-Token", "extra": lambda: {"X-Security-Token": "tmp"}},
    "UnderscoreHeaderUnsigned": {"reason": "headers with '_' are not signed by the SDK", "extra": lambda: {"X_Trace": "1"}},
}
# fmt: on


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_valid_signatures_are_accepted(emu: Emulator, case: dict[str, Any]) -> None:
    url = emu.url + "/v2/images"
    response = requests.post(url, data=b"{}", headers=_signed(url, **case["extra"]()), timeout=10)
    assert response.status_code == 201, f"{case['reason']}: {response.text}"


def test_signed_query_with_escaping(api: Api) -> None:
    api.create(name="a b", tags=["k=v"])
    params = [("tag", "k=v"), ("name", "a b"), ("sort_key", "name")]
    response = api.get("/v2/images", params=params)
    assert response.status_code == 200, response.text
    assert [i["name"] for i in response.json()["images"]] == ["a b"]


def test_token_auth(emu: Emulator) -> None:
    token = Api(emu.url, token=DEMO_TOKEN)
    image = token.create(name="by-token")
    assert image["owner"] == DEMO_PROJECT_ID
    assert Api(emu.url).get(f"/v2/images/{image['id']}").status_code == 200, "same project as the demo AK"


def test_signed_body_over_12_mb_is_413(api: Api) -> None:
    response = api.post("/v2/images", data=b"{" + b" " * (12 * 1024 * 1024) + b"}", content_type=JSON)
    assert (response.status_code, error_code(response)) == (413, "APIGW.0201")


P1, P2 = "11111111111111111111111111111111", "22222222222222222222222222222222"


@pytest.fixture(scope="module")
def multi() -> Iterator[Emulator]:
    """An emulator with two projects, each with an AK/SK pair and a token."""
    args = [
        "--identity",
        f"AK1:SK:with:colons:{P1}",
        "--identity",
        f"AK2:SK2:{P2}",
        "--token",
        f"T1:{P1}",
        "--token",
        f"T2:{P2}",
        "--no-demo-identity",
    ]
    with Emulator.start(None, *args) as emulator:
        yield emulator


def test_projects_are_isolated(multi: Emulator) -> None:
    one, two = Api(multi.url, ak="AK1", sk="SK:with:colons", project=P1), Api(multi.url, token="T2")
    mine = one.create(name="mine")
    two.create(name="theirs")
    # Each project lists its own image next to the public catalogue, never the other's.
    assert [i["name"] for i in one.get("/v2/images", params={"visibility": "private"}).json()["images"]] == ["mine"]
    assert [i["name"] for i in two.get("/v2/images", params={"visibility": "private"}).json()["images"]] == ["theirs"]
    for api, own in ((one, "mine"), (two, "theirs")):
        listed = api.get("/v2/images", params={"limit": "1000"}).json()["images"]
        assert [i["name"] for i in listed if i["owner"] != PLATFORM_PROJECT_ID] == [own]
    path = f"/v2/images/{mine['id']}"
    for response in (
        two.get(path),
        two.patch(path, [{"op": "replace", "path": "/name", "value": "x"}]),
        two.put(f"{path}/tags/t"),
        two.delete(path),
    ):
        assert (response.status_code, error_code(response)) == (404, "IMG.0027"), "no peeking into other projects"
    assert two.get("/v2/images", params={"marker": mine["id"]}).status_code == 400, "nor using them as markers"
    assert multi.stats()["images"] == {P1: 1, P2: 1}
    assert {i["owner"] for i in multi.images(P1)} == {P1}


def test_demo_identity_stays_beside_others_unless_turned_off(tmp_path: Path) -> None:
    """`--identity` adds a project: the demo AK/SK and token keep working (the README's sharing setup)."""
    with Emulator.start(tmp_path / "emu", "--identity", f"AK2:SK2:{P2}") as emulator:
        assert Api(emulator.url).get("/v2/images").status_code == 200
        assert Api(emulator.url, token=DEMO_TOKEN).get("/v2/images").status_code == 200
        assert Api(emulator.url, ak="AK2", sk="SK2", project=P2).get("/v2/images").status_code == 200


def test_demo_credentials_are_off_with_no_demo_identity(multi: Emulator) -> None:
    assert Api(multi.url).get("/v2/images").status_code == 401
    assert Api(multi.url, token=DEMO_TOKEN).get("/v2/images").status_code == 401


def test_no_auth_mode() -> None:
    with Emulator.start(None, "--no-auth") as emu:
        plain = requests.post(emu.url + "/v2/images", json={"name": "anon"}, timeout=10)
        assert plain.status_code == 201 and plain.json()["owner"] == DEMO_PROJECT_ID
        scoped = requests.post(emu.url + "/v2/images", json={}, headers={"X-Project-Id": P1}, timeout=10)
        assert scoped.json()["owner"] == P1
        junk = requests.get(
            emu.url + "/v2/images?visibility=private", headers={"Authorization": "SDK-HMAC-SHA256 junk"}, timeout=10
        )
        assert [i["name"] for i in junk.json()["images"]] == ["anon"]
        platform = requests.get(emu.url + "/v2/images", headers={"X-Project-Id": PLATFORM_PROJECT_ID}, timeout=10)
        assert (platform.status_code, error_code(platform)) == (403, "IMG.0026"), "the catalogue's owner is no user"


def test_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    with Emulator.start(None, "--tls-cert", str(cert_file), "--tls-key", str(key_file), verify=str(ca_file)) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.health() == {"status": "ok"}
        assert Api(emu.url, verify=str(ca_file)).create(name="over-tls")["name"] == "over-tls"
