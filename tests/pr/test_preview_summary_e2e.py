"""``preview_summary`` fed REAL ``pulumi preview --json`` output: the CLI against the emulator.

One stack goes through create, no change, in-place update, replacement and delete; at each
step the JSON the CLI printed is summarized (once through ``python -m ims_preview_summary`` in
a subprocess, as the workflow runs it) and the Markdown is checked against what the
emulator really has.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from ims_preview_summary import markdown_from_text, parse_preview
from tests.support.images import live_by_id

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
SECRET_DESCRIPTION = "internal-only-do-not-print"
UPDATED = {"web_name": "pr-web-2", "web_props": '{"tier": "edge", "contact": "ops"}', "db_name": "pr-db-2"}
REPLACED = {**UPDATED, "web_format": "raw", "web_tags": '["team=web", "env=prod"]'}


def program(web_name: str = "pr-web", web_format: str = "qcow2", web_tags: str = '["team=web"]',
            web_props: str = '{"tier": "front"}', with_db: bool = True, db_name: str = "pr-db") -> str:
    db = f'''
db = ImageMetadata("db", name="{db_name}", os_version="Ubuntu 22.04 server 64bit",
                   description=pulumi.Output.secret("{SECRET_DESCRIPTION}"))
pulumi.export("db_id", db.id)
''' if with_db else ""
    return f'''
import pulumi
from ims_pulumi import ImageMetadata

web = ImageMetadata("web", name="{web_name}", disk_format="{web_format}", min_disk=20,
                    tags={web_tags}, properties={web_props})
pulumi.export("web_id", web.id)
{db}'''


def summary_of(project: PulumiProject, *args: str) -> tuple[str, dict[str, Any]]:
    """Run ``pulumi preview --json`` and summarize its stdout."""
    result = project.preview("--json", *args)
    document = parse_preview(result.stdout)
    return markdown_from_text(result.stdout, title="Preview"), document


def test_summaries_of_real_previews(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program(), name="prsum", config=config, secrets=secrets)

    # create: both images with their declared inputs; the secret is masked, bookkeeping hidden
    markdown, document = summary_of(project)
    assert document["changeSummary"] == {"create": 3}  # the stack resource and two images
    assert markdown.startswith("### Preview\n\n**3 to create**\n"), markdown
    assert "- `+` **create** `web` (ims:ImageMetadata)" in markdown
    assert "- `+` **create** `db` (ims:ImageMetadata)" in markdown
    assert '`name` = `"pr-web"`' in markdown and '`tags` = `["team=web"]`' in markdown
    assert '`properties` = `{"tier": "front"}`' in markdown and '`min_disk` = `20`' in markdown
    assert "`description` = `[secret]`" in markdown
    assert SECRET_DESCRIPTION not in markdown and "create_token" not in markdown and "__provider" not in markdown

    project.up()
    web_id, db_id = project.outputs()["web_id"], project.outputs()["db_id"]
    assert set(live_by_id(emu)) == {web_id, db_id}

    # nothing to do: one line, through the real command-line entry point as the workflow runs it
    preview = project.preview("--json")
    proc = subprocess.run([sys.executable, "-m", "preview_summary", "--title", "Preview", "--marker", "m"],
                          input=preview.stdout, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "**Preview:** No changes (3 unchanged). <!-- m -->\n"

    # in-place update: rename, a property changed and one added; the secret is not compared
    project.write_program(program(**UPDATED))
    markdown, document = summary_of(project)
    assert document["changeSummary"] == {"update": 2, "same": 1}
    assert "**2 to update · 1 unchanged**" in markdown, markdown
    assert "- `~` **update** `web` (ims:ImageMetadata)" in markdown
    assert '  - `name`: `"pr-web"` → `"pr-web-2"`' in markdown
    assert '  - `properties`: `contact` added `"ops"`; `tier`: `"front"` → `"edge"`' in markdown
    assert '  - `name`: `"pr-db"` → `"pr-db-2"`' in markdown
    assert "  - secret (values hidden, not compared): `description`" in markdown
    assert "disk_format" not in markdown and "replace" not in markdown
    project.up()
    assert project.outputs()["web_id"] == web_id, "an update keeps the id"

    # replacement (delete before replace): the step op is "replace", with replaceReasons as the reason
    project.write_program(program(**REPLACED))
    markdown, document = summary_of(project)
    steps = [s for s in document["steps"] if s["urn"].endswith("::web")]
    assert [s["op"] for s in steps] == ["replace"] and sorted(steps[0]["replaceReasons"]) == ["disk_format", "tags"]
    assert f"- `+-` **replace** `web` (ims:ImageMetadata) — because `disk_format`, `tags` change · id `{web_id}`" \
        in markdown, markdown
    assert '  - `disk_format`: `"qcow2"` → `"raw"`' in markdown
    assert '  - `tags`: added `"env=prod"`' in markdown
    assert "**1 to replace · 2 unchanged**" in markdown
    assert "`db`" not in markdown
    project.up()
    new_web = project.outputs()["web_id"]
    assert new_web != web_id and set(live_by_id(emu)) == {new_web, db_id}

    # delete: the image the program no longer declares, with its id
    project.write_program(program(**REPLACED, with_db=False))
    markdown, document = summary_of(project)
    assert document["changeSummary"] == {"delete": 1, "same": 2}
    assert markdown == (f"### Preview\n\n**1 to delete · 2 unchanged**\n\n"
                        f"- `-` **delete** `db` (ims:ImageMetadata) · id `{db_id}`\n"), markdown

    # an invalid input: the preview fails and the summary shows the provider's message
    project.write_program(program(**{**REPLACED, "web_name": "bad<name>"}, with_db=False))
    failed = project.preview("--json", check=False)
    assert failed.returncode != 0
    markdown = markdown_from_text(failed.stdout, title="Preview")
    assert "**The preview failed** (errors below)" in markdown, markdown
    assert "**Errors (1)**" in markdown and "name 'bad<name>' contains '<>'" in markdown, markdown
    assert "No changes" not in markdown

    project.write_program(program(**REPLACED, with_db=False))
    project.up()
    assert set(live_by_id(emu)) == {new_web}
    project.destroy()
    assert set(live_by_id(emu)) == set()
