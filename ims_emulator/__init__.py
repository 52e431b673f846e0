"""Local emulator of the Huawei Cloud IMS OpenStack-native (Glance v2 compatible) image API.

Run it with ``python -m ims_emulator`` (see ``ims_emulator/README.md``). With no ``--identity`` or
``--token`` option it accepts the demo credentials below; they are public and only meant
for local development, the provider's README and ``make up``.

``PLATFORM_PROJECT_ID`` owns the catalogue of public images (``ims_emulator/catalogue.py``)
that every project sees next to its own images. It is no user's project: the emulator
refuses requests made in it.
"""

from __future__ import annotations

DEMO_AK = "IMSDEMOACCESSKEY0001"
DEMO_SK = "ims-demo-secret-key-do-not-use-in-production"
DEMO_PROJECT_ID = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"
DEMO_TOKEN = "ims-demo-token"
PLATFORM_PROJECT_ID = "19261e002cd055a7abda2eb00117d483"
#: Header (value ``1``) that every ``/_emulator/*`` request other than GET/HEAD must carry: a web page
#: in a browser cannot add it to a cross-origin request without a CORS preflight, which fails.
CONTROL_HEADER = "X-Emulator-Control"

__all__ = ["CONTROL_HEADER", "DEMO_AK", "DEMO_PROJECT_ID", "DEMO_SK", "DEMO_TOKEN", "PLATFORM_PROJECT_ID"]
