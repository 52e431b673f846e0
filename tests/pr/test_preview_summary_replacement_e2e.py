"""A replaced image in the PR summary, from REAL ``pulumi preview --json`` output (issue 22): the line
says the image is deleted and recreated with a new id, and names the stack's ``ImageMember``
resources of that image, whose projects lose access to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator.process import Emulator
from ims_preview_summary import markdown_from_text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OWNER = ("OWNERAK000000000001", "owner-secret-key-0001", "a" * 32)
MEMBER_PROJECT = "b" * 32


def program(disk_format: str) -> str:
    return f'''
import pulumi
from ims_pulumi import ImageMember, ImageMetadata

golden = ImageMetadata("golden", name="golden", disk_format="{disk_format}")
ImageMember("to-b", image_id=golden.id, member_id="{MEMBER_PROJECT}")
other = ImageMetadata("other", name="other")
ImageMember("other-to-b", image_id=other.id, member_id="{MEMBER_PROJECT}")
pulumi.export("golden_id", golden.id)
'''


def test_a_replacement_names_the_members_that_lose_the_image(tmp_path: Path, pulumi_cli: None) -> None:
    ak, sk, project_id = OWNER
    with Emulator.start(tmp_path / "emu", "--identity", f"{ak}:{sk}:{project_id}") as emu:
        project = PulumiProject.create(tmp_path / "owner", program("qcow2"), name="prsum-replace",
                                       config={"ims:endpoint": emu.url, "ims:projectId": project_id},
                                       secrets={"ims:accessKey": ak, "ims:secretKey": sk})
        project.up()
        golden = project.outputs()["golden_id"]

        project.write_program(program("raw"))
        markdown = markdown_from_text(project.preview("--json").stdout, title="Preview")
        assert f"- `+-` **replace** `golden` (ims:ImageMetadata) — because `disk_format` changes · id `{golden}`" \
            in markdown, markdown
        assert f"  - ⚠️ the image is deleted and recreated with a new id (id `{golden}` stops existing)" in markdown
        assert (f"  - ⚠️ members that lose access to `{golden}`: `to-b` (project `{MEMBER_PROJECT}`); replaced "
                "too: shared again with the new id, to be accepted again") in markdown, markdown
        assert "other-to-b" not in markdown, "a share of another image is not affected"
        project.destroy()
