"""Issue 6, items 1 and 2: transient faults and lost responses never fail a run nor duplicate an image."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.reliability.helpers import assert_converged, images_program
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e]

#: 20% 5xx (500 and 503), 10% 429 with Retry-After, and latency jitter, on every API request.
TRANSIENT = [
    {"kind": "error", "status": 500, "rate": 0.1},
    {"kind": "error", "status": 503, "rate": 0.1},
    {"kind": "throttle", "retry_after": 1, "rate": 0.1},
    {"kind": "latency", "ms": 15, "jitter_ms": 15},
]


def test_up_of_50_images_survives_5xx_429_and_latency(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(50, "flaky"), config=config, secrets=secrets)
    emu.set_faults(TRANSIENT, seed=6)

    up = project.up()
    assert "+ 51 created" in up.stdout, up.stdout[-2000:]
    stats = emu.stats()
    fired = stats["faults"]
    assert fired.get("error", 0) >= 10 and fired.get("throttle", 0) >= 5 and fired.get("latency", 0) >= 100, fired
    assert stats["responses"].get("POST /v2/images 503", 0) + stats["responses"].get("POST /v2/images 500", 0) > 0, \
        "some creates must have failed with 5xx and been repeated"
    assert stats["responses"].get("POST /v2/images 201") == 50, "exactly one successful POST per image"
    assert_converged(project, emu, 50, "flaky")

    project.preview("--expect-no-changes")

    emu.reset_stats()
    destroy = project.destroy()
    assert "- 51 deleted" in destroy.stdout, destroy.stdout[-2000:]
    assert emu.stats()["faults"].get("error", 0) > 0, "the destroy ran under faults too"
    assert live_images(emu, "flaky") == []
    assert project.resources() == []


def test_lost_create_responses_never_duplicate(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    """10% of creates are committed but their response is dropped: the create token finds them again."""
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(40, "lost"), config=config, secrets=secrets)
    emu.set_faults([{"kind": "drop_response", "method": "POST", "path": "/v2/images", "rate": 0.1}], seed=2)

    project.up()
    stats = emu.stats()
    dropped = stats["faults"].get("drop_response", 0)
    # One rule draws one random number per POST: with this seed the count is fixed.
    assert dropped >= 3, f"the seed must drop some responses, dropped {dropped}"
    assert stats["requests"]["POST /v2/images"] == 40, \
        "a create whose response was lost is found by its token, never posted again"
    assert stats["responses"]["POST /v2/images 201"] == 40
    assert_converged(project, emu, 40, "lost")
    project.preview("--expect-no-changes")

    # Lost DELETE responses: DELETE is idempotent, retried, and a 404 counts as deleted.
    emu.set_faults([{"kind": "drop_response", "method": "DELETE", "rate": 0.2}], seed=3)
    project.destroy()
    assert emu.stats()["faults"]["drop_response"] > dropped
    assert live_images(emu, "lost") == []
    assert project.resources() == []
