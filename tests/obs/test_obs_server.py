"""The local object server that plays OBS: the project's scripts run it, and it does what staging relies on.

``scripts/s3/serve.sh`` (start/status/stop, demo credentials, loopback only, buckets made at start)
and the S3 calls a provider needs to stage a file resumably through boto3: multipart uploads
that can be listed, continued (``ListParts``) and aborted without a trace.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ims_emulator import DEMO_AK, DEMO_SK
from tests.obs.helpers import BUCKET, MIB
from tests.support.s3 import SERVE_SH, S3Server

pytestmark = [pytest.mark.contract]


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SERVE_SH), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def test_serve_sh_defaults_to_the_emulators_demo_credentials() -> None:
    """OBS takes the account's AK/SK: the demo stack signs IMS and OBS requests with the one demo pair."""
    text = SERVE_SH.read_text()
    assert re.search(r'^DEFAULT_ACCESS_KEY="([^"]+)"$', text, re.M).group(1) == DEMO_AK  # type: ignore[union-attr]
    assert re.search(r'^DEFAULT_SECRET_KEY="([^"]+)"$', text, re.M).group(1) == DEMO_SK  # type: ignore[union-attr]


def test_serve_sh_start_status_stop(s3_server: S3Server, tmp_path: Path) -> None:
    """`start` serves on 127.0.0.1 with the buckets of S3_BUCKETS, `status` finds it, `stop` ends it (twice is fine)."""
    state = tmp_path / "s3"
    started = _serve("start", str(state), env={"S3_BUCKETS": "ims-staging other-bucket"})
    try:
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert urlsplit(url).hostname == "127.0.0.1", "loopback only"
        status = _serve("status", str(state))
        assert (status.returncode, status.stdout.strip()) == (0, url)
        again = _serve("start", str(state))
        assert (again.returncode, again.stdout.strip()) == (0, url), "a second start reuses the running server"
        client = boto3.client("s3", endpoint_url=url, aws_access_key_id=DEMO_AK, aws_secret_access_key=DEMO_SK,
                              region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        names = sorted(bucket["Name"] for bucket in client.list_buckets()["Buckets"])
        assert names == ["ims-staging", "other-bucket"]
        pid = int((state / "versitygw.pid").read_text())
        assert "--access" not in Path(f"/proc/{pid}/cmdline").read_text(), "credentials never on the command line"
    finally:
        stopped = _serve("stop", str(state))
    assert stopped.returncode == 0, stopped.stderr
    assert _serve("status", str(state)).returncode == 1
    assert not Path(f"/proc/{pid}").exists()
    assert _serve("stop", str(state)).returncode == 0


def test_multipart_upload_can_be_listed_continued_and_completed(s3_server: S3Server, prefix: str) -> None:
    """What resumable staging needs: an unfinished upload is found again (ListMultipartUploads), its parts
    listed with their ETags (ListParts), the rest uploaded and the object completed."""
    client = s3_server.client()
    key = f"{prefix}staged.qcow2"
    part = os.urandom(5 * MIB)
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    first = client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=part)["ETag"]

    # A later run finds the unfinished upload and what it holds.
    found = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in found] == [(key, upload_id)]
    parts = client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, first, len(part))]

    second = client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=2, Body=b"tail")["ETag"]
    client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(part) + 4
    assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []) == []
    assert client.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-3")["Body"].read() == part[:4]


def test_an_aborted_multipart_upload_leaves_nothing(s3_server: S3Server, prefix: str) -> None:
    client = s3_server.client()
    key = f"{prefix}aborted.raw"
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=os.urandom(MIB))
    client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []) == []
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount") == 0
    with pytest.raises(ClientError) as caught:
        client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert caught.value.response["Error"]["Code"] == "NoSuchUpload"


# Requests the server refuses: a provider's OBS client must sign right (SigV4, the server's region).
# (why, change of the client's settings, HTTP status, S3 error code)
REFUSED = [
    ("a wrong secret key", {"aws_secret_access_key": "not-the-secret"}, 403, "SignatureDoesNotMatch"),
    ("an unknown access key: versitygw answers 404 XAdminUserNotFound where S3 and OBS answer 403 "
     "InvalidAccessKeyId, so a client must not read a 404 as 'no such bucket' without the code",
     {"aws_access_key_id": "UNKNOWNACCESSKEY0000"}, 404, "XAdminUserNotFound"),
]


@pytest.mark.parametrize(("change", "status", "code"), [(change, status, code) for _, change, status, code in REFUSED],
                         ids=[why.split(":")[0] for why, *_ in REFUSED])
def test_badly_signed_requests_are_refused(s3_server: S3Server, change: dict[str, str], status: int,
                                           code: str) -> None:
    settings = {"aws_access_key_id": s3_server.access_key, "aws_secret_access_key": s3_server.secret_key,
                "region_name": s3_server.region, **change}
    client = boto3.client("s3", endpoint_url=s3_server.url, config=Config(s3={"addressing_style": "path"},
                                                                          retries={"max_attempts": 1}), **settings)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket=BUCKET, MaxKeys=1)  # a GET: the error has a body with its code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["Error"]["Code"] == code


def test_a_head_signed_for_another_region_is_refused(s3_server: S3Server) -> None:
    """SigV4 names the region: a HEAD signed for another one is a 400. (botocore redirects a GET by itself, as
    the error body names the server's region; a HEAD has no body, so a client must sign for the right region.)"""
    client = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id=s3_server.access_key,
                          aws_secret_access_key=s3_server.secret_key, region_name="cn-north-4",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as caught:
        client.head_bucket(Bucket=BUCKET)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
