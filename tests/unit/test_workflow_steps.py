"""The decision of the content workflow (workflow.next_step): pure, one case per status."""

from __future__ import annotations

import pytest

from ims_pulumi.core.workflow import Step, next_step

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("status", "kind", "waited", "step", "reason"), [
    ("queued", "file", False, Step.TRANSFER, "no data yet: upload"),
    ("queued", "url", False, Step.TRANSFER, "no data yet: stream or import the URL"),
    ("active", "file", False, Step.VERIFY, "data already there: verify, never upload again"),
    ("active", "url", False, Step.VERIFY_UNSEEN, "a URL's bytes were not seen by the provider"),
    ("importing", "url", False, Step.WAIT_IMPORT, "an earlier run's import decides, not a second one"),
    ("saving", "file", False, Step.WAIT_DATA, "an earlier run's upload decides"),
    ("queued", "url", True, Step.TRANSFER, "the import failed and Glance put the image back: import again"),
    ("saving", "file", True, Step.TRANSFER, "waited once already: fill again (the upload reports the status)"),
    ("active", "file", True, Step.VERIFY, "the earlier run's data arrived: verify it"),
    ("killed", "file", False, Step.TRANSFER, "the upload fails with the status and what to do"),
])
def test_next_step(status: str, kind: str, waited: bool, step: Step, reason: str) -> None:
    assert next_step(status, kind, waited=waited) is step, reason
