"""Property keys as JSON Pointers (RFC 6901) and inputs that could rewrite what a reviewer sees.

Issue 24: the PATCH path was ``/{key}``, so a key with ``/`` failed at ``up`` (``400 Invalid JSON
pointer``) and a key with ``~0``/``~1`` was stored under another name (every preview showed an
update). And check accepted control characters (``\\x1b[31m``: ANSI colours in ``pulumi preview
--diff``; ``\\n``: a line of its own) in keys, names, tags and values.
"""

from __future__ import annotations

from typing import Any

import pytest

from ims_pulumi.core.errors import BadRequest
from ims_pulumi.core.framework import json_patch, json_pointer
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.profiles import GLANCE, IMS, ServerProfile
from ims_pulumi.core.sharing import IMAGE_MEMBER

pytestmark = pytest.mark.unit

POINTERS = [
    # (reason, key, pointer)
    ("a plain key is unchanged", "team", "/team"),
    ("'/' is written ~1, else it would name a nested attribute", "a/b", "/a~1b"),
    ("'~' is written ~0", "a~b", "/a~0b"),
    ("a key that looks like an escape keeps its ~ (escaped first, RFC 6901 order)", "a~1", "/a~01"),
    ("both, in one key", "~/", "/~0~1"),
    ("spaces need no escape", "build id", "/build id"),
    ("non-ASCII needs no escape (the body is UTF-8 JSON)", "équipe-镜像", "/équipe-镜像"),
]


def decode(pointer: str) -> list[str]:
    """RFC 6901 decoding, as Glance does it (split at '/', then ~1 -> '/', then ~0 -> '~')."""
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


@pytest.mark.parametrize(("reason", "key", "pointer"), POINTERS, ids=[c[0] for c in POINTERS])
def test_every_key_is_one_escaped_pointer_token(reason: str, key: str, pointer: str) -> None:
    assert json_pointer(key) == pointer, reason
    assert decode(pointer) == [key], "decodes back to the key, as one token"


@pytest.mark.parametrize("profile", [IMS, GLANCE], ids=["ims", "glance"])
def test_the_patch_body_escapes_property_keys(profile: ServerProfile) -> None:
    """The operations a property change sends: add, replace and remove, each with an escaped path."""
    old = {"name": "x", "properties": {"a/b": "1", "a~b": "2", "gone/key": "3"}}
    new = {"name": "x", "properties": {"a/b": "9", "a~b": "2", "new~1": "4", "build id": "5", "équipe": "6"}}
    keys = IMAGE_METADATA.managed_keys(profile, old, new)
    ops = json_patch(IMAGE_METADATA.patch_body(old, profile), IMAGE_METADATA.patch_body(new, profile), keys)
    assert sorted(ops, key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/a~1b", "value": "9"},
        {"op": "add", "path": "/build id", "value": "5"},
        {"op": "remove", "path": "/gone~1key"},
        {"op": "add", "path": "/new~01", "value": "4"},
        {"op": "add", "path": "/équipe", "value": "6"},
    ]


def failures(inputs: dict[str, Any], profile: ServerProfile = IMS) -> list[tuple[str, str]]:
    _, found = IMAGE_METADATA.check({}, {"name": "img", **inputs}, profile)
    return [(f.property, f.reason) for f in found]


REFUSED = [
    # (reason, inputs, failing field)
    ("ANSI colour in a key: `pulumi preview --diff` would print it raw", {"properties": {"\x1b[31mred": "x"}},
     "properties"),
    ("a newline in a key: a line of its own in the CLI and the PR comment", {"properties": {"a\n\n## Approved": "x"}},
     "properties"),
    ("a tab in a key", {"properties": {"a\tb": "x"}}, "properties"),
    ("DEL in a key", {"properties": {"a\x7fb": "x"}}, "properties"),
    ("a C1 control (CSI, U+009B) in a key: the 8-bit start of an escape sequence", {"properties": {"a\x9b31m": "x"}},
     "properties"),
    ("a right-to-left override in a key: shows another text than it is", {"properties": {"a\u202eb": "x"}},
     "properties"),
    ("a line separator (U+2028) in a key", {"properties": {"a\u2028b": "x"}}, "properties"),
    ("a leading space in a key: Glance strips it from the PATCH path and stores another key",
     {"properties": {" team": "x"}}, "properties"),
    ("a trailing space in a key, likewise", {"properties": {"team ": "x"}}, "properties"),
    ("ESC in a value", {"properties": {"team": "\x1b[2J"}}, "properties"),
    ("a carriage return in a value: rewrites the terminal line", {"properties": {"team": "ok\rEVIL"}}, "properties"),
    ("ESC in the name (Glance allows any character in names)", {"name": "a\x1b[31m"}, "name"),
    ("a newline in a tag: tags go into URL paths and comments", {"tags": ["a=b\nc"]}, "tags"),
    ("ESC in the description", {"description": "x\x1b]8;;http://evil\x07"}, "description"),
]


@pytest.mark.parametrize(("reason", "inputs", "field"), REFUSED, ids=[c[0] for c in REFUSED])
@pytest.mark.parametrize("profile", [IMS, GLANCE], ids=["ims", "glance"])
def test_check_refuses_characters_that_rewrite_the_output(reason: str, inputs: dict[str, Any], field: str,
                                                           profile: ServerProfile) -> None:
    found = failures(inputs, profile)
    assert [f for f, _ in found] == [field], f"{reason}: {found}"
    message = found[0][1]
    assert "\n" not in message and "\x1b" not in message and "\r" not in message, "the message is one neutral line"
    assert all(c.isprintable() for c in message), f"the message quotes the value escaped: {message!r}"


ACCEPTED = [
    # (reason, inputs)
    ("'/' and '~' in keys are sent escaped", {"properties": {"a/b": "1", "a~b": "2", "x~1": "3"}}),
    ("spaces inside a key", {"properties": {"build id": "1"}}),
    ("non-ASCII keys and values", {"properties": {"équipe": "données", "镜像": "值"}}),
    ("an emoji with a zero-width joiner in a value", {"properties": {"team": "👩\u200d💻"}}),
    ("tabs and newlines in a value are prose", {"properties": {"notes": "line 1\n\tline 2"}}),
    ("newlines in the description", {"description": "line 1\nline 2"}),
]


@pytest.mark.parametrize(("reason", "inputs"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_check_accepts_printable_text(reason: str, inputs: dict[str, Any]) -> None:
    assert failures(inputs, GLANCE) == [], reason


QUOTED = [
    # (reason, inputs, whether the CLI may print the value next to the message)
    ("ESC in a key: the CLI would print the raw value, so the failure names no property", {"properties": {"\x1b[31m": "x"}},
     False),
    ("a newline in a tag: likewise", {"tags": ["a=b\nc"]}, False),
    ("a key with a leading space prints as itself", {"properties": {" team": "x"}}, True),
    ("an ordinary refusal keeps its property", {"name": "n" * 300}, True),
    ("an unknown input named with an escape sequence", {"\x1b[2Jx": "1"}, False),
]


@pytest.mark.parametrize(("reason", "inputs", "quote"), QUOTED, ids=[c[0] for c in QUOTED])
def test_values_that_would_not_print_as_themselves_are_left_to_the_message(reason: str, inputs: dict[str, Any],
                                                                           quote: bool) -> None:
    _, found = IMAGE_METADATA.check({}, {"name": "img", **inputs}, GLANCE)
    assert [f.quote for f in found] == [quote], reason


SERVER_MESSAGES = [
    # (reason, message the server sent, what the error shows)
    ("a server echoing an ANSI sequence it was sent", "Attribute '\x1b[31mred' is bad", "Attribute '\\x1b[31mred' is bad"),
    ("a multi-line message (an HTML error page of a proxy) stays on one line", "line 1\nline 2", "line 1\\nline 2"),
    ("a bidirectional override", "a\u202eb", "a\\u202eb"),
    ("printable non-ASCII text is kept", "镜像 'équipe' invalide", "镜像 'équipe' invalide"),
]


@pytest.mark.parametrize(("reason", "message", "shown"), SERVER_MESSAGES, ids=[c[0] for c in SERVER_MESSAGES])
def test_server_messages_are_printable_in_errors(reason: str, message: str, shown: str) -> None:
    text = str(BadRequest(operation="update image x", status=400, code="IMG.0001", message=message))
    assert text == f"update image x failed: HTTP 400 IMG.0001: {shown}", reason


def test_a_member_id_with_an_escape_sequence_is_refused_on_glance() -> None:
    """Glance takes any member id (IMS wants 32 hex characters): it would reach URL paths and the CLI's diff raw."""
    _, found = IMAGE_MEMBER.check({}, {"image_id": "img-1", "member_id": "proj\x1b[31m"}, GLANCE)
    assert [(f.property, f.quote) for f in found] == [("member_id", False)]
    assert "'proj\\x1b[31m'" in found[0].reason
