"""Inputs with control characters through the real CLI (issue 24): ``pulumi preview --diff`` printed a
property key holding an ANSI sequence raw (the terminal turned red). Now check refuses it, and the
refusal quotes the value escaped, on one line: the output carries no escape sequence from the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator

pytestmark = [pytest.mark.e2e]

CASES = [
    # (reason, the ImageMetadata arguments as Python source, the escaped text the message shows)
    ("an ANSI colour in a property key", r'properties={"\x1b[31mred": "x"}', r"'\x1b[31mred'"),
    ("a screen-clearing sequence in a property value", r'properties={"team": "\x1b[2J"}', r"'\x1b[2J'"),
    ("a newline and a heading in a property key", r'properties={"a\n\n## Approved": "x"}', r"'a\n\n## Approved'"),
    ("a right-to-left override in a tag", r'tags=["team=\u202eevil"]', r"'team=\u202eevil'"),
]


@pytest.mark.parametrize(("reason", "args", "shown"), CASES, ids=[c[0] for c in CASES])
def test_control_characters_are_refused_and_never_printed_raw(tmp_path: Path, emu: Emulator, pulumi_cli: None,
                                                              reason: str, args: str, shown: str) -> None:
    program = f'''
import pulumi
from ims_pulumi import ImageMetadata

ImageMetadata("img", name="neutral", {args})
'''
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, program, name="neutral", config=config, secrets=secrets)
    failed = project.preview("--diff", check=False)
    assert failed.returncode != 0, reason
    output = failed.output
    assert "\x1b" not in output and "\u202e" not in output, f"{reason}: a raw escape reached the terminal"
    lines = [line for line in output.splitlines() if "contains the control or format character" in line]
    assert lines and shown in lines[0], f"{reason}: the one-line refusal quotes the value escaped\n{output}"
    assert emu.images() == [], "nothing was created"
