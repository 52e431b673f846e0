"""One PostgreSQL database shared by several stacks, and what a stopped database does to the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.pulumi_cli import PulumiProject, ims_config
from ims_emulator.process import Emulator
from tests.reliability.helpers import assert_consistent, start_cli, wait_for
from tests.support.images import live_by_id
from tests.team.conftest import Database

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOLD = '''
import os
import time

if os.path.exists("hold"):  # the test stops the database while the program waits here
    open("held", "w").close()
    while os.path.exists("hold"):
        time.sleep(0.1)
'''

PRODUCER = HOLD + '''
import pulumi
from ims_pulumi import ImageMetadata

stack = pulumi.get_stack()
suffix = "".join(f"-{s}" for s in [pulumi.Config().get("suffix")] if s)
images = {f"img-{i:03d}": ImageMetadata(f"img-{i:03d}", name=f"{stack}-{i:03d}{suffix}", os_version="Ubuntu 22.04 server 64bit",
                                        tags=[f"stack={stack}"]) for i in range(COUNT)}
pulumi.export("image_ids", {key: image.id for key, image in images.items()})
pulumi.export("image_names", {key: image.name for key, image in images.items()})
'''

CONSUMER = HOLD + '''
import pulumi
from ims_pulumi import ImageMetadata

refs = {name: pulumi.StackReference(f"organization/producer/{name}") for name in STACKS}
for name, ref in refs.items():
    pulumi.export(f"{name}_ids", ref.get_output("image_ids"))
    pulumi.export(f"{name}_names", ref.get_output("image_names"))
# a read-only reference to one of the producer's images, found by the id the producer exported
first = ImageMetadata.get("first", refs[STACKS[0]].get_output("image_ids").apply(lambda ids: ids["img-000"]))
pulumi.export("first_name", first.name)
'''


def producer(root: Path, stack: str, count: int, emu: Emulator, db: Database) -> PulumiProject:
    config, secrets = ims_config(emu.url)
    return PulumiProject.create(root / stack, PRODUCER.replace("COUNT", str(count)), name="producer", stack=stack,
                                config=config, secrets=secrets, backend_url=db.url)


def consumer(root: Path, stacks: list[str], emu: Emulator, db: Database) -> PulumiProject:
    config, secrets = ims_config(emu.url)
    return PulumiProject.create(root / "consumer", CONSUMER.replace("STACKS", repr(stacks)), name="consumer",
                                config=config, secrets=secrets, backend_url=db.url)


def test_two_stacks_update_in_parallel_and_a_consumer_reads_both(tmp_path: Path, emu: Emulator, pg_db: Database,
                                                                 pulumi_cli: None) -> None:
    blue = producer(tmp_path, "blue", 6, emu, pg_db)
    green = producer(tmp_path, "green", 6, emu, pg_db)
    emu.set_faults([{"kind": "latency", "ms": 300, "jitter_ms": 100}])
    logs = {p.stack: (tmp_path / f"{p.stack}-up.log").open("w") for p in (blue, green)}
    try:
        procs = {p.stack: start_cli(p, logs[p.stack], "up", "--yes", "--skip-preview") for p in (blue, green)}
        # each update holds its own stack's lock: both rows at once, so the two really ran together
        wait_for(lambda: len(pg_db.locks()) == 2, 120, "both updates holding their locks at the same time")
        assert all(proc.poll() is None for proc in procs.values())
        codes = {stack: proc.wait(timeout=300) for stack, proc in procs.items()}
    finally:
        for handle in logs.values():
            handle.close()
    assert codes == {"blue": 0, "green": 0}, {s: (tmp_path / f"{s}-up.log").read_text()[-3000:] for s in codes}
    emu.clear_faults()
    assert pg_db.locks() == []
    for p in (blue, green):
        assert len(assert_consistent(p, emu, p.stack)) == 6
    stacks = pg_db.keys("%/.pulumi/stacks/%")
    for project, stack in (("producer", "blue"), ("producer", "green")):
        assert f"{pg_db.name}/.pulumi/stacks/{project}/{stack}.json" in stacks, stacks

    app = consumer(tmp_path, ["blue", "green"], emu, pg_db)
    app.up()
    outputs = app.outputs()
    live = live_by_id(emu)
    for p in (blue, green):
        produced = p.outputs()
        assert outputs[f"{p.stack}_ids"] == produced["image_ids"]
        assert outputs[f"{p.stack}_names"] == produced["image_names"]
        assert {live[i]["name"] for i in produced["image_ids"].values()} == set(produced["image_names"].values())
    assert outputs["first_name"] == "blue-000"

    # a producer changes: the consumer's next update reads the new outputs
    blue.run("config", "set", "suffix", "v2")
    blue.up()
    app.up()
    assert app.outputs()["blue_names"] == {f"img-{i:03d}": f"blue-{i:03d}-v2" for i in range(6)}
    assert app.outputs()["first_name"] == "blue-000-v2"
    app.preview("--expect-no-changes")


def test_database_stopped_during_preview_then_restarted(tmp_path: Path, emu: Emulator, pg_db: Database,
                                                        pulumi_cli: None) -> None:
    server = pg_db.server
    base = producer(tmp_path, "base", 3, emu, pg_db)
    base.up()
    app = consumer(tmp_path, ["base"], emu, pg_db)
    app.up()
    url, before = pg_db.url, pg_db.snapshot()
    password = server.password()

    def preview_while_the_database_stops(project: PulumiProject) -> tuple[int, str]:
        """``pulumi preview``; once its program runs (the stack's state is loaded), stop the database."""
        hold, held = project.dir / "hold", project.dir / "held"
        hold.touch()
        held.unlink(missing_ok=True)
        log_path = tmp_path / f"{project.dir.name}-preview.log"
        with log_path.open("w") as log:
            proc = start_cli(project, log, "preview")
            try:
                wait_for(held.exists, 120, "the program to start")
                assert server.stop(mode="fast")
            finally:
                hold.unlink()
            code = proc.wait(timeout=300)
        return code, log_path.read_text()

    # 1. The consumer reads a StackReference after the database went away: a clear error.
    code, output = preview_while_the_database_stops(app)
    assert code != 0, output[-3000:]
    assert "failed to load checkpoint" in output and "connect: connection refused" in output, output[-4000:]
    assert "organization/producer/base" in output, "the message names the stack it could not read"
    assert password not in output

    # 2. A preview started while the database is down fails at once and names the backend (no secret in it).
    started = time.monotonic()
    down = app.preview(check=False)
    assert down.returncode != 0
    assert f'unable to open state database "{url}": failed to ping PostgreSQL' in down.output, down.output
    assert "connect: connection refused" in down.output
    assert time.monotonic() - started < 60, "no hanging on a database that is down"
    assert password not in down.output

    # 3. Restarted on the same port: nothing was written, everything works again.
    server.start()
    assert pg_db.url == url
    assert pg_db.snapshot() == before, "a failed preview writes nothing"
    app.preview("--expect-no-changes")
    base.preview("--expect-no-changes")

    # 4. A preview whose program does not touch the backend any more finishes from the state it
    #    loaded at start: the database stopping later changes nothing, and nothing is written.
    code, output = preview_while_the_database_stops(base)
    assert code == 0, output[-3000:]
    assert "3 unchanged" in output or "4 unchanged" in output, output[-2000:]
    server.start()
    assert pg_db.snapshot() == before

    base.run("config", "set", "suffix", "after")
    base.up()
    app.up()
    assert app.outputs()["base_names"] == {f"img-{i:03d}": f"base-{i:03d}-after" for i in range(3)}
    assert pg_db.locks() == []
