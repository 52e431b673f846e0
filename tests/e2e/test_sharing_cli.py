"""Sharing end to end with the real CLI: the owner stack and the consumer stack of
examples/sharing, each with its own project's credentials, on one backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject
from ims_emulator.process import Emulator
from tests.support.images import live_images

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROGRAM = (REPO / "examples" / "sharing" / "__main__.py").read_text()
OWNER = ("OWNERAK000000000001", "owner-secret-key-0001", "a" * 32)
CONSUMER = ("CONSUMERAK000000001", "consumer-secret-key-01", "b" * 32)


def stack(tmp: Path, emu: Emulator, who: tuple[str, str, str], role: str, backend: Path) -> PulumiProject:
    ak, sk, project_id = who
    config = {"ims:endpoint": emu.url, "ims:projectId": project_id, "sharing:role": role}
    if role == "owner":
        config["sharing:consumerProject"] = CONSUMER[2]
    return PulumiProject.create(tmp / role, PROGRAM, name="sharing", stack=role, config=config,
                                secrets={"ims:accessKey": ak, "ims:secretKey": sk}, backend=backend)


def test_owner_and_consumer_stacks(tmp_path: Path, pulumi_cli: None) -> None:
    identities = [arg for ak, sk, p in (OWNER, CONSUMER) for arg in ("--identity", f"{ak}:{sk}:{p}")]
    with Emulator.start(tmp_path / "emu", *identities) as emu:
        backend = tmp_path / "state"
        owner = stack(tmp_path, emu, OWNER, "owner", backend)
        owner.up()
        golden = owner.outputs()["golden_id"]
        assert owner.outputs()["share_status"] == "pending"

        consumer = stack(tmp_path, emu, CONSUMER, "consumer", backend)
        consumer.up()
        out = consumer.outputs()
        assert (out["golden_id"], out["acceptance"], out["found_name"]) == (golden, "accepted", "golden-2026.11")
        consumer.preview("--expect-no-changes")

        owner.refresh("--yes")
        (member,) = owner.resources("ImageMember")
        assert member["outputs"]["status"] == "accepted", "the consumer's answer, read by the owner's refresh"
        owner.preview("--expect-no-changes")
        owner.up()
        assert owner.outputs()["share_status"] == "accepted"

        # the owner stops sharing: the consumer's refresh shows the acceptance gone
        owner.run("config", "rm", "sharing:consumerProject")
        owner.up()
        consumer.refresh("--yes")
        assert not consumer.resources("ImageMemberAcceptance"), "refresh removed the acceptance from the state"

        consumer.destroy()
        owner.destroy()
        assert live_images(emu, project_id=OWNER[2]) == [] and live_images(emu, project_id=CONSUMER[2]) == []
