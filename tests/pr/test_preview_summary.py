"""``preview_summary``: pure functions and the thin CLI, on hand-made preview documents.

The documents have the shape the real CLI prints (see test_preview_summary_e2e.py, which
feeds it real ``pulumi preview --json`` output): ``steps[].op/urn/oldState/newState``,
``replaceReasons``, ``changeSummary`` and ``diagnostics``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ims_preview_summary import (
    MISSING,
    FieldChange,
    PreviewError,
    diff_inputs,
    markdown_from_text,
    parse_preview,
    render,
    summarize,
)
from ims_preview_summary.__main__ import main
from ims_preview_summary.model import SECRET_SIG, SECRET_SIG_KEY, UNKNOWN_TEXT, urn_parts
from ims_preview_summary.render import MAX_CHARS, code, describe, list_diff, map_diff, totals_line

pytestmark = [pytest.mark.unit]

REPO = Path(__file__).resolve().parents[2]
TYPE = "pulumi-python:dynamic/ims:ImageMetadata"
STACK_URN = "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev"


def urn(name: str, type_: str = TYPE) -> str:
    return f"urn:pulumi:dev::proj::{type_}::{name}"


def inputs(**values: Any) -> dict[str, Any]:
    """Inputs as the provider's check() stores them, with the engine's and the bookkeeping keys."""
    base = {"__provider": "gASVNwAAAAAAAACM", "create_token": "0123abcd", "name": "img", "disk_format": "qcow2",
            "tags": [], "properties": {}, "description": "", "protected": False, "min_disk": 0}
    base.update(values)
    return base


def step(op: str, name: str, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None,
         reasons: list[str] | None = None, id_: str = "id-1") -> dict[str, Any]:
    s: dict[str, Any] = {"op": op, "urn": urn(name), "detailedDiff": None}
    if old is not None:
        s["oldState"] = {"urn": urn(name), "type": TYPE, "id": id_, "inputs": old, "outputs": {**old, "id": id_}}
    if new is not None:
        s["newState"] = {"urn": urn(name), "type": TYPE, "inputs": new}
    if reasons is not None:
        s["replaceReasons"] = reasons
    return s


def doc(*steps: dict[str, Any], totals: dict[str, int] | None = None,
        diagnostics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"config": {"ims:accessKey": "[secret]"},
                         "steps": [{"op": "same", "urn": STACK_URN}, *steps], "changeSummary": totals or {}}
    if diagnostics is not None:
        d["diagnostics"] = diagnostics
    return d


@dataclass
class Case:
    id: str
    reason: str
    preview: dict[str, Any]
    present: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    exact: str | None = None


CASES = [
    Case("no-changes", "only `same` steps: the whole comment is one line",
         doc(totals={"same": 3}), exact="**Pulumi preview — `proj/dev`:** No changes (3 unchanged).\n"),
    Case("no-changes-empty", "a stack with no resources at all still says so in one line",
         {"steps": [], "changeSummary": {}}, exact="**Pulumi preview:** No changes.\n"),
    Case("create", "a create lists the declared inputs, without bookkeeping, engine keys or empty values",
         doc(step("create", "web", new=inputs(name="web-1", tags=["team=a"])), totals={"create": 1, "same": 1}),
         present=["**1 to create · 1 unchanged**", "- `+` **create** `web` (ims:ImageMetadata)",
                  '`name` = `"web-1"`', '`tags` = `["team=a"]`', "`protected` = `false`"],
         absent=["create_token", "__provider", "0123abcd", "`description`", "`properties`"]),
    Case("update-scalar", "an in-place update shows each changed field as old → new and nothing unchanged",
         doc(step("update", "web", inputs(name="a"), inputs(name="b")), totals={"update": 1}),
         present=["- `~` **update** `web` (ims:ImageMetadata)", '  - `name`: `"a"` → `"b"`'],
         absent=["disk_format", "create_token", "id `"]),
    Case("update-bool-vs-int", "false and 0 are different JSON values even though Python says False == 0",
         doc(step("update", "web", inputs(protected=0), inputs(protected=False))),
         present=["`protected`: `0` → `false`"]),
    Case("update-int-float", "40 and 40.0 are the same JSON number: no field line",
         doc(step("update", "web", inputs(min_disk=40), inputs(min_disk=40.0, name="n"))),
         present=['`name`: `"img"` → `"n"`'], absent=["min_disk"]),
    Case("update-added-removed-field", "a field only one side has is shown as (unset)",
         doc(step("update", "web", inputs(),
                  {k: v for k, v in inputs(os_version="U").items() if k != "description"})),
         present=['`description`: `""` → _(unset)_', '`os_version`: _(unset)_ → `"U"`']),
    Case("tags-diff", "a list shows the items added and removed, not the whole list twice",
         doc(step("update", "web", inputs(tags=["a=1", "b=2"]), inputs(tags=["b=2", "c=3"]))),
         present=['`tags`: added `"c=3"`; removed `"a=1"`'], absent=['`["a=1"']),
    Case("tags-reordered", "a list that only changed order says so",
         doc(step("update", "web", inputs(tags=["a", "b"]), inputs(tags=["b", "a"]))),
         present=['`tags`: reordered: `["a", "b"]` → `["b", "a"]`']),
    Case("properties-diff", "a map shows keys added, removed and changed",
         doc(step("update", "web", inputs(properties={"k": "v", "gone": "x", "same": "s"}),
                  inputs(properties={"k": "v2", "new": "1", "same": "s"}))),
         present=['`properties`: `gone` removed (was `"x"`); `k`: `"v"` → `"v2"`; `new` added `"1"`'],
         absent=["`same`"]),
    Case("replace", "delete-before-replace is one `replace` step; its replaceReasons are the reason",
         doc(step("replace", "web", inputs(disk_format="qcow2", tags=["a=1"]),
                  inputs(disk_format="raw", tags=["a=2"]), reasons=["disk_format", "tags"], id_="img-42"),
             totals={"replace": 1, "same": 1}),
         present=["**1 to replace · 1 unchanged**",
                  "- `+-` **replace** `web` (ims:ImageMetadata) — because `disk_format`, `tags` change · id `img-42`",
                  '  - `disk_format`: `"qcow2"` → `"raw"`', '  - `tags`: added `"a=2"`; removed `"a=1"`']),
    Case("replace-one-reason", "grammar of one reason",
         doc(step("replace", "web", inputs(disk_format="qcow2"), inputs(disk_format="raw"), reasons=["disk_format"])),
         present=["because `disk_format` changes"]),
    Case("replacement-steps-merged", "create-replacement/replace/delete-replaced of one URN are one entry",
         doc(step("create-replacement", "web", inputs(disk_format="qcow2"), inputs(disk_format="raw"),
                  reasons=["disk_format"]),
             step("replace", "web", inputs(disk_format="qcow2"), inputs(disk_format="raw"), reasons=["disk_format"]),
             step("delete-replaced", "web", inputs(disk_format="qcow2")), totals={"replace": 1}),
         present=["**replace** `web`"], absent=["**create** `web`", "**delete** `web`"]),
    Case("replace-no-reason", "a replacement without replaceReasons says so rather than inventing one",
         doc(step("replace", "web", inputs(), inputs(disk_format="raw"))),
         present=["**replace** `web` (ims:ImageMetadata) — the provider gave no reason"]),
    Case("junk-steps", "steps that are not objects are ignored, not a crash",
         {"steps": [None, "x", 3, step("delete", "d", inputs())], "changeSummary": {"delete": 1}},
         present=["**delete** `d`"]),
    Case("delete", "a delete names the resource and its id, no fields",
         doc(step("delete", "old", inputs(name="old-image"), id_="img-7"), totals={"delete": 1}),
         present=["- `-` **delete** `old` (ims:ImageMetadata) · id `img-7`", "**1 to delete**"],
         absent=["old-image"]),
    Case("order", "destructive operations first: replace, delete, update, create",
         doc(step("create", "c", new=inputs()), step("update", "u", inputs(name="x"), inputs(name="y")),
             step("delete", "d", inputs()), step("replace", "r", inputs(), inputs(disk_format="raw"), ["disk_format"]),
             totals={"create": 1, "update": 1, "delete": 1, "replace": 1}),
         present=["**1 to create · 1 to update · 1 to replace · 1 to delete**"]),
    Case("secret-masked", "a value the CLI masks is shown as [secret], never compared on both sides",
         doc(step("update", "web", inputs(description="[secret]", name="a"), inputs(description="[secret]", name="b"))),
         present=["secret (values hidden, not compared): `description`"], absent=["`description`:"]),
    Case("secret-becomes-plain", "a secret on one side only is a change, shown as [secret]",
         doc(step("update", "web", inputs(description="[secret]"), inputs(description="public"))),
         present=['`description`: `[secret]` → `"public"`']),
    Case("secret-signature", "a serialised secret object (with --show-secrets off) is masked too",
         doc(step("update", "web", inputs(description=""),
                  inputs(description={SECRET_SIG_KEY: SECRET_SIG, "value": "hunter2"}))),
         present=['`description`: `""` → `[secret]`'], absent=["hunter2"]),
    Case("secret-in-map", "a secret inside a map value is masked",
         doc(step("update", "web", inputs(properties={"a": "1"}), inputs(properties={"a": "1", "pw": "[secret]"}))),
         present=["`pw` added `[secret]`"]),
    Case("unknown", "a value known only after apply is a possible change and says so",
         doc(step("update", "dep", inputs(name="dep-1"), inputs(name=UNKNOWN_TEXT))),
         present=['`name`: `"dep-1"` → _(known after apply)_'], absent=[UNKNOWN_TEXT]),
    Case("ignored-keys", "only bookkeeping and engine keys changed: the update has no field lines",
         doc(step("update", "web", inputs(create_token="a", __provider="x"), inputs(create_token="b", __provider="y"))),
         present=["**update** `web`"], absent=["create_token", "__provider"]),
    Case("error", "an error diagnostic makes the summary say the preview failed and shows the message",
         doc(diagnostics=[{"urn": urn("web"), "severity": "error",
                           "message": f"error: {TYPE} resource 'web': property name value {{b<}} has a problem\n"},
                          {"severity": "error", "message": "error: Resource monitor has terminated, shutting down\n"}],
             totals={"same": 1}),
         present=["**The preview failed** (errors below)", "**Errors (1)**", "```text",
                  f"{TYPE} resource 'web': property name value {{b<}} has a problem"],
         absent=["No changes", "Resource monitor has terminated", "error: "]),
    Case("error-with-partial-plan", "steps planned before the failure are shown as such",
         doc(step("create", "a", new=inputs()), diagnostics=[{"severity": "error", "message": "error: boom\n",
                                                             "urn": urn("b")}], totals={"create": 1}),
         present=["**The preview failed** (errors below); planned so far: 1 to create", "b: boom"]),
    Case("warning-only", "warnings alone do not fail the summary but are shown",
         doc(diagnostics=[{"severity": "warning", "message": "warning: deprecated thing\n"},
                          {"severity": "info", "message": "chatter"}], totals={"same": 1}),
         present=["No changes.", "**Warnings (1)**", "deprecated thing"], absent=["chatter", "failed"]),
    Case("read-is-no-change", "a read-only reference (op read) and refresh steps change nothing",
         doc(step("read", "ref", new=inputs()), step("refresh", "x", inputs(), inputs()), totals={"same": 1}),
         exact="**Pulumi preview — `proj/dev`:** No changes (1 unchanged).\n"),
    Case("discard", "a read-only reference dropped from the program is forgotten, not deleted",
         doc(step("discard", "ref", inputs()), totals={"discard": 1}),
         present=["**forget** `ref`", "nothing is deleted", "1 to forget"], absent=["**delete**"]),
    Case("stack-create", "the stack resource itself is counted but not listed",
         {"steps": [{"op": "create", "urn": STACK_URN, "newState": {"type": "pulumi:pulumi:Stack"}}],
          "changeSummary": {"create": 1}},
         exact="**Pulumi preview — `proj/dev`:** No changes.\n"),
    Case("component-child", "the type of a child resource is its own, not its parents'",
         doc({"op": "create", "urn": f"urn:pulumi:dev::proj::my:Comp${TYPE}::kid", "newState": {"inputs": {}}}),
         present=["**create** `kid` (ims:ImageMetadata)"], absent=["my:Comp"]),
    Case("backticks", "values with backticks stay inside their code span",
         doc(step("update", "web", inputs(description="a`b"), inputs(description="``c"))),
         present=['`description`: `` "a`b" `` → ``` "``c" ```']),
    Case("long-value", "long values are clipped",
         doc(step("update", "web", inputs(description="x" * 500), inputs(description="y" * 500))),
         present=["…`"], absent=["x" * 100]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_summary(case: Case) -> None:
    markdown = render(summarize(case.preview))
    if case.exact is not None:
        assert markdown == case.exact, f"{case.reason}\n{markdown}"
    for text in case.present:
        assert text in markdown, f"{case.reason}: missing {text!r}\n{markdown}"
    for text in case.absent:
        assert text not in markdown, f"{case.reason}: unexpected {text!r}\n{markdown}"


def test_order_is_destructive_first() -> None:
    markdown = render(summarize(next(c.preview for c in CASES if c.id == "order")))
    positions = [markdown.index(f"** `{n}`") for n in ("r", "d", "u", "c")]
    assert positions == sorted(positions), markdown


def test_title_and_marker() -> None:
    one_line = render(summarize(doc(totals={"same": 1})), title="Preview: multi-image", marker="pulumi-preview:x")
    assert one_line == "**Preview: multi-image:** No changes (1 unchanged). <!-- pulumi-preview:x -->\n"
    changed = render(summarize(doc(step("delete", "a", inputs()))), title="T", marker="m -- n")
    assert changed.splitlines()[0] == "### T <!-- m - - n -->", "a marker cannot end the HTML comment early"


def test_huge_previews_fit_in_a_comment() -> None:
    steps = [step("update", f"r{i}", inputs(description="a" * 70), inputs(description="b" * 70)) for i in range(2000)]
    markdown = render(summarize(doc(*steps, totals={"update": 2000})))
    assert len(markdown) <= MAX_CHARS
    assert "more resources (the comment is too long; see the job log)" in markdown


# --- pieces -------------------------------------------------------------------------------


def test_diff_inputs_skips_engine_and_bookkeeping_keys() -> None:
    changes, hidden = diff_inputs({"__x": 1, "create_token": "a", "n": 1, "s": "[secret]"},
                                  {"__x": 2, "create_token": "b", "n": 2, "s": "[secret]"})
    assert changes == [FieldChange("n", 1, 2)] and hidden == ["s"]
    changes, _ = diff_inputs({"create_token": "a"}, {"create_token": "b"}, ignore=())
    assert changes == [FieldChange("create_token", "a", "b")], "ignore=() keeps create_token"
    changes, _ = diff_inputs({}, {"a": 1})
    assert changes == [FieldChange("a", MISSING, 1)]


@pytest.mark.parametrize(("old", "new", "expected", "reason"), [
    (["a"], ["a", "a"], 'added `"a"`', "lists are multisets: a duplicate is an addition"),
    ([{"k": 1}], [{"k": 2}], 'added `{"k": 2}`; removed `{"k": 1}`', "items may be maps"),
    ([str(i) for i in range(20)], [], "… 8 more", "long item lists are cut"),
])
def test_list_diff(old: list[Any], new: list[Any], expected: str, reason: str) -> None:
    assert expected in list_diff(old, new), reason


def test_map_diff_nested_values_are_compact_json() -> None:
    assert map_diff({"a": {"x": 1}}, {"a": {"x": 2}}) == '`a`: `{"x": 1}` → `{"x": 2}`'


def test_describe_type_change() -> None:
    assert describe(FieldChange("tags", None, ["a"])) == '`tags`: `null` → `["a"]`'


@pytest.mark.parametrize(("text", "expected"), [("a", "`a`"), ("a`b", "`` a`b ``"), ("`", "`` ` ``")])
def test_code(text: str, expected: str) -> None:
    assert code(text) == expected


def test_totals_line_orders_known_keys_and_keeps_unknown_ones() -> None:
    line = totals_line({"same": 2, "delete": 1, "create": 3, "import": 0, "frobnicate": 1})
    assert line == "3 to create · 1 to delete · 1 frobnicate · 2 unchanged"


def test_urn_parts() -> None:
    assert urn_parts("urn:pulumi:dev::p::a:b:C$d:e:F::name::with::colons") == ("dev", "p", "d:e:F",
                                                                                "name::with::colons")
    assert urn_parts("not-a-urn") == (None, None, "", "not-a-urn")


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty input (the CLI crashed before printing)"),
    ("Previewing update (dev):\nerror: no stack", "plain text output (`--json` missing)"),
    ('{"steps": [', "truncated JSON"),
    ('{"hello": 1}', "JSON that is not a preview"),
    ("[1, 2]", "a JSON array"),
])
def test_parse_preview_rejects(text: str, reason: str) -> None:
    with pytest.raises(PreviewError):
        parse_preview(text)


def test_parse_preview_skips_text_before_the_json() -> None:
    document = parse_preview('warning: something\n{"steps": [], "changeSummary": {"same": 1}}\n')
    assert document["changeSummary"] == {"same": 1}


# --- CLI -------------------------------------------------------------------------------------


def test_cli_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(doc(totals={"same": 1}))))
    assert main(["--title", "T"]) == 0
    assert capsys.readouterr().out == "**T:** No changes (1 unchanged).\n"


def test_cli_reads_a_file_and_ignore_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc(step("update", "w", inputs(create_token="a"), inputs(create_token="b")))))
    assert main(["--input", str(path), "--ignore", "nothing"]) == 0
    assert '`create_token`: `"a"` → `"b"`' in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (["--input", "/nonexistent/preview.json"], "", "cannot read /nonexistent/preview.json"),
    ([], "not json", "no JSON object"),
])
def test_cli_errors_exit_2(argv: list[str], stdin: str, message: str, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "preview_summary", "--title", "X"], cwd=REPO, text=True,
                          input=json.dumps(doc()), capture_output=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "**X:** No changes.\n", "")


def test_markdown_from_text_is_the_whole_pipeline() -> None:
    text = json.dumps(doc(step("delete", "a", inputs(), id_="i")))
    assert markdown_from_text(text) == render(summarize(parse_preview(text)))
