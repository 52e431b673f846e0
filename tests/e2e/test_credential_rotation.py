"""A rotated secret key: refresh and destroy use the configuration recorded in the state at the
last `pulumi up` (Pulumi's design), so after the key was corrected in config they still fail with
401; the message says what to do, and doing it works."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROGRAM = '''
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("rotated", name="rotated")
pulumi.export("image_id", image.id)
'''
NEW_SK = "the-rotated-secret-key-0002"


def test_destroy_after_a_key_rotation_says_to_run_up_or_run_program(tmp_path: Path, pulumi_cli: None) -> None:
    data = tmp_path / "emu"
    old = Emulator.start(data, "--identity", f"{DEMO_AK}:{DEMO_SK}:{DEMO_PROJECT_ID}")
    config = {"ims:endpoint": old.url, "ims:projectId": DEMO_PROJECT_ID}
    project = PulumiProject.create(tmp_path, PROGRAM, config=config,
                                   secrets={"ims:accessKey": DEMO_AK, "ims:secretKey": DEMO_SK})
    project.up()
    port = old.port
    old.stop()

    # the key is rotated on the server, and corrected in the stack config
    rotated = Emulator.start(data, "--port", str(port), "--identity", f"{DEMO_AK}:{NEW_SK}:{DEMO_PROJECT_ID}")
    try:
        project.run("config", "set", "--secret", "ims:secretKey", NEW_SK)
        failed = project.destroy(check=False)
        assert failed.returncode != 0
        assert "HTTP 401" in failed.output and "uses the provider configuration recorded in the state" in failed.output
        assert "--run-program" in failed.output and NEW_SK not in failed.output and DEMO_SK not in failed.output
        assert len(live_images(rotated)) == 1, "nothing was deleted"
        project.destroy("--run-program")
        assert live_images(rotated) == []
    finally:
        rotated.stop()
