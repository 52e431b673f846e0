"""Image data of ``PUT /v2/images/{id}/file``: digests while streaming, and kept bytes.

An upload is hashed chunk by chunk as it arrives (MD5 for IMS's ``checksum``, SHA-512 for
Glance's ``os_hash_value``), so memory stays constant whatever the size. By default the
bytes are then thrown away. With the ``keep_image_data`` setting they are also written to
``<data>/images/<image id>`` (``<image id>.part`` while the upload runs), so a test can
compare what arrived with what was sent (``GET /_emulator/images/{id}/file``).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The hash algorithm of ``os_hash_algo``/``os_hash_value`` (Glance's default, ``hashing_algorithm``).
OS_HASH_ALGO = "sha512"
PARTIAL_SUFFIX = ".part"


@dataclass
class Digests:
    """Size, MD5 and SHA-512 of the bytes seen so far."""

    size: int = 0
    _md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    _sha512: Any = field(default_factory=lambda: hashlib.sha512())

    def update(self, chunk: bytes | memoryview) -> None:
        """Account for one more chunk."""
        self._md5.update(chunk)
        self._sha512.update(chunk)
        self.size += len(chunk)

    @property
    def md5(self) -> str:
        """Hex MD5 (IMS ``checksum``)."""
        return str(self._md5.hexdigest())

    @property
    def sha512(self) -> str:
        """Hex SHA-512 (Glance ``os_hash_value``)."""
        return str(self._sha512.hexdigest())


class ImageFiles:
    """Kept image data under ``<data>/images``; image ids come from the store, never raw from a URL."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "images"

    def path(self, image_id: str) -> Path:
        """Where the complete data of ``image_id`` is kept."""
        return self.root / image_id

    def _partial(self, image_id: str) -> Path:
        return self.root / f"{image_id}{PARTIAL_SUFFIX}"

    def open_partial(self, image_id: str) -> IO[bytes]:
        """A new, empty ``<id>.part`` to write an upload into."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self._partial(image_id).open("wb")

    def commit(self, image_id: str) -> None:
        """The upload is complete: ``<id>.part`` becomes ``<id>``."""
        self._partial(image_id).replace(self.path(image_id))

    def discard(self, image_id: str) -> None:
        """Forget an unfinished upload of ``image_id``."""
        self._partial(image_id).unlink(missing_ok=True)

    def remove(self, image_id: str) -> None:
        """Forget everything kept for ``image_id`` (the image was deleted)."""
        self.discard(image_id)
        self.path(image_id).unlink(missing_ok=True)

    def remove_partials(self) -> None:
        """Drop the leftovers of uploads a shutdown interrupted."""
        if self.root.is_dir():
            for partial in self.root.glob(f"*{PARTIAL_SUFFIX}"):
                partial.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget all kept data."""
        shutil.rmtree(self.root, ignore_errors=True)
