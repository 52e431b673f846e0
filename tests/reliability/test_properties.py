"""Issue 6, item 10: property-based tests (hypothesis) of the signer and of json-patch application.

Already in ``tests/unit`` and kept there: the signer equals ``huaweicloudsdkcore`` for random
methods, paths, queries, bodies and content types with fixed credentials
(``test_signer.py``), and ``patch_ops`` turns the old image into the desired one under a
model of json-patch (``test_diff_and_patch.py``). Added here:

* the signer equals the SDK also for random credentials, security tokens and extra headers;
* the server agrees: every request the provider's transport signs, whatever its query or
  image id, passes the emulator's signature check (which rebuilds the canonical request from
  the bytes that arrived);
* the patch is applied with the emulator's own PATCH rules (not a model), starting from the
  image the emulator creates from the provider's create body, on IMS and on an endpoint that
  lets PATCH change ``protected``: the result never differs from the declared inputs, and
  attributes the stack does not manage are never touched.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, rules
from ims_emulator.process import Emulator
from ims_emulator.settings import Settings
from ims_pulumi.core import signer
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.errors import NotFound
from ims_pulumi.core.framework import json_patch
from ims_pulumi.core.image_metadata import IMAGE_METADATA as TABLE
from ims_pulumi.core.profiles import IMS
from ims_pulumi.core.transport import Credentials, Transport

HOST = "ims.cn-north-4.myhuaweicloud.com"
DATE = "20260101T120000Z"

ascii_token = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=24)
header_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).map(lambda s: "X-" + s)
header_value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=24)
unicode_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                       max_size=16)


@pytest.mark.unit
@settings(max_examples=150, deadline=None)
@given(ak=ascii_token, sk=ascii_token, security_token=st.none() | ascii_token,
       extra=st.dictionaries(header_name, header_value, max_size=3),
       method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
       query=st.lists(st.tuples(st.sampled_from(["name", "tag", "limit", "marker"]), unicode_text), max_size=3),
       body=st.binary(max_size=32))
def test_property_signer_agrees_with_sdk_for_any_credentials_and_headers(
        ak: str, sk: str, security_token: str | None, extra: dict[str, str], method: str,
        query: list[tuple[str, str]], body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Project-Id": "p", **extra}
    if security_token:
        headers["X-Security-Token"] = security_token
    url = f"https://{HOST}/v2/images" + (f"?{signer.canonical_query(query)}" if query else "")
    ours = signer.sign(method, url, {**headers, "Host": HOST}, body, ak, sk, sdk_date=DATE)["Authorization"]
    request = SdkRequest(method=method, schema="https", host=HOST, resource_path="/v2/images",
                         query_params=list(query), header_params={**headers, "X-Sdk-Date": DATE}, body=body)
    Signer(SimpleNamespace(ak=ak, sk=sk)).sign(request)
    assert ours == request.header_params["Authorization"]


@pytest.mark.contract
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.lists(st.tuples(st.sampled_from(["name", "owner"]), unicode_text), max_size=3),
       # Not "/", "?", "#" (URL syntax), nor "{", "}" (aiohttp's routes refuse them: a gateway 404).
       image_id=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"),
                                               exclude_characters="/?#{}"), min_size=1, max_size=16),
       security_token=st.none() | ascii_token)
def test_property_the_server_accepts_every_signature_the_transport_makes(
        emulator: Emulator, filters: list[tuple[str, str]], image_id: str, security_token: str | None) -> None:
    assume(image_id not in (".", ".."))  # dot segments are resolved away by URL normalisation
    credentials = Credentials(DEMO_AK, DEMO_SK, security_token or "", project_id=DEMO_PROJECT_ID)
    api = ImsClient(Transport(emulator.url, credentials))
    # A 401 would raise AuthenticationFailed: a list answered 200 and a 404 of the image itself
    # (IMG.0027, after authentication) prove the signature was accepted.
    assert list(api.list_images([*filters, ("visibility", "private")])) == []
    with pytest.raises(NotFound) as info:
        api.update_image(image_id, [{"op": "replace", "path": "/name", "value": "x"}])
    assert info.value.code == "IMG.0027", str(info.value)
    api.close()


names = st.text(alphabet="abcxyzABC019-._ ", min_size=1, max_size=20).map(lambda s: "n" + s.strip() + "n")
descriptions = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",),
                                              exclude_characters="\r<>"), max_size=30)
properties = st.dictionaries(st.sampled_from(["team", "owner", "cost_center", "note"]),
                             st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
                             max_size=4)
PROFILES = {
    "ims": (IMS, Settings()),
    "protected in place": (IMS.with_overrides(protected_in_place=True), Settings(allow_protected_patch=True)),
}


def inputs(name: str, description: str, props: dict[str, str], protected: bool) -> dict[str, Any]:
    return {"name": name, "description": description, "properties": props, "protected": protected,
            "os_version": "Ubuntu 22.04 server 64bit", "disk_format": "qcow2", "tags": ["team=x"],
            "__create_token": "c" * 32}


@pytest.mark.contract
@pytest.mark.parametrize("profile_name", PROFILES)
@settings(max_examples=200, deadline=None)
@given(old_name=names, new_name=names, old_desc=descriptions, new_desc=descriptions, old_props=properties,
       new_props=properties, old_protected=st.booleans(), new_protected=st.booleans(),
       unmanaged=st.dictionaries(st.sampled_from(["by_others", "note_of_ops"]), st.text(max_size=5), max_size=2))
def test_property_the_servers_patch_rules_turn_the_image_into_the_declared_one(
        profile_name: str, old_name: str, new_name: str, old_desc: str, new_desc: str, old_props: dict[str, str],
        new_props: dict[str, str], old_protected: bool, new_protected: bool, unmanaged: dict[str, str]) -> None:
    profile, server_settings = PROFILES[profile_name]
    if not profile.protected_in_place:
        new_protected = old_protected  # a replacement on IMS: never patched
    old, failures = TABLE.check({}, inputs(old_name, old_desc, old_props, old_protected), profile)
    assume(not failures)
    new, failures = TABLE.check(old, inputs(new_name, new_desc, new_props, new_protected), profile)
    assume(not failures)
    # What the provider works with: the stored inputs with the table's defaults applied.
    old, new = TABLE.effective(old, profile), TABLE.effective(new, profile)
    assert not TABLE.plan(old, new, profile).replaces

    # Created by the server from the provider's body; then someone adds attributes of their own.
    image = rules.new_image(TABLE.create_body(old, profile), "0b6e6a3a-0000-4000-8000-000000000001", DEMO_PROJECT_ID,
                            server_settings)
    image.update({k: v for k, v in unmanaged.items() if k not in image})
    keys = TABLE.managed_keys(profile, old, new)
    ops = json_patch(TABLE.image_wire(image, keys, profile), TABLE.patch_body(new, profile), keys)
    wire = json.loads(json.dumps(ops))  # what goes over the wire
    patched = rules.apply_patch(image, rules.JSON_PATCH_V21, rules.parse_patch(rules.JSON_PATCH_V21, wire),
                                server_settings)

    after = TABLE.outputs_from_image(patched, new)
    assert not TABLE.plan(after, new, profile).changes, (ops, after)
    managed = {f.wire for f in TABLE.inputs if f.wire} | set(old_props) | set(new_props)
    assert {k: v for k, v in patched.items() if k not in managed} == \
        {k: v for k, v in image.items() if k not in managed}, "attributes the stack does not manage are untouched"
    assert all(k not in patched for k in set(old_props) - set(new_props)), "dropped properties are removed"
