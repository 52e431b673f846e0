"""Upload benchmark: the provider's streaming upload against a plain `curl -T` of the same file.

    .venv/bin/python -m bench.upload [--size-mib 1024] [--parallel 4] [--part-mib 256]

Against the local emulator (token auth: AK/SK bodies are limited to 12 MB), it prints:
* throughput of one upload by the provider (in a child process, hashing MD5, SHA-256 and
  SHA-512 as it sends) and by `curl -T`, and their ratio (goal >= 0.8);
* the provider process's peak RSS during the upload (goal <= 100 MB);
* N parallel uploads of part-size files from one provider process (total throughput);
* time from `pulumi up` start to an `active` image of that size, with the real CLI.
The files are sparse (read as zeros), so the disk is not what is measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

from harness.pulumi_cli import PulumiProject
from ims_emulator import DEMO_PROJECT_ID, DEMO_TOKEN
from ims_emulator.process import Emulator

CHILD = textwrap.dedent('''
    import json, sys, threading, time
    from ims_pulumi.dynamic.provider import ImageMetadataProvider
    from ims_pulumi.core.context import ProviderContext
    from ims_pulumi.core import content
    url, token, project, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    raw = {"endpoint": url, "projectId": project, "authToken": token}
    p = ImageMetadataProvider.with_context(ProviderContext(raw, environ={}))
    checked = []
    for i, path in enumerate(paths):
        result = p.check({}, {"name": f"bench-upload-{i}", "disk_format": "raw", "source": content.describe(path),
                              "__create_token": f"{i:032d}"})
        assert not result.failures, result.failures
        checked.append(dict(result.inputs))
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    threads = [threading.Thread(target=p.create, args=(c,)) for c in checked]
    for t in threads: t.start()
    for t in threads: t.join()
    print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
''')


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def provider_run(emu: Emulator, paths: list[Path], cache: Path) -> dict[str, Any]:
    """Upload ``paths`` in parallel from one provider process; seconds and peak RSS (MB)."""
    env = {"IMS_PULUMI_DIGEST_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, emu.url, DEMO_TOKEN, DEMO_PROJECT_ID, *map(str, paths)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin and proc.stdout
    assert proc.stdout.readline().strip() == "ready"  # digests computed (and cached) before timing
    ps = psutil.Process(proc.pid)
    idle = ps.memory_info().rss
    proc.stdin.write("go\n")
    proc.stdin.flush()
    peak = idle
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    result: dict[str, Any] = json.loads(proc.stdout.readline())
    result.update(idle_mb=round(idle / 2**20, 1), peak_mb=round(peak / 2**20, 1))
    return result


def curl_run(emu: Emulator, path: Path) -> float:
    """Seconds for `curl -T` of ``path`` into a fresh image, same endpoint and token."""
    headers = ["-H", f"X-Auth-Token: {DEMO_TOKEN}", "-H", "Content-Type: application/json"]
    made = subprocess.run(["curl", "-fsS", "-X", "POST", *headers, "-d", '{"name":"curl","disk_format":"raw"}',
                           f"{emu.url}/v2/images"], capture_output=True, text=True, check=True)
    image_id = json.loads(made.stdout)["id"]
    started = time.perf_counter()
    subprocess.run(["curl", "-fsS", "-T", str(path), "-H", f"X-Auth-Token: {DEMO_TOKEN}",
                    "-H", "Content-Type: application/octet-stream", f"{emu.url}/v2/images/{image_id}/file"], check=True)
    return time.perf_counter() - started


def cli_run(emu: Emulator, path: Path, tmp: Path) -> float:
    """Seconds from `pulumi up` start to the end of the run (the image is active when it ends)."""
    program = f'''
import pulumi
from ims_pulumi import ImageMetadata
ImageMetadata("big", name="bench-cli-upload", disk_format="raw", source=pulumi.FileAsset({str(path)!r}))
'''
    project = PulumiProject.create(tmp, program, name="upload", config={"ims:endpoint": emu.url,
                                   "ims:projectId": DEMO_PROJECT_ID}, secrets={"ims:authToken": DEMO_TOKEN},
                                   extra_env={"IMS_PULUMI_DIGEST_CACHE": str(tmp / "cache")})
    project.preview()  # hashes the file once (cached): `up` measures the upload
    started = time.perf_counter()
    project.up()
    seconds = time.perf_counter() - started
    project.destroy()
    return seconds


def main() -> None:
    """Run the scenarios and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--part-mib", type=int, default=256)
    args = parser.parse_args()
    size = args.size_mib * 2**20
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        big = sparse(tmp / "big.raw", size)
        parts = [sparse(tmp / f"part{i}.raw", args.part_mib * 2**20) for i in range(args.parallel)]
        with Emulator.start(tmp / "emu") as emu:
            one = provider_run(emu, [big], tmp / "cache")
            emu.reset()
            curl = curl_run(emu, big)
            emu.reset()
            many = provider_run(emu, parts, tmp / "cache")
            emu.reset()
            cli = cli_run(emu, big, tmp / "cli")
        mib = args.size_mib
        print(f"one upload of {mib} MiB: provider {mib / one['seconds']:.0f} MiB/s ({one['seconds']:.2f} s), "
              f"curl -T {mib / curl:.0f} MiB/s ({curl:.2f} s), ratio {curl / one['seconds']:.2f} (goal >= 0.8)")
        print(f"provider RSS: idle {one['idle_mb']} MB, peak {one['peak_mb']} MB during the upload (goal <= 100 MB)")
        total = args.parallel * args.part_mib
        print(f"{args.parallel} x {args.part_mib} MiB in parallel: {total / many['seconds']:.0f} MiB/s in total "
              f"({many['seconds']:.2f} s), peak RSS {many['peak_mb']} MB")
        print(f"pulumi up of one {mib} MiB image to active: {cli:.2f} s")


if __name__ == "__main__":
    main()
