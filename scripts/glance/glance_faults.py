"""Glance's WSGI application with an optional fault for tests: the half-committed create.

``run_glance.py --fault-file PATH`` serves ``glance_faults:application`` instead of
``glance.wsgi.api:application`` (gunicorn imports this file from ``scripts/glance``). It is Glance's
own application; the only difference is a wrapper around ``glance.db.ImageRepo.add``, the step of
``POST /v2/images`` that stores a new image. Glance 33 stores it in two database transactions:
``image_create`` (the image row and its properties) and then ``image_tag_set_all`` (the tags). When
the second one fails (SQLite's ``database is locked``, a MySQL deadlock or failover), the image
row stays and the client gets a 500: an image without tags that the client does not know about.

The wrapper makes that happen on purpose for a share of creates. It reads ``PATH`` (JSON) at every
create, so a test can switch it on and off while Glance runs::

    {"half_commit_rate": 0.3}

No file, an unreadable one or a rate of 0: Glance behaves as it always does (the default). A fired
fault stores the image with no tags and raises, which Glance answers with 500; it is logged as
``half-commit fired`` in ``glance-api.log`` and its image id appended to ``PATH.fired``. Only the standard library and Glance are used: this
file runs in the Glance venv.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from typing import Any

import glance.db
from glance.wsgi.api import application  # noqa: F401  (what gunicorn serves)

#: The environment variable through which ``run_glance.py`` passes ``--fault-file``.
FAULT_FILE_ENV = "IMS_GLANCE_FAULT_FILE"
LOG = logging.getLogger("glance_faults")
_RANDOM = random.Random()
_ORIGINAL_ADD = glance.db.ImageRepo.add


class InjectedHalfCommit(Exception):
    """The tag write "failed" after the image row was committed (a test fault)."""


def half_commit_rate() -> float:
    """The share of creates to half-commit now (0 without a readable fault file)."""
    path = os.environ.get(FAULT_FILE_ENV)
    if not path:
        return 0.0
    try:
        with open(path, encoding="utf-8") as handle:
            rate = float(json.load(handle).get("half_commit_rate", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0
    return min(max(rate, 0.0), 1.0)


def _add(self: Any, image: Any) -> None:
    """``ImageRepo.add``: store the image; for a share of creates, store it without its tags and fail."""
    rate = half_commit_rate()
    if rate <= 0 or _RANDOM.random() >= rate:
        _ORIGINAL_ADD(self, image)
        return
    tags = set(image.tags)
    image.tags = set()
    try:
        _ORIGINAL_ADD(self, image)  # the image row commits; its (now empty) tag write succeeds
    finally:
        image.tags = tags
    LOG.warning("glance_faults: half-commit fired: image %s stored without its tags %s", image.image_id, sorted(tags))
    with contextlib.suppress(OSError), open(os.environ[FAULT_FILE_ENV] + ".fired", "a", encoding="utf-8") as out:
        out.write(f"{image.image_id}\n")  # one line per fired fault, for the tests to count
    raise InjectedHalfCommit(f"injected half-commit: the tags of image {image.image_id} were not stored "
                             "(database is locked)")


glance.db.ImageRepo.add = _add
