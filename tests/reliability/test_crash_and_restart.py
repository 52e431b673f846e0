"""Issue 6, items 3 and 4: a killed ``pulumi up`` and a server restart converge to one image per resource.

Crash recovery, the user step (Pulumi v3.274, non-interactive)::

    pulumi cancel --yes                              # the killed run's lock (the DIY backend locks stacks)
    pulumi refresh --yes --clear-pending-creates     # forget creates that were in flight
    pulumi up                                        # adopts the images those creates made, by create token

A plain ``pulumi refresh`` in non-interactive mode keeps the pending creates: ``up`` then
converges all the same but keeps warning about them, run after run; interactively, refresh
asks what to do with each. Clearing them is safe with this provider: each image carries its
resource's create token, and ``create`` adopts an image that has it. If the kill hit the
file backend while it saved the checkpoint, see :func:`repair_interrupted_checkpoint_write`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core.client import ImsClient, create_token_tag
from ims_pulumi.core.errors import TransportError
from ims_pulumi.core.transport import Credentials, Response, RetryPolicy, Transport
from tests.reliability.helpers import (
    assert_converged,
    images_program,
    kill_session,
    start_cli,
    state_resources,
    wait_for,
)
from tests.support.images import live_images

#: Slow enough that a run of 30 creates is still going when the test acts on it.
SLOW = [{"kind": "latency", "ms": 250, "jitter_ms": 200}]


@pytest.mark.e2e
def test_sigkill_during_up_then_refresh_and_up_converge(tmp_path: Path, emu: Emulator, pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(30, "crash"), config=config, secrets=secrets)
    emu.set_faults(SLOW)
    with (tmp_path / "killed-up.log").open("w") as log:
        proc = start_cli(project, log, "up", "--yes", "--skip-preview")
        wait_for(lambda: len(live_images(emu, "crash")) >= 10, 120, "10 images before the kill")
        # Freeze the CLI first: the provider finishes the creates in flight, but the CLI never
        # records them. Then kill everything. Those images exist only on the server.
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _quiet(emu), 30, "the creates in flight to finish")
        killed = kill_session(proc)
    assert len(killed) >= 3, f"the CLI, its language host and the provider must all be killed: {killed}"
    at_kill = len(live_images(emu, "crash"))
    emu.clear_faults()
    assert 10 <= at_kill < 30, at_kill

    repair_interrupted_checkpoint_write(project)
    resources, deployment = state_resources(project)
    pending = [op for op in deployment.get("pending_operations") or [] if op.get("type") == "creating"]
    assert pending, "the kill must interrupt creates in flight (else the test proves nothing)"
    assert len(resources) < 30

    # The documented user step.
    cancel = project.run("cancel", "--yes")
    assert "canceled" in cancel.stdout, cancel.output
    project.refresh("--clear-pending-creates")
    resources, deployment = state_resources(project)
    assert not deployment.get("pending_operations")
    images_before_up = len(live_images(emu, "crash"))
    orphans = images_before_up - len(resources)
    assert orphans > 0, "creates finished after the CLI froze leave images that only the server knows"

    emu.reset_stats()
    project.up()
    posts = emu.stats()["requests"].get("POST /v2/images", 0)
    assert posts == 30 - images_before_up, \
        f"{images_before_up} images existed: those are adopted by token, only the rest is created ({posts} POSTs)"
    assert_converged(project, emu, 30, "crash")
    project.preview("--expect-no-changes")


def repair_interrupted_checkpoint_write(project: PulumiProject) -> None:
    """The documented repair when the kill hit the DIY backend while it was saving the checkpoint.

    The file backend writes ``<stack>.json.attrs`` (truncate, then write) before it renames the
    new checkpoint into place; killed in between, the attributes file is left empty and every
    command fails with ``failed to load checkpoint: EOF`` (about one kill in fifteen here). The
    checkpoint beside it is whole (the previous one): deleting the empty file is enough, and
    whatever that checkpoint lacks is adopted by create token on the next ``up``.
    """
    check = project.run("stack", "export", check=False)
    if check.returncode == 0:
        return
    assert "failed to load checkpoint: EOF" in check.output, check.output
    stacks = Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "stacks"
    (attrs,) = stacks.glob(f"*/{project.stack}.json.attrs")
    assert attrs.stat().st_size == 0, attrs
    attrs.unlink()


@pytest.mark.e2e
def test_server_restart_during_up_converges(tmp_path: Path, pulumi_cli: None) -> None:
    with Emulator.start(tmp_path / "emulator-data") as emu:
        config, secrets = ims_config(emu.url)
        project = PulumiProject.create(tmp_path, images_program(30, "restart"), config=config, secrets=secrets)
        emu.set_faults(SLOW)
        with (tmp_path / "up.log").open("w") as log:
            proc = start_cli(project, log, "up", "--yes", "--skip-preview")
            wait_for(lambda: len(live_images(emu, "restart")) >= 8, 120, "8 images before the restart")
            stats = emu.stats()
            in_flight = sum(stats["requests"].values()) - sum(stats["responses"].values())
            url = emu.url
            emu.restart()  # SIGTERM: requests in flight lose their connection; the fault rules are gone
            assert emu.url == url, "same port: the provider's endpoint stays valid"
            code = proc.wait(timeout=300)
        output = (tmp_path / "up.log").read_text()
        assert in_flight > 0, "requests must be in flight when the server goes away"
        if code != 0:  # allowed, if the message is clear; the next run must then converge
            assert "Traceback" not in output, output[-3000:]
            assert "failed" in output and "run the command again" in output, output[-3000:]
            project.up()
        assert_converged(project, emu, 30, "restart")
        project.preview("--expect-no-changes")


@pytest.mark.contract
def test_server_gone_fails_clearly_and_the_retry_creates_no_duplicate(emu: Emulator) -> None:
    """The server commits a create, then answers nothing more: a clear failure; the next run adopts the image."""
    body = {"name": "gone-000", "disk_format": "qcow2", "tags": [create_token_tag("t" * 32)]}

    class ServerGoesAway(Transport):
        """After the POST every request is cut off, as when the server dies after committing it."""

        def request(self, method: str, path: str, **kwargs: Any) -> Response:
            try:
                return super().request(method, path, **kwargs)
            finally:
                if method == "POST":
                    emu.set_faults([{"kind": "reset"}])

    emu.set_faults([{"kind": "drop_response", "method": "POST"}])
    quick = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
    credentials = Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID)
    client = ImsClient(ServerGoesAway(emu.url, credentials, retry=quick))
    with pytest.raises(TransportError) as info:
        client.create_image(body)
    message = str(info.value)
    # each request gets max_attempts (3) within the operation's budget: the look-up tried three times
    assert message.startswith("create image 'gone-000': look-up by create token failed after 3 attempts: "), message
    assert "without a response" in message or "reset" in message, message
    assert emu.url in message and "run the command again" in message, message
    assert len(live_images(emu, "gone")) == 1, "the POST was committed"
    assert emu.stats()["requests"]["POST /v2/images"] == 1, "an uncertain POST is never repeated blindly"

    emu.clear_faults()
    again = ImsClient(Transport(emu.url, credentials, retry=quick)).create_image(body)
    assert [i["id"] for i in live_images(emu, "gone")] == [again["id"]], "the next run adopts the image"
    assert emu.stats()["requests"]["POST /v2/images"] == 1


@pytest.mark.contract
def test_a_create_refused_by_a_down_server_is_retried_until_it_is_back(tmp_path: Path) -> None:
    """Connection refused means nothing was sent: even a POST is repeated, and creates exactly one image."""
    first = Emulator.start(tmp_path / "data")
    port, url, running, slept = first.port, first.url, [first], []

    class DownAtCreate(Transport):
        def request(self, method: str, path: str, **kwargs: Any) -> Response:
            if method == "POST" and running[-1] is first:
                first.stop()  # the server goes down between the token look-up and the POST
            return super().request(method, path, **kwargs)

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:  # back after two refused attempts, same data, same port
            running.append(Emulator.start(tmp_path / "data", "--port", str(port)))

    try:
        credentials = Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID)
        client = ImsClient(DownAtCreate(url, credentials, retry=RetryPolicy(base_delay=0.01), sleep=sleep))
        image = client.create_image({"name": "down-000", "tags": [create_token_tag("d" * 32)]})
        second = running[-1]
        assert second is not first and second.url == url
        assert [i["id"] for i in live_images(second, "down")] == [image["id"]]
        assert second.stats()["requests"] == {"POST /v2/images": 1}, "refused twice, sent once"
    finally:
        for emulator in running:
            emulator.stop()


def _quiet(emu: Emulator, period: float = 0.3) -> bool:
    """No API request in flight, and none arriving for ``period`` seconds."""
    before = emu.stats()
    time.sleep(period)
    after = emu.stats()
    answered = sum(after["requests"].values()) == sum(after["responses"].values())
    return answered and after["requests"] == before["requests"]
