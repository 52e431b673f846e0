"""Which attributes of an image are its custom properties (a lookup's ``properties``, an import's input)."""

from __future__ import annotations

import pytest

from ims_pulumi.core.lookup import ImageInfo, custom_attributes

pytestmark = pytest.mark.unit

IMAGE = {"id": "i1", "name": "n", "status": "active", "checksum": "20439f79e4e9dc95be34b21029221f80",
         "os_hash_algo": "sha512", "__os_type": "Linux", "active_at": "2026-01-01", "team": "web", "tier": 1}


@pytest.mark.parametrize(("key", "custom", "reason"), [
    ("team", True, "set by the user"),
    ("tier", True, "a number the server returned: a string property"),
    ("checksum", False, "the table's `checksum` field (the server's MD5 once data is uploaded): a bug had it as "
                        "a custom property, so an imported image with data showed a change"),
    ("os_hash_algo", False, "set by the server"),
    ("__os_type", False, "IMS's own attribute"),
    ("active_at", False, "IMS's system attribute"),
    ("name", False, "a field of the table"),
])
def test_custom_attributes(key: str, custom: bool, reason: str) -> None:
    assert (key in custom_attributes(IMAGE)) is custom, reason


def test_lookup_properties_are_the_custom_attributes() -> None:
    assert dict(ImageInfo.from_image(IMAGE).properties) == {"team": "web", "tier": "1"}
