"""What a test considers the existing images of a project on the emulator (read past auth)."""

from __future__ import annotations

from typing import Any

import requests

from ims_emulator import DEMO_PROJECT_ID
from ims_emulator.process import Emulator

#: Statuses of an image that is gone (or going): never counted as existing.
GONE_STATUSES = frozenset({"deleted", "killed", "pending_delete"})


def live_images(emu: Emulator, prefix: str | None = None, project_id: str = DEMO_PROJECT_ID) -> list[dict[str, Any]]:
    """The project's images that are not gone, oldest first; with ``prefix``, only those named ``{prefix}-...``."""
    return [i for i in emu.images(project_id)
            if i.get("status") not in GONE_STATUSES
            and (prefix is None or str(i.get("name", "")).startswith(prefix + "-"))]


def live_by_id(emu: Emulator, prefix: str | None = None, project_id: str = DEMO_PROJECT_ID) -> dict[str, dict[str, Any]]:
    """:func:`live_images` by image id (in the same order)."""
    return {str(i["id"]): i for i in live_images(emu, prefix, project_id)}


def user_tags(image: dict[str, Any]) -> list[str]:
    """The image's tags without the provider's create-token tag, sorted (what a stack declared)."""
    return sorted(t for t in image.get("tags") or [] if not str(t).startswith("pulumi-create-token="))


def glance_images(url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The images a real Glance lists that are not gone.

    Glance deletes in two transactions (status ``deleted``, then the row's soft delete). On the
    test Glance's SQLite the second can fail with ``database is locked``: the image then stays in
    listings with status ``deleted``, and a further DELETE is refused (``deleted to deleted``), so no
    client can remove it. Glance itself calls it deleted, and so do the provider and these tests.
    """
    body = requests.get(f"{url}/v2/images?limit=1000", headers={"Accept": "application/json", **(headers or {})},
                        timeout=30)
    body.raise_for_status()
    return [i for i in body.json()["images"] if i.get("status") not in GONE_STATUSES]
