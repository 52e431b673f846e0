"""The PR summary quotes inputs without letting them shape the comment (issue 24), and a replacement
says what it deletes and who loses access (issue 22).

Issue 24: a resource name or property key with a newline and Markdown (``\\n\\n## Approved ✅``, an
``<img>`` tag) became a live heading or image in the comment. Each case below puts one payload in
one place the summary quotes, renders, and checks the structure of the comment: every line is one
the renderer writes, and outside code spans and the fenced block no payload is left.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ims_preview_summary import render, summarize
from ims_preview_summary.render import code, neutral

pytestmark = [pytest.mark.unit]

TYPE = "pulumi-python:dynamic/ims:ImageMetadata"
MEMBER_TYPE = "pulumi-python:dynamic/ims:ImageMember"
STACK_URN = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"


def urn(name: str, type_: str = TYPE) -> str:
    return f"urn:pulumi:dev::proj::{type_}::{name}"


def step(op: str, name: str, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None, *,
         type_: str = TYPE, id_: str = "img-42", reasons: list[str] | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"op": op, "urn": urn(name, type_)}
    if old is not None:
        s["oldState"] = {"urn": urn(name, type_), "type": type_, "id": id_, "inputs": old}
    if new is not None:
        s["newState"] = {"urn": urn(name, type_), "type": type_, "inputs": new}
    if reasons is not None:
        s["replaceReasons"] = reasons
    return s


def doc(*steps: dict[str, Any], diagnostics: list[dict[str, Any]] | None = None,
        totals: dict[str, int] | None = None) -> dict[str, Any]:
    return {"steps": [{"op": "same", "urn": STACK_URN}, *steps], "changeSummary": totals or {"update": 1},
            "diagnostics": diagnostics or []}


def _strip_code_spans(line: str) -> str:
    """The line without its code spans (CommonMark: a run of n backticks up to the next run of exactly n)."""
    out, i = [], 0
    while i < len(line):
        run = re.match(r"`+", line[i:])
        if run is None:
            out.append(line[i])
            i += 1
            continue
        fence = run.group()
        close = re.compile(rf"(?<!`){fence}(?!`)")
        end = close.search(line, i + len(fence))
        if end is None:  # an unmatched run is literal text
            out.append(fence)
            i += len(fence)
        else:
            i = end.end()
    return "".join(out)


#: Lines the renderer writes (outside the fenced block of diagnostics).
_LINE = re.compile(r"(\*\*|- `|  - |- … |No changes\.|Pulumi preview|T|$)")


def outside_code(markdown: str) -> list[str]:
    """Every line's text outside code spans, and outside the fenced block; asserts the line shapes."""
    lines = markdown.split("\n")
    out: list[str] = []
    fence: str | None = None
    for number, line in enumerate(lines):
        if number == 0 and line.startswith("### "):
            line = line[4:]  # the title heading, the one heading the renderer writes
        if fence is not None:
            if line == fence:
                fence = None
            continue
        opening = re.fullmatch(r"(`{3,})text", line)
        if opening:
            fence = opening.group(1)
            continue
        assert _LINE.match(line), f"a line the renderer does not write: {line!r}\n{markdown}"
        out.append(_strip_code_spans(line))
    assert fence is None, "the fenced block is closed"
    return out


PAYLOADS = [
    # (reason, payload)
    ("a blank line and a heading: would start a live '## Approved ✅' heading", "x\n\n## Approved ✅"),
    ("one newline is enough: a heading interrupts a paragraph", "x\n# LGTM"),
    ("a carriage return also ends a line", "x\r## Approved"),
    ("an HTML image tag: live outside a code span", "<img src=x onerror=alert(1)>"),
    ("an HTML comment that would hide the rest of the comment", "<!-- hidden"),
    ("a pipe and a delimiter row: a table needs a new line, which no input can start", "a | b |\n|---|---|"),
    ("backticks that would close the code span early", "``` `x` ``"),
    ("a Markdown link", "[click](http://evil.example)"),
    ("a Markdown image", "![x](http://evil.example/i.png)"),
    ("an ANSI colour sequence", "\x1b[31mred\x1b[0m"),
    ("an OSC 8 terminal hyperlink", "\x1b]8;;http://evil.example\x07link\x1b]8;;\x07"),
    ("a C1 control (NEL, U+0085) that some renderers treat as a line break", "a\x85## b"),
    ("a line separator (U+2028)", "a\u2028## b"),
    ("a right-to-left override that shows other text than it is", "abc\u202edcba"),
]

_LIVE = re.compile(r"<|\]\(|^\s*#|\|---|\x1b|[\x80-\x9f]|\u2028|\u202e|\r")


def _check(markdown: str, reason: str) -> None:
    for text in outside_code(markdown):
        assert not _LIVE.search(text), f"{reason}: live outside code: {text!r}\n{markdown}"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", markdown), \
        f"{reason}: a raw control or format character in the comment\n{markdown!r}"


@pytest.mark.parametrize(("reason", "payload"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_a_resource_name_cannot_shape_the_comment(reason: str, payload: str) -> None:
    markdown = render(summarize(doc(step("update", payload, {"name": "a"}, {"name": "b"}))))
    _check(markdown, reason)
    assert code(payload) in markdown, "the name is still shown, escaped"


@pytest.mark.parametrize(("reason", "payload"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_property_keys_and_values_cannot_shape_the_comment(reason: str, payload: str) -> None:
    old = {"name": "a", "properties": {payload: "old", "k": payload}}
    new = {"name": "a", "properties": {payload: payload, "k": "v", "added" + payload: "1"}}
    _check(render(summarize(doc(step("update", "web", old, new)))), reason)
    _check(render(summarize(doc(step("create", "web", new=new), totals={"create": 1}))), reason)


@pytest.mark.parametrize(("reason", "payload"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_messages_stay_in_their_fenced_block(reason: str, payload: str) -> None:
    diagnostics = [{"severity": "error", "message": f"error: {payload}\n```\n## Approved\n```", "urn": urn(payload)},
                   {"severity": "warning", "message": payload}]
    markdown = render(summarize(doc(step("update", "web", {"name": "a"}, {"name": "b"}), diagnostics=diagnostics)))
    _check(markdown, reason)


@pytest.mark.parametrize(("reason", "payload"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_types_ids_reasons_and_totals_cannot_shape_the_comment(reason: str, payload: str) -> None:
    replaced = step("replace", "web", {"name": "a", payload: "1"}, {"name": "b", payload: "2"}, type_=payload,
                    id_=payload, reasons=[payload])
    markdown = render(summarize(doc(replaced, totals={"replace": 1, payload: 2})), title=f"T{payload}",
                      marker=f"m{payload}")
    assert markdown.count("\n### ") == 0 and markdown.startswith("### T"), "the title stays one heading line"
    _check(markdown.split("\n", 1)[1], reason)  # the title line is Markdown the workflow writes


def test_plain_types_are_shown_as_they_are_and_others_as_code() -> None:
    markdown = render(summarize(doc(step("update", "a", {"name": "a"}, {"name": "b"}, type_="my:pkg/mod:Thing"),
                                    step("update", "b", {"name": "a"}, {"name": "b"}, type_="http://evil.example"))))
    assert "(my:pkg/mod:Thing)" in markdown
    assert "(`http://evil.example`)" in markdown, "GitHub would link it outside code"


NEUTRAL = [
    # (reason, text, shown)
    ("a newline is written \\n", "a\nb", "a\\nb"),
    ("ESC is written \\x1b", "\x1b[31m", "\\x1b[31m"),
    ("a bidi override is written \\u202e", "\u202e", "\\u202e"),
    ("printable text, non-ASCII and emoji stay", "équipe 镜像 👩\u200d💻", "équipe 镜像 👩\\u200d💻"),
]


@pytest.mark.parametrize(("reason", "text", "shown"), NEUTRAL, ids=[c[0] for c in NEUTRAL])
def test_neutral(reason: str, text: str, shown: str) -> None:
    assert neutral(text) == shown, reason


# --- replacements: what is deleted, who loses access (issue 22) ---------------------------------------


def _sharing_preview(member_op: str = "replace") -> dict[str, Any]:
    image_old = {"name": "base", "disk_format": "qcow2"}
    image_new = {"name": "base", "disk_format": "raw"}
    share_b = {"image_id": "img-42", "member_id": "project-b"}
    share_c = {"image_id": "img-42", "member_id": "project-c"}
    other = {"image_id": "img-7", "member_id": "project-d"}
    return doc(
        step("replace", "base", image_old, image_new, reasons=["disk_format"]),
        step(member_op, "share-b", share_b, {**share_b, "image_id": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
             type_=MEMBER_TYPE, id_="img-42/project-b", reasons=["image_id"]),
        step("same", "share-c", share_c, share_c, type_=MEMBER_TYPE, id_="img-42/project-c"),
        step("same", "share-other", other, other, type_=MEMBER_TYPE, id_="img-7/project-d"),
        totals={"replace": 2, "same": 2},
    )


REPLACEMENTS = [
    # (reason, preview, present, absent)
    ("a replaced image says it is deleted and recreated with a new id",
     doc(step("replace", "base", {"name": "a", "disk_format": "qcow2"}, {"name": "a", "disk_format": "raw"},
              reasons=["disk_format"]), totals={"replace": 1}),
     ["  - ⚠️ the image is deleted and recreated with a new id (id `img-42` stops existing)"],
     ["lose access"]),
    ("the members the stack declares for that image are named, with their projects",
     _sharing_preview(),
     ["  - ⚠️ members that lose access to `img-42`: `share-b` (project `project-b`); replaced too: shared again "
      "with the new id, to be accepted again, `share-c` (project `project-c`)"],
     ["share-other", "project-d"]),
    ("a member the preview leaves alone still loses access: it points at the old id",
     _sharing_preview(member_op="same"),
     ["`share-b` (project `project-b`), `share-c` (project `project-c`)"],
     ["replaced too"]),
    ("another type: the same warning in general words",
     doc(step("replace", "share", {"image_id": "a", "member_id": "p"}, {"image_id": "b", "member_id": "p"},
              type_=MEMBER_TYPE, id_="a/p", reasons=["image_id"]), totals={"replace": 1}),
     ["  - ⚠️ it is deleted and recreated with a new id (id `a/p` stops existing)"],
     ["members that lose access"]),
]


@pytest.mark.parametrize(("reason", "preview", "present", "absent"), REPLACEMENTS, ids=[c[0] for c in REPLACEMENTS])
def test_replacements_say_what_is_lost(reason: str, preview: dict[str, Any], present: list[str],
                                       absent: list[str]) -> None:
    markdown = render(summarize(preview))
    for text in present:
        assert text in markdown, f"{reason}: missing {text!r}\n{markdown}"
    for text in absent:
        assert text not in markdown, f"{reason}: unexpected {text!r}\n{markdown}"
    outside_code(markdown)
