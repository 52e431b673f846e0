"""The client over real HTTP against the emulator: wire shapes, paging, convergence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.pulumi_cli import ims_config
from ims_emulator import DEMO_TOKEN
from ims_emulator.process import Emulator
from ims_pulumi.core import errors
from ims_pulumi.core.client import ImsClient, create_token_tag
from ims_pulumi.core.config import resolve

pytestmark = pytest.mark.contract


@pytest.fixture
def client(emu: Emulator) -> Iterator[ImsClient]:
    config, secrets = ims_config(emu.url)
    api = ImsClient.from_config(resolve(lambda k: {**config, **secrets}.get(f"ims:{k}"), {}))
    yield api
    api.close()


def test_create_show_update_delete(client: ImsClient, emu: Emulator) -> None:
    image = client.create_image({"name": "c1", "__os_version": "CentOS 7.9 64bit", "disk_format": "qcow2",
                                 "min_disk": 40, "tags": ["a=1"]})
    assert image["status"] == "queued" and image["__platform"] == "CentOS"
    assert client.get_image(image["id"])["name"] == "c1"  # type: ignore[index]
    updated = client.update_image(image["id"], [{"op": "replace", "path": "/name", "value": "c2"},
                                                {"op": "add", "path": "/__description", "value": "d"},
                                                {"op": "add", "path": "/team", "value": "x"}])
    assert updated["name"] == "c2" and updated["__description"] == "d" and updated["team"] == "x"
    client.delete_image(image["id"])
    assert client.get_image(image["id"]) is None
    client.delete_image(image["id"])  # already gone: fine


def test_patch_uses_json_patch_content_type(client: ImsClient, emu: Emulator) -> None:
    image = client.create_image({"name": "p1"})
    emu.reset_stats()
    client.update_image(image["id"], [{"op": "replace", "path": "/name", "value": "p2"}])
    assert emu.stats()["requests"] == {"PATCH /v2/images/{id}": 1}


def test_list_follows_next_links(client: ImsClient, emu: Emulator) -> None:
    for i in range(7):
        client.create_image({"name": f"page-{i}"})
    names = sorted(i["name"] for i in client.list_images([("visibility", "private")], limit=3))
    assert names == [f"page-{i}" for i in range(7)]
    assert emu.stats()["requests"]["GET /v2/images"] == 3


def test_create_with_token_adopts_an_existing_image(client: ImsClient, emu: Emulator) -> None:
    body = {"name": "tok", "tags": [create_token_tag("t-1")]}
    first = client.create_image(body)
    second = client.create_image(body)
    assert first["id"] == second["id"]
    assert len(emu.images()) == 1


def test_lost_create_response_is_recovered_without_duplicate(client: ImsClient, emu: Emulator) -> None:
    emu.set_faults([{"kind": "drop_response", "method": "POST", "path": "/v2/images", "count": 1}])
    image = client.create_image({"name": "lost", "tags": [create_token_tag("t-2")]})
    assert [i["id"] for i in emu.images()] == [image["id"]]


def test_retries_transient_errors_on_reads(client: ImsClient, emu: Emulator) -> None:
    image = client.create_image({"name": "r"})
    emu.set_faults([{"kind": "error", "status": 503, "method": "GET", "count": 2}])
    assert client.get_image(image["id"]) is not None


def test_protected_delete_is_a_clear_error(client: ImsClient, emu: Emulator) -> None:
    image = client.create_image({"name": "prot", "protected": True})
    with pytest.raises(errors.ImageProtected) as info:
        client.delete_image(image["id"])
    assert "protected=False" in str(info.value) and "request id" in str(info.value)


def test_validation_error_carries_code_and_request_id(client: ImsClient) -> None:
    with pytest.raises(errors.BadRequest) as info:
        client.create_image({"name": "x", "__os_version": "Plan 9 64bit"})
    assert info.value.code == "IMG.0056" and info.value.request_id


def test_token_auth(emu: Emulator) -> None:
    api = ImsClient.from_config(resolve(lambda k: {"endpoint": emu.url, "authToken": DEMO_TOKEN}.get(k), {}))
    assert api.create_image({"name": "by-token"})["name"] == "by-token"


def test_wrong_secret_is_401_with_advice(emu: Emulator) -> None:
    config, secrets = ims_config(emu.url)
    secrets["ims:secretKey"] = "not-the-secret"
    api = ImsClient.from_config(resolve(lambda k: {**config, **secrets}.get(f"ims:{k}"), {}))
    with pytest.raises(errors.AuthenticationFailed) as info:
        api.get_image("x")
    assert "HTTP 401" in str(info.value) and "not-the-secret" not in str(info.value)
