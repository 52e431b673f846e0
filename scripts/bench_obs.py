#!/usr/bin/env python3
"""Benchmark of staging in OBS (issue 26): figures, never assertions.

For each size (default 1 GiB and 5 GiB) a file is written, then, against a local S3-compatible server
(versitygw, ``scripts/s3/serve.sh``) and the emulator reading from it:

* **boto3** ``upload_file`` of the file (the object-store client's own multipart upload, default
  ``TransferConfig``), before and after the provider's run: the baseline; once more with the
  provider's checksum setting (``request_checksum_calculation="when_required"``: no CRC32 with each
  part, which not every S3-compatible server takes), where versitygw computes a CRC64NVME of every
  byte instead;
* **the provider** in a process of its own, as the dynamic provider's process runs it: ``check`` (the
  file is hashed: its digests are cached as at ``pulumi preview``, and the cache is cold), ``create``
  (metadata, staging, registration, wait for ``active``, clean-up); the process reports the time of
  the staging itself (multipart upload and complete; boto3's import and the client's build are in
  it, ``client_s`` of its line), the time from ``create`` to ``active``, and its peak RSS (sampled
  every 10 ms from ``/proc/self/statm``, imports included);
* **CPU seconds** of each upload, of the uploading process and of versitygw (``/proc/PID/stat``): on
  a shared machine the wall times follow the load, the CPU each side spends much less;
* with ``--cli``, also ``pulumi up`` of a one-image program with the real CLI (the digest cache warm):
  wall time from the command's start to its end with the image ``active``.

Printed: per size, MB/s of the baseline and of the provider's staging, their ratio (the issue asks
>= 0.8), the ratio to the baseline with the provider's checksum setting, the provider's peak RSS
(asks <= 150 MB), the times, and the CPU seconds per GiB (uploader + versitygw) of each, with the
load average. The machine is shared: run it when it is quiet, and read the figures as this run's,
not as a promise.

Usage::

    python scripts/bench_obs.py                 # 1 GiB and 5 GiB
    python scripts/bench_obs.py --sizes 0.25    # a quick look
    python scripts/bench_obs.py --cli           # also time `pulumi up` to active
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
for entry in (str(REPO), str(REPO / "providers")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK  # noqa: E402
from ims_emulator.process import Emulator  # noqa: E402
from tests.support.s3 import S3Server  # noqa: E402

BUCKET = "ims-bench"
GIB = 1 << 30
QCOW2_HEAD = b"QFI\xfb\x00\x00\x00\x03"

#: The provider's run, in a process of its own (its peak RSS is the provider's, not this script's).
CHILD = r"""
import json, os, sys, threading, time

# Peak resident memory, sampled: ru_maxrss would carry the forking parent's peak across exec.
page, peak = os.sysconf("SC_PAGE_SIZE"), [0]

def sample():
    while True:
        with open("/proc/self/statm") as statm:
            peak[0] = max(peak[0], int(statm.read().split()[1]) * page)
        time.sleep(0.01)

threading.Thread(target=sample, daemon=True).start()
from ims_pulumi.core import content, staging
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.dynamic.provider import ImageMetadataProvider

spent = {"stage": 0.0, "cpu": 0.0, "server_cpu": 0.0, "client": 0.0}
upload, complete, client = staging.upload, staging.ObjectStore.complete, staging.ObjectStore.client

def timed_client(self):
    started = time.monotonic()
    try:
        return client(self)
    finally:
        spent["client"] += time.monotonic() - started  # the first call imports boto3 and builds the client

def server_cpu():
    with open(f"/proc/{os.environ['SERVER_PID']}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def timed(call):
    def run(*args, **kwargs):
        started, cpu, server = time.monotonic(), os.times(), server_cpu()
        try:
            return call(*args, **kwargs)
        finally:
            after = os.times()
            spent["stage"] += time.monotonic() - started
            spent["cpu"] += after.user + after.system - cpu.user - cpu.system
            spent["server_cpu"] += server_cpu() - server
    return run

timed_upload, timed_complete = timed(upload), timed(complete)

staging.upload, staging.ObjectStore.complete, staging.ObjectStore.client = timed_upload, timed_complete, timed_client
os.environ["IMS_PULUMI_PROGRESS_EVERY"] = "3600"
provider = ImageMetadataProvider.with_context(ProviderContext(json.loads(os.environ["SETTINGS"])))
started = time.monotonic()
checked = provider.check({}, {"name": "bench", "disk_format": "qcow2", "__create_token": os.environ["TOKEN"],
                              "source": content.describe(os.environ["FILE"])})
assert not checked.failures, checked.failures
hashed = time.monotonic()
created = provider.create(dict(checked.inputs))
active = time.monotonic()
provider.delete(created.id, created.outs)
print(json.dumps({"status": created.outs["status"], "size": created.outs["size"], "hash_s": hashed - started,
                  "stage_s": spent["stage"], "stage_cpu_s": spent["cpu"], "server_cpu_s": spent["server_cpu"],
                  "client_s": spent["client"],
                  "create_to_active_s": active - hashed, "peak_rss_mb": peak[0] / 2**20}))
"""

PROGRAM = """
import pulumi
from ims_pulumi import ImageMetadata

image = ImageMetadata("bench", name="bench-cli", disk_format="qcow2", source=pulumi.FileAsset({path!r}))
pulumi.export("status", image.status)
"""


def write_file(path: Path, size: int) -> None:
    """``size`` bytes: a QCOW2 magic, then a 64 MiB random block repeated (written fast, not compressible)."""
    block = os.urandom(64 << 20)
    with path.open("wb") as handle:
        handle.write(QCOW2_HEAD)
        left = size - len(QCOW2_HEAD)
        while left > 0:
            piece = block[:left]
            handle.write(piece)
            left -= len(piece)


def server_cpu(s3: S3Server) -> float:
    """CPU seconds versitygw has spent so far."""
    assert s3.process is not None
    fields = Path(f"/proc/{s3.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline(s3: S3Server, path: Path, checksums: Literal["when_supported", "when_required"] | None = None,
             ) -> tuple[float, float, float]:
    """Seconds of boto3's ``upload_file`` of ``path`` (default transfer settings), and the CPU seconds of
    this process and of versitygw it took; the object is deleted. ``checksums``: the client's
    ``request_checksum_calculation`` (``None``: boto3's default, ``when_supported``)."""
    client = s3.client()
    if checksums is not None:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=s3.url, aws_access_key_id=s3.access_key,
                              aws_secret_access_key=s3.secret_key, region_name=s3.region,
                              config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                            request_checksum_calculation=checksums))
    started, cpu, server = time.monotonic(), os.times(), server_cpu(s3)
    client.upload_file(str(path), BUCKET, "baseline/" + path.name)
    spent, after = time.monotonic() - started, os.times()
    used = (after.user + after.system - cpu.user - cpu.system, server_cpu(s3) - server)
    client.delete_object(Bucket=BUCKET, Key="baseline/" + path.name)
    return spent, *used


def provider_run(emu: Emulator, s3: S3Server, path: Path, cache: Path, token: str) -> dict[str, Any]:
    """The provider's check and create in a process of its own; what it reports."""
    settings = {"endpoint": emu.url, "projectId": DEMO_PROJECT_ID, "accessKey": DEMO_AK, "secretKey": DEMO_SK,
                "obsBucket": BUCKET, "obsEndpoint": s3.url}
    assert s3.process is not None
    env = {**os.environ, "SETTINGS": json.dumps(settings), "FILE": str(path), "TOKEN": token,
           "SERVER_PID": str(s3.process.pid),
           "IMS_PULUMI_DIGEST_CACHE": str(cache), "PYTHONPATH": f"{REPO}:{REPO / 'providers'}"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the provider's run failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def cli_run(emu: Emulator, s3: S3Server, path: Path, work: Path, cache: Path) -> float:
    """Seconds of ``pulumi up`` of one image staged from ``path`` (then destroyed)."""
    from harness.pulumi_cli import PulumiProject, ims_config

    config, secrets = ims_config(emu.url)
    config.update({"ims:obsBucket": BUCKET, "ims:obsEndpoint": s3.url})
    project = PulumiProject.create(work, PROGRAM.format(path=str(path)), config=config, secrets=secrets,
                                   extra_env={"IMS_PULUMI_DIGEST_CACHE": str(cache)})
    started = time.monotonic()
    project.up()
    spent = time.monotonic() - started
    status = project.outputs().get("status")
    project.destroy()
    if status != "active":
        raise SystemExit(f"pulumi up ended with the image {status!r}")
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--sizes", default="1,5", help="file sizes in GiB, comma-separated (default 1,5)")
    parser.add_argument("--cli", action="store_true", help="also time `pulumi up` to active with the real CLI")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-obs-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, cpu_rows = [], []
    load_before = os.getloadavg()
    with S3Server.start(work / "s3") as s3:
        s3.make_bucket(BUCKET)
        with Emulator.start(None, "--obs-endpoint", s3.url, "--obs-credentials", s3.credentials,
                            "--upload-delay", "0") as emu:
            for index, gib in enumerate(sizes):
                size = int(gib * GIB)
                path = work / f"disk-{gib:g}GiB.qcow2"
                print(f"-- {gib:g} GiB ({size:,} bytes): writing the file", file=sys.stderr, flush=True)
                write_file(path, size)
                before = baseline(s3, path)
                print(f"   boto3 upload_file: {before[0]:.1f} s (CPU {before[1]:.1f} s, versitygw {before[2]:.1f} s)",
                      file=sys.stderr, flush=True)
                run = provider_run(emu, s3, path, work / f"cache-{index}", f"bench{index:027d}")
                print(f"   provider: {json.dumps(run)}", file=sys.stderr, flush=True)
                after = baseline(s3, path)
                print(f"   boto3 upload_file again: {after[0]:.1f} s (CPU {after[1]:.1f} s, versitygw {after[2]:.1f} s)",
                      file=sys.stderr, flush=True)
                same = baseline(s3, path, "when_required")
                print(f"   boto3 upload_file, no CRC32: {same[0]:.1f} s (CPU {same[1]:.1f} s, versitygw "
                      f"{same[2]:.1f} s)", file=sys.stderr, flush=True)
                cli = cli_run(emu, s3, path, work / f"cli-{index}", work / f"cache-{index}") if args.cli else None
                base = (before[0] + after[0]) / 2
                rows.append((gib, size / base / 1e6, size / run["stage_s"] / 1e6, base / run["stage_s"],
                             same[0] / run["stage_s"], run["peak_rss_mb"], run["hash_s"], run["create_to_active_s"],
                             cli))
                cpu_rows.append((gib, ((before[1] + after[1]) / 2 / gib, (before[2] + after[2]) / 2 / gib),
                                 (same[1] / gib, same[2] / gib), (run["stage_cpu_s"] / gib, run["server_cpu_s"] / gib)))
                path.unlink()
    load_after = os.getloadavg()
    print(f"{'size':>8} {'boto3 MB/s':>11} {'provider MB/s':>14} {'ratio':>6} {'no-CRC ratio':>12} {'peak RSS MiB':>12} "
          f"{'hash s':>7} {'create->active s':>17} {'pulumi up s':>12}")
    for gib, base_rate, rate, ratio, same_ratio, rss, hashed, active, cli in rows:
        shown = f"{cli:12.1f}" if cli is not None else f"{'-':>12}"
        print(f"{gib:>5g} GiB {base_rate:11.1f} {rate:14.1f} {ratio:6.2f} {same_ratio:12.2f} {rss:12.1f} {hashed:7.1f} "
              f"{active:17.1f} {shown}")
    print(f"\nCPU seconds per GiB, uploader + versitygw ({os.cpu_count()} cores; load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after)")
    print(f"{'size':>8} {'boto3':>17} {'boto3, no CRC32':>17} {'provider':>17}")
    for gib, *sides in cpu_rows:
        print(f"{gib:>5g} GiB " + " ".join(f"{c:5.2f} + {v:4.2f} = {c + v:4.2f}".rjust(17) for c, v in sides))
    print("ratio: provider staging throughput / boto3 upload_file (mean of the runs before and after); no-CRC "
          "ratio: the same against boto3 with the provider's checksum setting (one run); peak RSS: the provider's "
          "process, imports included; create->active: metadata, staging, registration (the emulator reads the "
          "object back), clean-up")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
