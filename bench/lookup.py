"""Lookup benchmark: one `get_images` over 1,000 images of a project (plus the public catalogue).

    .venv/bin/python -m bench.lookup [--n 1000]

Prints the API calls and seconds of a lookup that the server filters (a tag), of one it
cannot (a name regex and an any-of tag set, applied to every page here), and of the same
lookup again in the same run (cached: no call).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from ims_pulumi.core import lookup
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.lookup import Lookups
from ims_pulumi.core.profiles import IMS
from ims_pulumi.core.transport import Credentials, Transport


def main() -> None:
    """Create the images, run the lookups, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Emulator.start(Path(tmp), "--quota", str(args.n + 10)) as emu:
        client = ImsClient(Transport(emu.url, Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID)))
        for i in range(args.n):
            client.create_image({"name": f"svc-{i:04d}", "tags": ["fleet=bench", f"team=t{i % 10}"]})
        for label, filters in (
            ("server-side filter (tag)", {"tags": ["fleet=bench"]}),
            ("client-side filters (regex, any-of tags)", {"name_regex": r"^svc-0\d\d7$", "tags_any": ["team=t7"]}),
        ):
            lookups = Lookups(client, IMS)
            emu.reset_stats()
            started = time.perf_counter()
            found = lookups.get_images(**filters)
            cold = time.perf_counter() - started
            calls = emu.stats()["requests"].get("GET /v2/images", 0)
            started = time.perf_counter()
            lookups.get_images(**filters)
            warm = time.perf_counter() - started
            print(f"{label}: {len(found)} found among {args.n} + public, {calls} list calls "
                  f"(page size {lookup.PAGE_SIZE}), {cold:.3f} s; the same lookup again: {warm * 1000:.2f} ms, 0 calls")


if __name__ == "__main__":
    main()
