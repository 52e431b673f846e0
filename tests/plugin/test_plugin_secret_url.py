"""A presigned URL with credentials as the plugin's ``source`` (issue 24's guarantee on the plugin): from a
YAML program, as an asset (``fn::remoteAsset``) and as a plain string, its password and signature never
reach the state (``pulumi stack export``), the engine's event log, ``pulumi preview --json`` or the stack's
outputs; the image gets the bytes; a regenerated signature is no change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.e2e.test_secret_url_cli import PASSWORD, SIGNATURE, Bucket, assert_no_secret, bucket
from tests.plugin.sdk_support import use_plugin_on_path
from tests.support.images import live_images

__all__ = ["bucket"]  # the fixture, used by name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def yaml_program(source: str) -> str:
    return f"""
name: secreturl
runtime: yaml
resources:
  web:
    type: ims:index:ImageMetadata
    properties:
      name: web-signed
      diskFormat: raw
      minDisk: 1
      source: {source}
outputs:
  id: ${{web.id}}
  status: ${{web.status}}
  source: ${{web.source}}
"""


def url(host: str, signature: str = SIGNATURE) -> str:
    return f"http://user:{PASSWORD}@{host}/disk.raw?X-Amz-Signature={signature}"


# (reason, how the program writes the URL)
FORMS: list[tuple[str, Callable[[str], str]]] = [
    ("an asset: fn::remoteAsset", lambda u: json.dumps({"fn::remoteAsset": u})),
    ("a plain string (the schema takes an asset or a string)", json.dumps),
]


@pytest.mark.parametrize(("reason", "form"), FORMS, ids=[f[0] for f in FORMS])
def test_a_presigned_url_stays_secret_through_the_plugin(reason: str, form: Callable[[str], str], tmp_path: Path,
                                                         emu: Emulator, bucket: str, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, "", name="secreturl", config=config, secrets=secrets,
                                   files={"Pulumi.yaml": yaml_program(form(url(bucket)))},
                                   extra_env={"PULUMI_DEBUG_COMMANDS": "true"})  # registers --event-log
    (project.dir / "__main__.py").unlink()
    use_plugin_on_path(project, tmp_path)

    assert_no_secret(project.preview("--json").stdout, f"pulumi preview --json ({reason})")
    log = tmp_path / "up.jsonl"
    up = project.up("--event-log", str(log))
    assert_no_secret(up.output, f"the output of pulumi up ({reason})")
    (image,) = live_images(emu)
    assert image["status"] == "active" and image["size"] == len(Bucket.objects["/disk.raw"]), reason
    assert_no_secret(log.read_text(), f"the engine's event log ({reason})")
    assert_no_secret(json.dumps(project.export()), f"pulumi stack export ({reason})")
    outputs = project.run("stack", "output", "--json", "--show-secrets").stdout
    assert_no_secret(outputs, f"pulumi stack output --show-secrets ({reason})")
    assert json.loads(outputs)["source"] == {"kind": "url", "location": f"http://***@{bucket}/disk.raw?***"}

    (project.dir / "Pulumi.yaml").write_text(yaml_program(form(url(bucket, "SIGNED-AGAIN"))))
    project.preview("--expect-no-changes")
    project.destroy()
    assert live_images(emu) == []
