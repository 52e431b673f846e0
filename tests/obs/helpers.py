"""Helpers of the OBS tests: stage an object, register it, follow the job."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from ims_emulator import DEMO_PROJECT_ID
from tests.support.emulator_client import Api
from tests.support.s3 import S3Server

#: The bucket every test of tests/obs stages its objects in (under a key prefix of its own).
BUCKET = "ims-staging"
MIB = 1 << 20
#: The first bytes of a QCOW2 file (magic, version 3): enough for the emulator's format check.
QCOW2_HEAD = b"QFI\xfb\x00\x00\x00\x03"


def put_object(s3: S3Server, key: str, data: bytes) -> str:
    """Store ``data`` as ``key`` in :data:`BUCKET`; the ``image_url`` that names it."""
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=data)
    return f"{BUCKET}:{key}"


def register(api: Api, image_id: str, image_url: str) -> requests.Response:
    """``PUT /v1/cloudimages/{image_id}/upload`` ``{"image_url": image_url}``."""
    return api.put(f"/v1/cloudimages/{image_id}/upload", json={"image_url": image_url})


def job_path(job_id: str, project: str = DEMO_PROJECT_ID) -> str:
    """The path of a job of ``project``."""
    return f"/v1/{project}/jobs/{job_id}"


@dataclass
class Followed:
    """What polling a job and its image saw: the last job document and every status in order."""

    job: dict[str, Any]
    image: dict[str, Any]
    job_statuses: list[str] = field(default_factory=list)
    image_statuses: list[str] = field(default_factory=list)


def follow(api: Api, job_id: str, image_id: str, timeout: float = 60.0) -> Followed:
    """Poll the job and the image every 50 ms until the job is ``SUCCESS`` or ``FAIL``."""
    deadline = time.monotonic() + timeout
    seen = Followed(job={}, image={})
    while True:
        job = api.get(job_path(job_id))
        assert job.status_code == 200, job.text
        image = api.get(f"/v2/images/{image_id}")
        assert image.status_code == 200, image.text
        seen.job, seen.image = job.json(), image.json()
        for statuses, status in ((seen.job_statuses, seen.job["status"]), (seen.image_statuses, seen.image["status"])):
            if not statuses or statuses[-1] != status:
                statuses.append(status)
        if seen.job["status"] in ("SUCCESS", "FAIL"):
            # The job and the image change together; one more read of the image settles a race of the two GETs.
            seen.image = api.get(f"/v2/images/{image_id}").json()
            if seen.image_statuses[-1] != seen.image["status"]:
                seen.image_statuses.append(seen.image["status"])
            return seen
        assert time.monotonic() < deadline, f"job {job_id} still {seen.job['status']} after {timeout:.0f} s"
        time.sleep(0.05)


def digests(data: bytes) -> tuple[int, str, str]:
    """Size, MD5 and SHA-512 of ``data``, as the image should report them."""
    return len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()
