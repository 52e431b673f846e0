"""Locking of a stack kept in PostgreSQL: two ``pulumi up`` at once, and a killed ``up`` recovered.

The DIY backend locks a stack with one row per running update
(``<db>/.pulumi/locks/<org>/<project>/<stack>/<uuid>.json``): it checks for other locks, writes its
own, checks again and backs off if another appeared. A second update of the same stack is
refused with ``the stack is currently locked by 1 lock(s) ... pulumi cancel``; a killed update's
row stays until ``pulumi cancel`` deletes it (README "Team setup").
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.reliability.helpers import (
    assert_converged,
    images_program,
    kill_session,
    start_cli,
    state_resources,
    wait_for,
)
from tests.support.images import live_images
from tests.team.conftest import Database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Slow enough that an ``up`` of a handful of images is still running when the test acts.
SLOW = [{"kind": "latency", "ms": 300, "jitter_ms": 100}]
LOCKED = "the stack is currently locked by 1 lock(s)"


def second_checkout(project: PulumiProject, root: Path) -> PulumiProject:
    """Another engineer's checkout of the same project: same files (Pulumi.<stack>.yaml included, as a
    team commits it), own PULUMI_HOME, same backend."""
    target = root / project.dir.name
    shutil.copytree(project.dir, target)
    home = root / "pulumi-home"
    home.mkdir(parents=True)
    return replace(project, root=root, dir=target, env={**project.env, "PULUMI_HOME": str(home)})


def assert_refused_by_lock(output: str, db: Database) -> None:
    assert LOCKED in output, output[-3000:]
    assert "pulumi cancel" in output, output[-3000:]
    assert db.server.password() not in output


def test_two_ups_of_one_stack_one_runs_the_other_is_refused(tmp_path: Path, emu: Emulator, pg_db: Database,
                                                            pulumi_cli: None) -> None:
    config, secrets = ims_config(emu.url)
    alice = PulumiProject.create(tmp_path / "alice", images_program(8, "lock"), name="team", config=config,
                                 secrets=secrets, backend_url=pg_db.url)
    bob = second_checkout(alice, tmp_path / "bob")
    emu.set_faults(SLOW)

    # Alice's update holds the lock; Bob's starts while it runs and is refused at once.
    with (tmp_path / "alice-up.log").open("w") as log:
        first = start_cli(alice, log, "up", "--yes", "--skip-preview")
        wait_for(lambda: bool(pg_db.locks()), 120, "the lock row of Alice's update")
        (lock,) = pg_db.locks()
        assert lock.startswith(f"{pg_db.name}/.pulumi/locks/organization/team/dev/"), lock
        started = time.monotonic()
        refused = bob.up(check=False)
        refused_after = time.monotonic() - started
        alice_was_running = first.poll() is None
        code = first.wait(timeout=300)
    output = (tmp_path / "alice-up.log").read_text()
    assert alice_was_running, "Bob's update must overlap Alice's (else the test proves nothing)"
    assert refused.returncode != 0
    assert_refused_by_lock(refused.output, pg_db)
    assert lock.rsplit("/", 1)[1] in refused.output, "the message names the lock row"
    assert "****:****@127.0.0.1" in refused.output, "the user in the URL of the lock is masked"
    assert refused_after < 60, f"refused at once, not after waiting ({refused_after:.0f}s)"
    assert code == 0, output[-3000:]
    assert pg_db.locks() == [], "Alice's lock is released"

    emu.clear_faults()
    assert_converged(alice, emu, 8, "lock")  # state and server agree, no image twice
    assert emu.stats()["requests"].get("POST /v2/images") == 8, "Bob's refused update created nothing"
    bob.preview("--expect-no-changes")  # both checkouts see the one state

    # Both started at the same instant: never do both run. A lock is written, then checked: of two
    # racing updates at most one goes on (rarely neither, each seeing the other's row: run it again).
    for checkout in (alice, bob):
        checkout.write_program(images_program(12, "lock"))
    emu.set_faults(SLOW)
    logs = {name: (tmp_path / f"{name}-race.log").open("w") for name in ("alice", "bob")}
    try:
        procs = {name: start_cli(checkout, logs[name], "up", "--yes", "--skip-preview")
                 for name, checkout in (("alice", alice), ("bob", bob))}
        codes = {name: proc.wait(timeout=300) for name, proc in procs.items()}
    finally:
        for handle in logs.values():
            handle.close()
    outputs = {name: (tmp_path / f"{name}-race.log").read_text() for name in procs}
    assert list(codes.values()).count(0) <= 1, f"both updates ran: {outputs}"
    for name, code in codes.items():
        if code != 0:
            assert_refused_by_lock(outputs[name], pg_db)
    emu.clear_faults()
    if 0 not in codes.values():
        alice.up()
    assert pg_db.locks() == []
    assert_converged(alice, emu, 12, "lock")
    bob.preview("--expect-no-changes")


def test_killed_up_then_cancel_refresh_up_converge(tmp_path: Path, emu: Emulator, pg_db: Database,
                                                   pulumi_cli: None) -> None:
    """SIGKILL of ``pulumi up`` and its plugins, then the documented recovery for a DIY backend."""
    config, secrets = ims_config(emu.url)
    project = PulumiProject.create(tmp_path, images_program(30, "pgcrash"), config=config, secrets=secrets,
                                   backend_url=pg_db.url)
    emu.set_faults([{"kind": "latency", "ms": 250, "jitter_ms": 200}])
    with (tmp_path / "killed-up.log").open("w") as log:
        proc = start_cli(project, log, "up", "--yes", "--skip-preview")
        wait_for(lambda: len(live_images(emu, "pgcrash")) >= 10, 120, "10 images before the kill")
        # Freeze the CLI, let the creates in flight finish on the server, then kill everything.
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _quiet(emu), 30, "the creates in flight to finish")
        killed = kill_session(proc)
    assert len(killed) >= 3, f"the CLI, its language host and the provider must all be killed: {killed}"
    emu.clear_faults()
    assert 10 <= len(live_images(emu, "pgcrash")) < 30

    # The killed run's lock row stays. The checkpoint is whole: each write replaces one row in one
    # statement, so nothing like the file backend's empty .attrs file needs repairing.
    (lock,) = pg_db.locks()
    resources, deployment = state_resources(project)
    pending = [op for op in deployment.get("pending_operations") or [] if op.get("type") == "creating"]
    assert pending, "the kill must interrupt creates in flight (else the test proves nothing)"
    assert len(resources) < 30

    refused = project.up(check=False)
    assert refused.returncode != 0
    assert_refused_by_lock(refused.output, pg_db)
    assert lock.rsplit("/", 1)[1] in refused.output

    # The documented recovery (README "Team setup", "Recovering from a killed `pulumi up`").
    cancel = project.run("cancel", "--yes")
    assert "canceled" in cancel.stdout, cancel.output
    assert pg_db.locks() == []
    project.refresh("--clear-pending-creates")
    resources, deployment = state_resources(project)
    assert not deployment.get("pending_operations")
    before_up = len(live_images(emu, "pgcrash"))
    assert before_up > len(resources), "images made after the CLI froze are known only to the server"

    emu.reset_stats()
    project.up()
    assert emu.stats()["requests"].get("POST /v2/images", 0) == 30 - before_up, "the others are adopted by token"
    assert_converged(project, emu, 30, "pgcrash")
    project.preview("--expect-no-changes")
    assert pg_db.locks() == []


def _quiet(emu: Emulator, period: float = 0.3) -> bool:
    """No API request in flight, and none arriving for ``period`` seconds."""
    before = emu.stats()
    time.sleep(period)
    after = emu.stats()
    answered = sum(after["requests"].values()) == sum(after["responses"].values())
    return answered and bool(after["requests"] == before["requests"])
