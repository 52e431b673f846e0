"""The official Huawei Cloud SDK (``huaweicloudsdkims``) works unchanged against the emulator."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkims.v2 import ImsClient
from huaweicloudsdkims.v2.model import (
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceCreateTagRequest,
    GlanceDeleteImageRequest,
    GlanceDeleteTagRequest,
    GlanceListImageSchemasRequest,
    GlanceListImagesRequest,
    GlanceShowImageRequest,
    GlanceUpdateImageRequest,
    GlanceUpdateImageRequestBody,
)

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator

pytestmark = [pytest.mark.contract, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _client(url: str, ak: str = DEMO_AK, sk: str = DEMO_SK) -> ImsClient:
    credentials = BasicCredentials(ak, sk, DEMO_PROJECT_ID)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoints([url]).build()


@pytest.fixture
def sdk(emu: Emulator) -> ImsClient:
    """An SDK client with the demo identity."""
    return _client(emu.url)


def _create(sdk: ImsClient, **fields: object) -> str:
    body = GlanceCreateImageMetadataRequestBody(**fields)
    return str(sdk.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body)).id)


def test_sdk_crud(sdk: ImsClient, emu: Emulator) -> None:
    created = sdk.glance_create_image_metadata(
        GlanceCreateImageMetadataRequest(
            body=GlanceCreateImageMetadataRequestBody(
                name="sdk-image", os_version="CentOS 7.6 64bit", tags=["env=test"], min_disk=40, protected=False
            )
        )
    )
    assert created.status == "queued" and created.os_type == "Linux" and created.os_bit == "64"
    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=created.id))
    assert (shown.name, shown.platform, shown.min_disk, shown.tags) == ("sdk-image", "CentOS", 40, ["env=test"])

    listed = sdk.glance_list_images(GlanceListImagesRequest(name="sdk-image", isregistered=True, limit=5))
    assert [i.id for i in listed.images] == [created.id]
    assert listed.first == "/v2/images?__isregistered=true&name=sdk-image&limit=5"

    updated = sdk.glance_update_image(
        GlanceUpdateImageRequest(
            image_id=created.id, body=[GlanceUpdateImageRequestBody(op="replace", path="/name", value="renamed")]
        )
    )
    assert updated.name == "renamed"
    sdk.glance_create_tag(GlanceCreateTagRequest(image_id=created.id, tag="extra"))
    sdk.glance_delete_tag(GlanceDeleteTagRequest(image_id=created.id, tag="extra"))

    deleted = sdk.glance_delete_image(GlanceDeleteImageRequest(image_id=created.id))
    assert deleted.status_code == 204
    assert emu.images() == []
    stats = emu.stats()["requests"]
    assert stats["PATCH /v2/images/{id}"] == 1 and stats["DELETE /v2/images/{id}"] == 1


def test_sdk_paging_with_marker(sdk: ImsClient) -> None:
    ids = {_create(sdk, name=f"page-{i}", tags=["k=v"]) for i in range(5)}
    seen: list[str] = []
    marker = None
    while True:
        page = sdk.glance_list_images(GlanceListImagesRequest(tag="k=v", limit=2, marker=marker, sort_key="name"))
        seen += [i.id for i in page.images]
        if not page.next:
            break
        marker = page.images[-1].id
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def test_sdk_schema_call(sdk: ImsClient) -> None:
    assert sdk.glance_list_image_schemas(GlanceListImageSchemasRequest()).name == "images"


def test_sdk_sees_ims_error_codes(sdk: ImsClient) -> None:
    with pytest.raises(ClientRequestException) as caught:
        sdk.glance_show_image(GlanceShowImageRequest(image_id="3f6a2335-69a9-437d-8322-d87e4600f516"))
    assert (caught.value.status_code, caught.value.error_code) == (404, "IMG.0027")
    assert caught.value.request_id


@pytest.mark.parametrize(
    ("ak", "sk", "reason"),
    [("UNKNOWNACCESSKEY", DEMO_SK, "unknown AK"), (DEMO_AK, "wrong-secret", "signature made with another SK")],
    ids=["UnknownAccessKey", "WrongSecret"],
)
def test_sdk_bad_credentials_are_401(emu: Emulator, ak: str, sk: str, reason: str) -> None:
    with pytest.raises(ClientRequestException) as caught:
        _client(emu.url, ak, sk).glance_list_images(GlanceListImagesRequest(limit=1))
    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301"), reason


def _sdk_signed(url: str, sdk_date: str | None = None) -> tuple[str, dict[str, str]]:
    """A ``GET /v2/images?limit=1`` signed by the SDK's own Signer."""
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "X-Project-Id": DEMO_PROJECT_ID}
    if sdk_date:
        headers["X-Sdk-Date"] = sdk_date
    request = SdkRequest(
        method="GET",
        schema=parts.scheme,
        host=parts.netloc,
        resource_path="/v2/images",
        query_params=[("limit", 1)],
        header_params=headers,
        body="",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # datetime.utcnow inside the SDK
        Signer(BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID)).sign(request)
    return f"{url}{request.uri}", dict(request.header_params)


def _tampered_signature(url: str) -> tuple[str, dict[str, str]]:
    url, headers = _sdk_signed(url)
    value = headers["Authorization"]
    return url, {**headers, "Authorization": value[:-1] + ("0" if value[-1] != "0" else "1")}


def _stale_date(url: str) -> tuple[str, dict[str, str]]:
    stale = (datetime.now(UTC) - timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    return _sdk_signed(url, sdk_date=stale)


def _tampered_query(url: str) -> tuple[str, dict[str, str]]:
    url, headers = _sdk_signed(url)
    return url.replace("limit=1", "limit=2"), headers


@pytest.fixture
def sdk_requests(emu: Emulator) -> Iterator[requests.Session]:
    """A plain session for replaying SDK-signed requests."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def test_sdk_signed_request_is_accepted_untouched(emu: Emulator, sdk_requests: requests.Session) -> None:
    url, headers = _sdk_signed(emu.url)
    assert sdk_requests.get(url, headers=headers, timeout=10).status_code == 200


ALTERED = {
    "TamperedSignature": {"reason": "one signature digit changed", "make": _tampered_signature},
    "StaleDate": {"reason": "X-Sdk-Date 16 minutes old, correctly signed", "make": _stale_date},
    "TamperedQuery": {"reason": "query changed after signing", "make": _tampered_query},
}


@pytest.mark.parametrize("case", ALTERED.values(), ids=ALTERED.keys())
def test_sdk_signed_request_altered_is_401(emu: Emulator, sdk_requests: requests.Session, case: dict[str, Any]) -> None:
    url, headers = case["make"](emu.url)
    response = sdk_requests.get(url, headers=headers, timeout=10)
    assert (response.status_code, response.json()["error_code"]) == (401, "APIGW.0301"), case["reason"]


def test_sdk_against_no_auth_mode() -> None:
    with Emulator.start(None, "--no-auth") as emu:
        sdk = _client(emu.url, "ANY", "THING")
        image_id = _create(sdk, name="no-auth")
        assert sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id)).owner == DEMO_PROJECT_ID
