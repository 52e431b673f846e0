"""Fault injection (API and CLI) and the stats counters."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import requests

from harness import REPO_ROOT
from ims_emulator import DEMO_PROJECT_ID
from ims_emulator.process import Emulator
from tests.support.emulator_client import CONTROL, Api, error_code

pytestmark = pytest.mark.contract

UNKNOWN = "/v2/images/3f6a2335-69a9-437d-8322-d87e4600f516"


def test_error_fault_answers_before_the_store(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "error", "status": 500, "count": 2}])
    for _ in range(2):
        response = api.post("/v2/images", json={"name": "x"})
        assert (response.status_code, error_code(response)) == (500, "EMU.FAULT")
    assert emu.images() == [], "nothing was stored"
    assert api.post("/v2/images", json={}).status_code == 201, "the count is used up"
    assert emu.faults() == [{"kind": "error", "status": 500, "count": 0}]


def test_throttle_fault(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "throttle", "retry_after": 3}])
    response = api.get("/v2/images")
    assert (response.status_code, error_code(response)) == (429, "APIGW.0308")
    assert response.headers["Retry-After"] == "3"


def test_latency_fault(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "latency", "ms": 300, "jitter_ms": 50, "path": "/v2/images/{id}"}])
    started = time.monotonic()
    assert api.get(UNKNOWN).status_code == 404
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    api.get("/v2/images")
    assert time.monotonic() - started < 0.25, "other routes are not slowed down"


def test_latency_does_not_block_other_requests(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "latency", "ms": 1500, "method": "POST"}])
    slow = threading.Thread(target=lambda: api.post("/v2/images", json={}))
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert Api(emu.url).get("/v2/images").status_code == 200
    assert time.monotonic() - started < 0.5, "latency is an asyncio.sleep, not a blocked loop"
    slow.join()


def test_reset_fault_closes_without_processing(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "reset", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.post("/v2/images", json={})
    assert emu.images() == []
    assert emu.stats()["responses"] == {}, "no response was produced"
    assert api.post("/v2/images", json={}).status_code == 201


def test_drop_response_commits_then_closes(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "drop_response", "method": "POST", "path": "/v2/images", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        api.post("/v2/images", json={"name": "lost-response"})
    assert [i["name"] for i in emu.images()] == ["lost-response"], "the create was committed"
    stats = emu.stats()
    assert stats["responses"]["POST /v2/images 201"] == 1
    assert stats["faults"] == {"drop_response": 1}


def test_forbidden_fault(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "forbidden", "rate": 1.0}])
    response = api.get("/v2/images")
    assert (response.status_code, error_code(response)) == (403, "IMG.0026")


def test_forbidden_comes_after_authentication(emu: Emulator) -> None:
    emu.set_faults([{"kind": "forbidden"}])
    assert Api(emu.url, token="nobody").get("/v2/images").status_code == 401


def test_unique_names_fault(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "unique_names"}])
    first = api.create(name="dup")
    response = api.post("/v2/images", json={"name": "dup"})
    assert (response.status_code, error_code(response)) == (400, "IMG.0009")
    other = api.create(name="other")
    rename = api.patch(f"/v2/images/{other['id']}", [{"op": "replace", "path": "/name", "value": "dup"}])
    assert (rename.status_code, error_code(rename)) == (400, "IMG.0009"), "renames are checked too"
    same = api.patch(f"/v2/images/{first['id']}", [{"op": "replace", "path": "/name", "value": "dup"}])
    assert same.status_code == 200, "keeping one's own name is fine"
    emu.clear_faults()
    assert api.post("/v2/images", json={"name": "dup"}).status_code == 201, "Glance allows duplicates by default"


def test_quota_fault(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "quota", "limit": 1}])
    api.create()
    response = api.post("/v2/images", json={})
    assert (response.status_code, error_code(response)) == (400, "IMG.0015")
    assert api.get("/v1/cloudimages/quota").json()["quotas"]["resources"][0]["quota"] == 1


# fmt: off
MATCHING: dict[str, dict[str, Any]] = {
    "Template": {"reason": "a route template matches its route", "rule": {"path": "/v2/images/{id}"}, "hit": "GET " + UNKNOWN, "miss": "GET /v2/images"},
    "ExactPath": {"reason": "an exact path", "rule": {"path": "/v2/images"}, "hit": "GET /v2/images", "miss": "GET " + UNKNOWN},
    "Prefix": {"reason": "a trailing * is a prefix", "rule": {"path": "/v1/*"}, "hit": "GET /v1/cloudimages/quota", "miss": "GET /v2/images"},
    "Method": {"reason": "method narrows the rule", "rule": {"method": "delete"}, "hit": "DELETE " + UNKNOWN, "miss": "GET " + UNKNOWN},
}
# fmt: on


@pytest.mark.parametrize("case", MATCHING.values(), ids=MATCHING.keys())
def test_rule_matching(api: Api, emu: Emulator, case: dict[str, Any]) -> None:
    emu.set_faults([{"kind": "error", "status": 503, **case["rule"]}])
    hit_method, hit_path = case["hit"].split(" ")
    miss_method, miss_path = case["miss"].split(" ")
    assert api.request(hit_method, hit_path).status_code == 503, case["reason"]
    assert api.request(miss_method, miss_path).status_code != 503, case["reason"]


def _statuses(api: Api, emu: Emulator, seed: int) -> list[int]:
    emu.set_faults([{"kind": "error", "status": 503, "rate": 0.5}], seed=seed)
    return [api.get("/v2/images").status_code for _ in range(20)]


def test_rate_with_seed_is_reproducible(api: Api, emu: Emulator) -> None:
    first = _statuses(api, emu, seed=7)
    assert first == _statuses(api, emu, seed=7)
    assert 0 < first.count(503) < 20


INVALID_RULES = {
    "UnknownKind": {"reason": "kinds are fixed", "rule": {"kind": "explode"}},
    "UnknownParameter": {"reason": "parameters depend on the kind", "rule": {"kind": "reset", "status": 500}},
    "Rate": {"reason": "rate in 0..1", "rule": {"kind": "error", "rate": 2}},
    "Status": {"reason": "errors are 5xx", "rule": {"kind": "error", "status": 404}},
    "Count": {"reason": "count is a non-negative integer", "rule": {"kind": "reset", "count": -1}},
    "Path": {"reason": "paths start with /", "rule": {"kind": "reset", "path": "v2/images"}},
}


@pytest.mark.parametrize("case", INVALID_RULES.values(), ids=INVALID_RULES.keys())
def test_invalid_rules_are_400(emu: Emulator, case: dict[str, Any]) -> None:
    response = requests.post(emu.url + "/_emulator/faults", json={"rules": [case["rule"]]}, headers=CONTROL, timeout=10)
    assert response.status_code == 400, case["reason"]
    assert emu.faults() == []


def test_faults_from_the_command_line() -> None:
    args = [
        "--fault",
        "error:status=500,count=1,method=POST",
        "--fault",
        "throttle:path=/v1/*,retry_after=2",
        "--fault-seed",
        "3",
    ]
    with Emulator.start(None, *args) as emu:
        api = Api(emu.url)
        assert api.post("/v2/images", json={}).status_code == 500
        assert api.post("/v2/images", json={}).status_code == 201
        assert api.get("/v1/cloudimages/quota").headers["Retry-After"] == "2"
        assert emu.faults()[1] == {"kind": "throttle", "retry_after": 2, "path": "/v1/*"}


def test_bad_command_line_fault_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--fault", "explode"], cwd=REPO_ROOT, capture_output=True, timeout=30
    )
    assert result.returncode == 2 and b"unknown fault kind" in result.stderr


def test_stats_count_every_request(api: Api, emu: Emulator) -> None:
    image = api.create()
    api.get(f"/v2/images/{image['id']}")
    api.get(UNKNOWN)
    api.patch(f"/v2/images/{image['id']}", [{"op": "add", "path": "/k", "value": "v"}])
    Api(emu.url, token="bad").get("/v2/images")
    emu.set_faults([{"kind": "throttle", "count": 1}])
    api.delete(f"/v2/images/{image['id']}")
    emu.health()
    stats = emu.stats()
    assert stats["requests"] == {
        "POST /v2/images": 1,
        "GET /v2/images/{id}": 2,
        "PATCH /v2/images/{id}": 1,
        "GET /v2/images": 1,
        "DELETE /v2/images/{id}": 1,
    }
    assert stats["responses"] == {
        "POST /v2/images 201": 1,
        "GET /v2/images/{id} 200": 1,
        "GET /v2/images/{id} 404": 1,
        "PATCH /v2/images/{id} 200": 1,
        "GET /v2/images 401": 1,
        "DELETE /v2/images/{id} 429": 1,
    }
    assert stats["faults"] == {"throttle": 1}
    assert stats["writes"] == 3
    assert stats["images"] == {DEMO_PROJECT_ID: 1}
    emu.reset_stats()
    assert emu.stats() == {"requests": {}, "responses": {}, "faults": {}, "images": {DEMO_PROJECT_ID: 1}, "writes": 0}


def test_runtime_config(emu: Emulator) -> None:
    config = emu.configure(unique_names=True, name_max_length=255)
    assert config["unique_names"] is True and config["name_max_length"] == 255
    for bad in ({"name_max_length": 200}, {"quota": -1}, {"member_limit": -1}, {"member_limit": "256"}, {"unique_names": "yes"}, {"nothing": 1}):
        response = requests.patch(emu.url + "/_emulator/config", json=bad, headers=CONTROL, timeout=10)
        assert response.status_code == 400, bad
    emu.reset()
    assert emu.configure()["unique_names"] is False, "reset restores the start-up settings"
