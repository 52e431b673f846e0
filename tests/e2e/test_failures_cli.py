"""Expected failures, as the user reads them in the real CLI: one line each, no traceback.

A case table: the program (and the images the emulator holds first), the command, and the exact
error line ``pulumi`` prints under "Diagnostics" (``{...}`` fields are filled in from the images
the case made). Besides that line the CLI may add only its own generic line for a program that
exited with an error. An unexpected failure (a bug in a program) keeps its Python traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.pulumi_cli import PulumiProject, Result, ims_config
from ims_emulator import DEMO_TOKEN
from ims_emulator.process import Emulator

pytestmark = [pytest.mark.e2e]

#: The CLI's and SDK's own lines after a program or a resource failed (whatever the error): not ours to shorten.
CLI_GENERIC = {"an unhandled error occurred: Program exited with non-zero exit code: 1",
               "Resource monitor has terminated, shutting down"}
TYPE = "pulumi-python:dynamic/ims:ImageMetadata"


def make_image(emu: Emulator, **body: Any) -> dict[str, Any]:
    """An image made through the API (as another tool would), with the demo token."""
    response = requests.post(f"{emu.url}/v2/images", json={"container_format": "bare", **body},
                             headers={"X-Auth-Token": DEMO_TOKEN}, timeout=10)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


@dataclass(frozen=True)
class Case:
    """One expected failure."""

    reason: str
    program: str
    expected: str
    setup: Callable[[Emulator], dict[str, Any]] = lambda emu: {}
    command: tuple[str, ...] = ("preview",)
    config: dict[str, str] = field(default_factory=dict)


def twins(emu: Emulator) -> dict[str, Any]:
    a, b = make_image(emu, name="twin", disk_format="qcow2"), make_image(emu, name="twin", disk_format="qcow2")
    newer, older = sorted([a, b], key=lambda i: (i["created_at"], i["id"]), reverse=True)
    if newer["created_at"] == older["created_at"]:
        newer, older = sorted([a, b], key=lambda i: i["id"])
    return {"first": newer["id"], "first_at": newer["created_at"], "second": older["id"],
            "second_at": older["created_at"]}


def golden(emu: Emulator) -> dict[str, Any]:
    image = make_image(emu, name="golden-2026.11", disk_format="qcow2")
    requests.patch(f"{emu.url}/v2/images/{image['id']}", data='[{"op": "add", "path": "/role", "value": "web"}]',
                   headers={"X-Auth-Token": DEMO_TOKEN,
                            "Content-Type": "application/openstack-images-v2.1-json-patch"},
                   timeout=10).raise_for_status()
    return {"id": image["id"]}


def legacy(emu: Emulator) -> dict[str, Any]:
    return {"id": make_image(emu, name="legacy", disk_format="qcow2", min_ram=2048)["id"]}


LOOKUP = "import pulumi\nfrom ims_pulumi import get_image, get_image_output\n"
IMAGE = "import pulumi\nfrom ims_pulumi import ImageMetadata\n"

CASES = [
    Case("a lookup finds nothing: the filters, the closest relaxation and what to do",
         LOOKUP + 'get_image(name="golden-2026.11", properties={"role": "db"})\n',
         "no image matches name='golden-2026.11', properties={{'role': 'db'}}. The server was asked for "
         "name=golden-2026.11. Closest relaxations: without properties: 1 image(s). Change or drop that filter; "
         "if a resource of this program makes the image match (an ImageMemberAcceptance, a tag), let the lookup "
         "wait for it: get_image_output(..., opts=pulumi.InvokeOutputOptions(depends_on=[resource]))",
         setup=golden),
    Case("the same from get_image_output (the error raised inside an apply)",
         LOOKUP + 'pulumi.export("id", get_image_output(name="golden-2026.11", properties={"role": "db"}).id)\n',
         "no image matches name='golden-2026.11', properties={{'role': 'db'}}. The server was asked for "
         "name=golden-2026.11. Closest relaxations: without properties: 1 image(s). Change or drop that filter; "
         "if a resource of this program makes the image match (an ImageMemberAcceptance, a tag), let the lookup "
         "wait for it: get_image_output(..., opts=pulumi.InvokeOutputOptions(depends_on=[resource]))",
         setup=golden),
    Case("a lookup finds several: the candidates and what to do",
         LOOKUP + 'get_image(name="twin")\n',
         "2 images match name='twin': {first} 'twin' created {first_at}; {second} 'twin' created {second_at}. "
         "Add a filter (name, tags, properties, ...) or most_recent=True to take the newest",
         setup=twins),
    Case("a filter the server cannot serve (Glance has no __os_type)",
         LOOKUP + 'get_image(os_type="Linux")\n',
         "filter os_type='Linux' cannot be used on a Glance server: its images have no such field (IMS `__os_type`: "
         "`Linux`, `Windows`, `Other`.); drop it, or use another filter such as name_regex or properties",
         config={"ims:server": "glance"}),
    Case("a lookup whose request is refused (a wrong key): the lookup and the API's answer",
         LOOKUP + 'get_image(name="x")\n',
         "get_image(name='x'): look up images failed: HTTP 401 APIGW.0301: Incorrect IAM authentication "
         "information: ...",
         config={"ims:secretKey": "not-the-demo-secret-key"}),
    Case("pulumi import of the dynamic type: what works instead",
         "import pulumi\n",
         "pulumi import cannot import pulumi-python:dynamic/ims:ImageMetadata 'abc-123': the engine sends a "
         "dynamic provider only the id, not the provider (pulumi/pulumi#16175); instead, declare "
         'ImageMetadata("legacy", name=..., adopt_id="abc-123") in the program and run `pulumi up` (it takes the '
         'image over), or ImageMetadata.get("legacy", "abc-123") for a read-only reference',
         command=("import", TYPE, "legacy", "abc-123", "--yes")),
    Case("an adoption that contradicts the image fails at preview, with the message of up",
         IMAGE + 'ImageMetadata("legacy", name="legacy", adopt_id="{id}", disk_format="raw")\n',
         "adopt image {id}: these fields cannot be changed in place, declare the image's values instead: "
         "disk_format: the image has 'qcow2', the program 'raw'; min_ram: the image has 2048, the program 0 (the "
         "default when min_ram is not declared)",
         setup=legacy),
    Case("min_disk 0: the number as declared, and that leaving it out is allowed",
         IMAGE + 'ImageMetadata("zero", name="zero", min_disk=0)\n',
         f"{TYPE} resource 'zero': property min_disk value {{{{0}}}} has a problem: min_disk 0 must be a whole number "
         "of GB from 1 to 1024 on IMS, or left out (the server's default)"),
    Case("a missing source file: its path and the problem",
         IMAGE + 'ImageMetadata("web", name="web", disk_format="qcow2", source=pulumi.FileAsset("build/nope.qcow2"))\n',
         f"{TYPE} resource 'web' has a problem: source '{{dir}}/build/nope.qcow2' is not a readable file (a "
         "relative path is relative to the project directory)"),
]


def errors(result: Result) -> list[str]:
    """The distinct ``error:`` lines of the Diagnostics section (the CLI repeats some per resource)."""
    text = result.output
    section = text[text.index("Diagnostics:"):] if "Diagnostics:" in text else text
    lines = [line.strip().removeprefix("error: ") for line in section.splitlines() if line.strip().startswith("error:")]
    return list(dict.fromkeys(lines))


@pytest.mark.parametrize("case", CASES, ids=[c.reason for c in CASES])
def test_expected_failure_is_one_line(case: Case, tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    values = case.setup(emu)
    config, secrets = ims_config(emu.url)
    for key, value in case.config.items():
        (secrets if key in secrets else config)[key] = value
    program = case.program.replace("{id}", str(values.get("id", "")))
    project = PulumiProject.create(tmp_path, program, config=config, secrets=secrets)
    values["dir"] = str(project.dir.resolve())
    result = project.run(*case.command, check=False)
    assert result.returncode != 0, result.output[-3000:]
    assert "Traceback" not in result.output, result.output[-3000:]
    expected = case.expected.format(**values)
    found = errors(result)
    if expected.endswith("..."):  # the API's answer (a signature, a request id) varies: its start is checked
        assert any(line.startswith(expected[:-3]) for line in found), found
        found = [line for line in found if not line.startswith(expected[:-3])]
    else:
        assert expected in [line.removeprefix("preview failed: step application failed: ")
                            .removeprefix("Preview failed: ") for line in found], found
        found = [line for line in found if not line.endswith(expected)]
    assert set(found) <= CLI_GENERIC, f"other error lines besides the message: {found}"


def test_an_unexpected_failure_keeps_its_traceback(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    program = "def broken():\n    raise ValueError('a bug in the program')\n\nbroken()\n"
    project = PulumiProject.create(tmp_path, program, config=config, secrets=secrets)
    result = project.preview(check=False)
    assert result.returncode != 0
    assert "Traceback" in result.output and "ValueError: a bug in the program" in result.output, result.output
