"""The ``half_commit`` fault (issue 23): a create stores the image without its tags and answers 5xx,
the shape real Glance shows when its separate tag transaction fails."""

from __future__ import annotations

from typing import Any

import pytest

from ims_emulator.faults import FaultError, FaultRule
from ims_emulator.process import Emulator
from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract


def test_the_image_is_stored_without_its_tags_and_the_answer_is_a_5xx(api: Api, emu: Emulator) -> None:
    emu.set_faults([{"kind": "half_commit", "count": 1}])
    response = api.post("/v2/images", json={"name": "half", "tags": ["team=a", "pulumi-create-token=t"]})
    assert (response.status_code, error_code(response)) == (500, "EMU.FAULT")
    (image,) = emu.images()
    assert (image["name"], image["tags"], image["status"]) == ("half", [], "queued")
    assert emu.stats()["faults"] == {"half_commit": 1}
    again = api.post("/v2/images", json={"name": "whole", "tags": ["team=a"]})
    assert again.status_code == 201 and again.json()["tags"] == ["team=a"], "the count is used up"


def test_only_creates_are_affected(api: Api, emu: Emulator) -> None:
    image = api.create(name="x")
    emu.set_faults([{"kind": "half_commit"}])
    assert api.get(f"/v2/images/{image['id']}").status_code == 200
    assert api.patch(f"/v2/images/{image['id']}", [{"op": "replace", "path": "/name", "value": "y"}]).status_code == 200


@pytest.mark.parametrize(("rule", "reason"), [
    ({"kind": "half_commit", "status": 404}, "a half-commit answers a server error"),
    ({"kind": "half_commit", "rate": 2}, "a rate is a probability"),
])
def test_malformed_rules_are_refused(rule: dict[str, Any], reason: str) -> None:
    with pytest.raises(FaultError):
        FaultRule.from_dict(rule)


def test_the_cli_form() -> None:
    rule = FaultRule.from_cli("half_commit:method=POST,path=/v2/images,rate=0.3,status=503")
    assert rule.as_dict() == {"kind": "half_commit", "status": 503, "method": "POST", "path": "/v2/images",
                              "rate": 0.3}
