"""The emulator as a process: persistence, shutdown, concurrency, command-line switches."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from harness import REPO_ROOT
from ims_emulator import DEMO_PROJECT_ID
from ims_emulator.catalogue import ENTRIES
from ims_emulator.process import Emulator
from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract

CLIENTS = 32


def test_images_survive_a_restart_with_the_same_data(tmp_path: Path) -> None:
    with Emulator.start(tmp_path) as emu:
        api = Api(emu.url)
        kept = api.create(name="kept", tags=["a=b"])
        renamed = api.create(name="before")
        api.patch(f"/v2/images/{renamed['id']}", [{"op": "replace", "path": "/name", "value": "after"}])
        port = emu.port
        assert emu.restart() == 0
        assert emu.port == port, "the same port is bound again"
        api = Api(emu.url)
        assert api.get(f"/v2/images/{kept['id']}").json() == kept
        names = sorted(i["name"] for i in api.get("/v2/images", params={"visibility": "private"}).json()["images"])
        assert names == ["after", "kept"]
        assert len(emu.images(public=True)) == 2 + len(ENTRIES), "the catalogue is written once, not again per start"
    assert (tmp_path / "ims-emulator.sqlite3").exists(), "a caller's data directory is left in place"


def test_sigterm_exits_zero() -> None:
    emu = Emulator.start()
    Api(emu.url).create()
    assert emu.stop() == 0


def test_interrupted_upload_settles_on_restart() -> None:
    with Emulator.start(None, "--upload-delay", "60") as emu:
        api = Api(emu.url)
        image = api.create()
        api.put(f"/v2/images/{image['id']}/file", data=b"data", content_type="application/octet-stream")
        assert api.get(f"/v2/images/{image['id']}").json()["status"] == "saving"
        emu.restart()
        assert Api(emu.url).get(f"/v2/images/{image['id']}").json()["status"] == "active"


def _create_many(url: str, client: int, count: int) -> list[str]:
    api = Api(url)
    return [api.create(name=f"c{client}-{i}")["id"] for i in range(count)]


def test_concurrent_creates_lose_and_duplicate_nothing(emu: Emulator) -> None:
    emu.configure(quota=1000)
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda c: _create_many(emu.url, c, 10), range(CLIENTS)))
    ids = [image_id for batch in results for image_id in batch]
    assert len(ids) == len(set(ids)) == CLIENTS * 10
    assert {i["id"] for i in emu.images()} == set(ids)
    assert emu.stats()["images"] == {DEMO_PROJECT_ID: CLIENTS * 10}
    listed = Api(emu.url).get("/v2/images", params={"limit": "1000", "owner": DEMO_PROJECT_ID}).json()["images"]
    assert sorted(i["id"] for i in listed) == sorted(ids)


def _try_create(url: str, body: dict[str, Any]) -> int:
    return int(Api(url).post("/v2/images", json=body).status_code)


def test_concurrent_creates_respect_the_quota_exactly(emu: Emulator) -> None:
    emu.configure(quota=20)
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda _: _try_create(emu.url, {}), range(CLIENTS)))
    assert statuses.count(201) == 20 and statuses.count(400) == CLIENTS - 20
    assert len(emu.images()) == 20


def test_concurrent_duplicate_names_with_unique_names(emu: Emulator) -> None:
    emu.configure(unique_names=True)
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda _: _try_create(emu.url, {"name": "only-one"}), range(CLIENTS)))
    assert statuses.count(201) == 1
    assert len(emu.images()) == 1


def test_concurrent_patches_all_apply(emu: Emulator) -> None:
    api = Api(emu.url)
    image = api.create()

    def add(n: int) -> int:
        ops = [{"op": "add", "path": f"/k{n}", "value": str(n)}]
        return int(Api(emu.url).patch(f"/v2/images/{image['id']}", ops).status_code)

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert set(pool.map(add, range(CLIENTS))) == {200}
    stored = emu.images()[0]
    assert all(stored[f"k{n}"] == str(n) for n in range(CLIENTS)), "no read-modify-write lost an update"


# fmt: off
FLAGS: dict[str, dict[str, Any]] = {
    "UniqueNames": {"reason": "--unique-names turns IMG.0009 on", "args": ["--unique-names"], "config": {"unique_names": True}},
    "LenientCreate": {"reason": "--lenient-create", "args": ["--lenient-create"], "config": {"lenient_create": True}},
    "LenientPatch": {"reason": "--lenient-patch", "args": ["--lenient-patch"], "config": {"lenient_patch": True}},
    "LenientList": {"reason": "--lenient-list", "args": ["--lenient-list"], "config": {"lenient_list": True}},
    "StrictByDefault": {"reason": "no flag: every lenient switch is off", "args": [], "config": {"lenient_create": False, "lenient_patch": False, "lenient_list": False}},
    "NameMax255": {"reason": "--name-max-length 255", "args": ["--name-max-length", "255"], "config": {"name_max_length": 255}},
    "Quota": {"reason": "--quota", "args": ["--quota", "3"], "config": {"quota": 3}},
    "MemberLimit": {"reason": "--member-limit", "args": ["--member-limit", "2"], "config": {"member_limit": 2}},
    "MemberLimitDefault": {"reason": "no flag: IMS's 256 members per image", "args": [], "config": {"member_limit": 256}},
    "ProtectedDelete400": {"reason": "--protected-delete-status 400", "args": ["--protected-delete-status", "400"], "config": {"protected_delete_status": 400}},
    "DeleteUnknown204": {"reason": "--delete-unknown-204", "args": ["--delete-unknown-204"], "config": {"delete_unknown_204": True}},
    "TagEquals": {"reason": "--tag-api-allow-equals", "args": ["--tag-api-allow-equals"], "config": {"tag_api_allow_equals": True}},
    "ProtectedPatch": {"reason": "--allow-protected-patch", "args": ["--allow-protected-patch"], "config": {"allow_protected_patch": True}},
    "UploadDelay": {"reason": "--upload-delay", "args": ["--upload-delay", "0"], "config": {"upload_delay": 0}},
    "KeepImageData": {"reason": "--keep-image-data keeps uploaded bytes", "args": ["--keep-image-data"], "config": {"keep_image_data": True}},
    "DiscardImageDataByDefault": {"reason": "no flag: uploads are hashed and thrown away", "args": [], "config": {"keep_image_data": False}},
    "NoPublicImages": {"reason": "--no-public-images hides the catalogue", "args": ["--no-public-images"], "config": {"public_images": False}},
    "PublicImagesByDefault": {"reason": "no flag: every project sees the catalogue", "args": [], "config": {"public_images": True}},
}
# fmt: on


@pytest.mark.parametrize("case", FLAGS.values(), ids=FLAGS.keys())
def test_command_line_switches_set_the_config(case: dict[str, Any]) -> None:
    with Emulator.start(None, *case["args"]) as emu:
        config = requests.get(emu.url + "/_emulator/config", timeout=10).json()
        assert {k: config[k] for k in case["config"]} == case["config"], case["reason"]


# fmt: off
SWITCHES: dict[str, dict[str, Any]] = {
    "Name255": {"reason": "the longer documented name limit", "config": {"name_max_length": 255}, "call": ("POST", "/v2/images", {"name": "n" * 200}), "want": (201, None)},
    "Name255StillLimited": {"reason": "256 is too long even then", "config": {"name_max_length": 255}, "call": ("POST", "/v2/images", {"name": "n" * 256}), "want": (400, "IMG.0002")},
    "ProtectedDelete400": {"reason": "the IMS error table's status", "config": {"protected_delete_status": 400}, "call": ("DELETE", "{protected}", None), "want": (400, "IMG.0028")},
    "DeleteUnknown204": {"reason": "real IMS may answer 204", "config": {"delete_unknown_204": True}, "call": ("DELETE", "/v2/images/3f6a2335-69a9-437d-8322-d87e4600f516", None), "want": (204, None)},
    "TagEquals": {"reason": "key=value through the tag path", "config": {"tag_api_allow_equals": True}, "call": ("PUT", "{protected}/tags/k%3Dv", None), "want": (204, None)},
    "TagEqualsStillValidated": {"reason": "an empty key is still invalid", "config": {"tag_api_allow_equals": True}, "call": ("PUT", "{protected}/tags/%3Dv", None), "want": (400, "IMG.0115")},
    "LenientCreate": {"reason": "custom attributes on create", "config": {"lenient_create": True}, "call": ("POST", "/v2/images", {"k": "v"}), "want": (201, None)},
    "LenientPatch": {"reason": "IMS attributes as custom ones", "config": {"lenient_patch": True}, "call": ("PATCH", "{protected}", None), "want": (200, None)},
    "LenientList": {"reason": "any attribute as a filter", "config": {"lenient_list": True}, "call": ("GET", "/v2/images", None), "params": {"k": "v"}, "want": (200, None)},
    "MemberLimitZero": {"reason": "member_limit 0: no image can be shared (IMG.0088)", "config": {"member_limit": 0}, "call": ("POST", "{protected}/members", {"member": "e5" * 16}), "want": (400, "IMG.0088")},
    "MemberLimitOne": {"reason": "member_limit 1: the first member fits", "config": {"member_limit": 1}, "call": ("POST", "{protected}/members", {"member": "e5" * 16}), "want": (200, None)},
}
# fmt: on


@pytest.mark.parametrize("case", SWITCHES.values(), ids=SWITCHES.keys())
def test_runtime_switches(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    protected = api.create(protected=True)
    emu.configure(**case["config"])
    method, path, body = case["call"]
    path = path.replace("{protected}", f"/v2/images/{protected['id']}")
    if method == "PATCH":
        response = api.patch(path, [{"op": "add", "path": "/__support_kvm", "value": "true"}])
    else:
        response = api.request(method, path, json=body, params=case.get("params", ()))
    status, code = case["want"]
    assert response.status_code == status, f"{case['reason']}: {response.text}"
    if code:
        assert error_code(response) == code, case["reason"]


def test_emulator_exits_when_its_parent_dies(tmp_path: Path) -> None:
    script = (
        "import time; from ims_emulator.process import Emulator;"
        "emu = Emulator.start(); print(emu.process.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()  # SIGKILL: the helper gets no chance to stop the emulator
    parent.wait()
    child.wait(timeout=10)  # raises if the orphan is still serving (its exit code is not ours to read)
    assert not child.is_running()
