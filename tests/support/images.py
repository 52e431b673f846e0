"""What a test considers the existing images of a project on the emulator (read past auth)."""

from __future__ import annotations

from typing import Any

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
