"""Huawei's official SDK (``huaweicloudsdkims``) registers an OBS object and follows its job against the emulator.

``register_image`` (``RegisterImageRequest``) and ``show_job`` (``ShowJobRequest``, deprecated in the
SDK but the documented way to follow a registration) go unchanged through the emulator, signed
with AK/SK by the SDK itself; the object is read from the real local object server.
"""

from __future__ import annotations

import os
import time

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import ImsClient
from huaweicloudsdkims.v2.model import (
    GlanceCreateImageMetadataRequest,
    GlanceCreateImageMetadataRequestBody,
    GlanceShowImageRequest,
    RegisterImageRequest,
    RegisterImageRequestBody,
    ShowJobRequest,
)

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK
from ims_emulator.process import Emulator
from tests.obs.helpers import BUCKET, MIB, QCOW2_HEAD, digests, put_object
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.contract, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def sdk(obs_emu: Emulator) -> ImsClient:
    """An SDK client of the OBS-enabled emulator with the demo identity."""
    credentials = BasicCredentials(DEMO_AK, DEMO_SK, DEMO_PROJECT_ID)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoints([obs_emu.url]).build()


def _create(sdk: ImsClient, name: str) -> str:
    body = GlanceCreateImageMetadataRequestBody(name=name, disk_format="qcow2", os_version="Ubuntu 22.04 server 64bit")
    return str(sdk.glance_create_image_metadata(GlanceCreateImageMetadataRequest(body=body)).id)


def test_sdk_register_image_and_show_job(sdk: ImsClient, s3_server: S3Server, prefix: str) -> None:
    data = QCOW2_HEAD + os.urandom(2 * MIB)
    url = put_object(s3_server, f"{prefix}ubuntu.qcow2", data)
    image_id = _create(sdk, "sdk-registered")

    registered = sdk.register_image(RegisterImageRequest(image_id=image_id,
                                                         body=RegisterImageRequestBody(image_url=url)))
    assert registered.status_code == 200
    assert registered.job_id

    deadline = time.monotonic() + 60
    while True:
        job = sdk.show_job(ShowJobRequest(job_id=registered.job_id))
        if job.status in ("SUCCESS", "FAIL"):
            break
        assert job.status in ("INIT", "RUNNING")
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)
    assert (job.status, job.job_type, job.entities.image_id) == ("SUCCESS", "imsNativeImportImageJob", image_id)
    assert job.entities.process_percent == 1.0

    shown = sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id))
    size, md5, _ = digests(data)
    assert (shown.status, shown.size, shown.checksum, shown.image_size) == ("active", size, md5, str(size))


def test_sdk_register_image_errors_are_client_request_exceptions(sdk: ImsClient, prefix: str) -> None:
    image_id = _create(sdk, "sdk-missing")
    with pytest.raises(ClientRequestException) as caught:
        sdk.register_image(RegisterImageRequest(
            image_id=image_id, body=RegisterImageRequestBody(image_url=f"{BUCKET}:{prefix}missing.qcow2")))
    assert (caught.value.status_code, caught.value.error_code) == (400, "IMG.0057")
    assert "does not exist" in caught.value.error_msg


def test_sdk_show_job_of_a_failed_registration_names_the_reason(sdk: ImsClient, s3_server: S3Server,
                                                                 prefix: str) -> None:
    url = put_object(s3_server, f"{prefix}not-really.qcow2", os.urandom(4096))
    image_id = _create(sdk, "sdk-failed")
    job_id = sdk.register_image(RegisterImageRequest(image_id=image_id,
                                                     body=RegisterImageRequestBody(image_url=url))).job_id
    deadline = time.monotonic() + 60
    while (job := sdk.show_job(ShowJobRequest(job_id=job_id))).status not in ("SUCCESS", "FAIL"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (job.status, job.error_code) == ("FAIL", "IMG.0057")
    assert "QCOW2" in job.fail_reason
    assert sdk.glance_show_image(GlanceShowImageRequest(image_id=image_id)).status == "killed"
