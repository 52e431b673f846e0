"""PATCH paths are RFC 6901 JSON Pointers: the emulator decodes ``~1`` and ``~0`` and refuses a
``~`` that is no escape, as Glance does (``Pointer ... contains "~" not part of a recognized escape
sequence``, 400). Issue 24: keys with ``/`` and ``~`` must reach the server as the keys they are.
"""

from __future__ import annotations

from typing import Any

import pytest

from ims_emulator.process import Emulator
from tests.support.emulator_client import Api, error_code

pytestmark = pytest.mark.contract

STORED = [
    # (reason, path, key stored)
    ("~1 is '/'", "/a~1b", "a/b"),
    ("~0 is '~'", "/a~0b", "a~b"),
    ("~01 is '~1' (decoded ~1 first, then ~0: never '/')", "/a~01", "a~1"),
    ("~10 is '/0'", "/a~10", "a/0"),
    ("a space is itself", "/build id", "build id"),
    ("non-ASCII is itself", "/équipe-镜像", "équipe-镜像"),
]


@pytest.mark.parametrize(("reason", "path", "key"), STORED, ids=[c[0] for c in STORED])
def test_escaped_pointers_name_the_decoded_key(api: Api, emu: Emulator, reason: str, path: str, key: str) -> None:
    image = api.create(name="p")
    response = api.patch(f"/v2/images/{image['id']}", [{"op": "add", "path": path, "value": "v"}])
    assert response.status_code == 200, f"{reason}: {response.text}"
    (stored,) = emu.images()
    assert stored[key] == "v", reason
    removed = api.patch(f"/v2/images/{image['id']}", [{"op": "remove", "path": path}])
    assert removed.status_code == 200 and key not in emu.images()[0], "the same pointer removes it"


REFUSED = [
    # (reason, path)
    ("~2 is no escape", "/a~2b"),
    ("a trailing ~ is no escape", "/a~"),
    ("~ followed by a letter", "/~x"),
    ("an unescaped '/' names a nested attribute, which custom attributes are not", "/a/b"),
    ("spaces around the token: Glance strips them and changes another attribute (tests/glance)", "/ team "),
]


@pytest.mark.parametrize(("reason", "path"), REFUSED, ids=[c[0] for c in REFUSED])
def test_invalid_pointers_are_a_400_and_change_nothing(api: Api, emu: Emulator, reason: str, path: str) -> None:
    image = api.create(name="p")
    response = api.patch(f"/v2/images/{image['id']}", [{"op": "add", "path": path, "value": "v"}])
    assert response.status_code == 400, f"{reason}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    assert error_code(response) == "IMG.0001" and "Invalid JSON pointer" in body["error"]["message"], reason
    assert emu.images()[0] == image, "a refused PATCH changes nothing"
