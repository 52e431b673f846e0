"""The content workflow: its decision (workflow.next_step, pure, one case per status) and its typed
failures (one case per raise site, with adoption's and sharing's)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ims_pulumi.core import content, errors, image_ops, sharing, workflow
from ims_pulumi.core.errors import (
    AdoptionMismatch,
    AuthenticationFailed,
    ChecksumMismatch,
    ContentError,
    DigestMismatch,
    ImageError,
    ImportFailed,
    ImsError,
    NotFound,
    NotShareable,
    NotShared,
    PermissionDenied,
    SourceChanged,
    UploadInterrupted,
    UploadLeftImage,
    UrlContentMismatch,
)
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.profiles import GLANCE, IMS
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


# --- typed failures ----------------------------------------------------------------------------
# Each raise site of the content workflow (and of adoption and sharing) raises its own type with
# the facts as attributes; the message, built from them, is pinned word for word: it is what users
# see, and the contract, e2e and Glance tests match parts of it.

IMAGE_ID = "i1"
URL = {"kind": "url", "location": "http://example.test/web.qcow2"}
ABC = b"abc"
ABC_MD5, ABC_SHA256 = hashlib.md5(ABC).hexdigest(), hashlib.sha256(ABC).hexdigest()
FILE = {"kind": "file", "location": "/x.raw", "size": 3, "sha256": ABC_SHA256, "md5": ABC_MD5}
ACTIVE = {"id": IMAGE_ID, "name": "web", "status": "active", "size": 3, "checksum": ABC_MD5}
CAUSE = AuthenticationFailed(operation="upload the file of image i1", status=401, message="bad signature")


class FakeApi:
    """The client calls the workflow makes on these paths, with scripted answers; records deletions."""

    def __init__(self, *, ends: dict[str, Any] | None = None, current: dict[str, Any] | None = None,
                 upload_error: ImsError | None = None) -> None:
        self.ends, self.current, self.upload_error = ends, current, upload_error
        self.deleted: list[str] = []
        self.transport = SimpleNamespace(backoff=lambda attempt: 0.0, sleep=lambda delay: None)

    def budget(self) -> Any:
        return SimpleNamespace(retry=lambda delay, attempt: False)

    def upload_file(self, image_id: str, chunks: Iterable[bytes], size: int | None) -> None:
        for _ in chunks:
            pass
        if self.upload_error:
            raise self.upload_error

    def wait_for_data(self, image_id: str, timeout: float) -> dict[str, Any]:
        assert self.ends is not None
        return self.ends

    wait_for_import = wait_for_data

    def import_image(self, image_id: str, uri: str) -> None:
        pass

    def import_methods(self) -> frozenset[str]:
        return frozenset()

    def get_image(self, image_id: str) -> dict[str, Any] | None:
        return self.current

    def delete_image(self, image_id: str) -> None:
        self.deleted.append(image_id)


def sent(data: bytes) -> content.Hashes:
    hashes = content.Hashes(("md5", "sha256"))
    hashes.update(data)
    return hashes


def file_stream(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(content, "open_source", lambda source, **_: content.Stream(iter([data]), len(data),
                                                                                    lambda: None))


def declared_checksum_of_a_file(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._fill(api, {"id": IMAGE_ID, "status": "queued"}, {"source": FILE, "checksum": "md5:" + "0" * 32},
                   60.0, fresh=True, profile=IMS)


def upload_left_killed(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    file_stream(monkeypatch, b"x" * 1000)
    api.ends = {"id": IMAGE_ID, "status": "killed"}
    workflow._fill(api, {"id": IMAGE_ID, "status": "queued"}, {"source": FILE}, 60.0, fresh=True, profile=IMS)


def upload_cut(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    file_stream(monkeypatch, ABC)
    api.upload_error, api.current = CAUSE, {"id": IMAGE_ID, "status": "queued"}
    workflow._stream_into(api, {"id": IMAGE_ID, "name": "web"}, FILE, None, IMS, False)


def import_failed(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "_probe", lambda url: "from the provider's machine the URL answers 404 Not Found")
    api.ends = {"id": IMAGE_ID, "status": "queued", "os_glance_failed_import": "fs"}
    workflow._import(api, {"id": IMAGE_ID, "name": "web", "status": "queued"}, URL, None, 60.0, False)


def import_killed_fresh(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "_probe", lambda url: "from the provider's machine the URL answers 200 OK")
    api.ends = {"id": IMAGE_ID, "status": "killed"}
    workflow._import(api, {"id": IMAGE_ID, "name": "web", "status": "queued"}, URL, None, 60.0, True)


def url_identified_otherwise(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified_unseen(api, dict(ACTIVE), {**URL, "md5": "a" * 32}, "md5:" + "0" * 32, True)


def url_size_differs(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified_unseen(api, dict(ACTIVE), {**URL, "size": 4}, None, True)


def url_digest_differs_kept(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified_unseen(api, dict(ACTIVE), URL, "md5:" + "0" * 32, False)


def upload_declared_other(api: FakeApi, monkeypatch: pytest.MonkeyPatch, fresh: bool) -> None:
    workflow._verified(api, dict(ACTIVE), FILE, "md5:" + "0" * 32, sent(ABC), fresh)


def server_digest_of_sent_bytes(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified(api, {**ACTIVE, "checksum": "f" * 32}, FILE, None, sent(ABC), False)


def server_digest_of_earlier_bytes(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified(api, {**ACTIVE, "checksum": "f" * 32}, FILE, None, None, False)


def source_changed(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow._verified(api, dict(ACTIVE), {**FILE, "sha256": "a" * 64}, None, sent(ABC), False)


def adopt_other_format(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    desired = IMAGE_METADATA.effective({"name": "web", "disk_format": "raw", "adopt_id": IMAGE_ID}, GLANCE)
    image = {**IMAGE_METADATA.create_body(desired, GLANCE), "id": IMAGE_ID, "status": "active", "disk_format": "qcow2"}
    image_ops._adoptable(IMAGE_METADATA, image, IMAGE_ID, desired, GLANCE)


REFUSED = PermissionDenied(operation="add member p2 to image i1", status=403,
                           message="Not allowed to create members for image i1.")
NOT_FOUND = NotFound(operation="set the status of member p2 of image i1", status=404, message="no such member")


def share_private(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    raise sharing._explain_refused_share(REFUSED, {"visibility": "private"}, IMAGE_ID)


def accept_unshared(api: FakeApi, monkeypatch: pytest.MonkeyPatch, owner: str | None) -> None:
    raise sharing._not_shared(NOT_FOUND, {"owner": owner} if owner else None, IMAGE_ID, "p2")


# (reason, what fails, type, attributes, message, whether the image was deleted)
FAILURES: list[tuple[str, Callable[[FakeApi, pytest.MonkeyPatch], None], type[ImageError], dict[str, Any], str,
                     bool]] = [
    ("a declared checksum the file does not have: refused before any byte is sent", declared_checksum_of_a_file,
     ChecksumMismatch, {"stage": "file", "algorithm": "md5", "expected": "0" * 32, "found": None,
                        "location": "/x.raw", "hint": "fix the file or the checksum"},
     f"upload to image i1: the bytes of /x.raw have md5 {ABC_MD5}, but checksum declares {'0' * 32}: fix the file "
     "or the checksum; nothing was uploaded", False),
    ("the server kept the bytes but killed the image: the image a create made is deleted", upload_left_killed,
     UploadLeftImage, {"expected": "active", "found": "killed", "size": 1000},
     "upload to image i1 failed: the server left the image 'killed' after receiving 1,000 bytes. Check the file's "
     "format against disk_format, then run `pulumi up` again", True),
    ("an upload cut by an error that is not retried: the image stays queued for the next run", upload_cut,
     UploadInterrupted, {"expected": "active", "found": "queued", "cause": CAUSE},
     f"{CAUSE}. The image i1 is 'queued': run `pulumi up` again to upload again into it (no second image is made)",
     False),
    ("a failed web-download into an existing image: the next run imports into it again", import_failed,
     ImportFailed, {"found": "queued", "failed_stores": "fs", "method": "web-download",
                    "location": "http://example.test/web.qcow2"},
     "image i1: the server could not import http://example.test/web.qcow2 (web-download): the image is 'queued' "
     "again (os_glance_failed_import: fs); from the provider's machine the URL answers 404 Not Found. Check that "
     "the URL answers 200 from the server's network, then run `pulumi up` again (it imports into the same image, no "
     "second image is made), or set `ims:urlImport stream` to stream the URL through the provider", False),
    ("a failed web-download into the image this create made: deleted, the next run starts over",
     import_killed_fresh, ImportFailed, {"found": "killed", "failed_stores": None},
     "image i1: the server could not import http://example.test/web.qcow2 (web-download): the image is 'killed' "
     "again and was deleted: the next `pulumi up` starts over; from the provider's machine the URL answers 200 OK. "
     "Check that the URL answers 200 from the server's network, then run `pulumi up` again, or set "
     "`ims:urlImport stream` to stream the URL through the provider", True),
    ("a declared checksum against the digest a URL source was identified by", url_identified_otherwise,
     ChecksumMismatch, {"stage": "url", "algorithm": "md5", "expected": "0" * 32, "found": "a" * 32},
     f"image i1: checksum declares md5 {'0' * 32}, but http://example.test/web.qcow2 was identified by md5 "
     f"{'a' * 32}: fix the checksum or the source", False),
    ("a URL's data of another size than identified, in the image a create made", url_size_differs,
     UrlContentMismatch, {"problems": ["the server reports 3 bytes, but the source was identified with 4"]},
     "image i1: the data read from http://example.test/web.qcow2 is not the declared content: the server reports 3 "
     "bytes, but the source was identified with 4. The image was deleted: fix the URL or the checksum and run "
     "`pulumi up` again", True),
    ("a URL's data against the declared checksum, in an image the stack had: kept, replace it",
     url_digest_differs_kept, UrlContentMismatch,
     {"problems": [f"the server reports md5 {ABC_MD5}, but checksum declares md5 {'0' * 32}"]},
     f"image i1: the data read from http://example.test/web.qcow2 is not the declared content: the server reports "
     f"md5 {ABC_MD5}, but checksum declares md5 {'0' * 32}. Fix the URL or the checksum and run `pulumi up "
     "--replace`", False),
    ("uploaded bytes against the declared checksum, in the image a create made",
     functools.partial(upload_declared_other, fresh=True), ChecksumMismatch,
     {"stage": "upload", "expected": "0" * 32, "found": ABC_MD5},
     f"upload to image i1: the bytes have md5 {ABC_MD5}, but checksum declares {'0' * 32} (the image was deleted): "
     "fix the source or the checksum and run `pulumi up` again", True),
    ("uploaded bytes against the declared checksum, in an image the stack had",
     functools.partial(upload_declared_other, fresh=False), ChecksumMismatch,
     {"stage": "upload", "hint": "fix the source or the checksum and run `pulumi up --replace`"},
     f"upload to image i1: the bytes have md5 {ABC_MD5}, but checksum declares {'0' * 32}; fix the source or the "
     "checksum and run `pulumi up --replace`", False),
    ("the server's MD5 of the bytes just sent differs: corrupted on the way", server_digest_of_sent_bytes,
     DigestMismatch, {"algorithm": "md5", "expected": ABC_MD5, "found": "f" * 32, "sent": True},
     f"image i1: the server reports md5 {'f' * 32}, but the source's bytes have {ABC_MD5}. The upload was corrupted "
     "on the way: run `pulumi up` again after `pulumi refresh`", False),
    ("an image found active with other bytes than the declared file", server_digest_of_earlier_bytes,
     DigestMismatch, {"sent": False},
     f"image i1: the server reports md5 {'f' * 32}, but the source's bytes have {ABC_MD5}. The image holds other "
     "bytes than the declared source: declare that file, or replace the image", False),
    ("the file changed between the preview and the upload", source_changed,
     SourceChanged, {"expected": "a" * 64, "found": ABC_SHA256, "location": "/x.raw"},
     "upload to image i1: /x.raw changed between the preview and the upload (its SHA-256 differs): run `pulumi up` "
     "again to record the bytes that were uploaded", False),
    ("adopting an image whose disk format only a replacement could change", adopt_other_format,
     AdoptionMismatch, {"fields": ["disk_format"], "hint": "declare the image's values instead"},
     "adopt image i1: these fields cannot be changed in place, declare the image's values instead: disk_format: the "
     "image has 'qcow2', the program 'raw'", False),
    ("Glance refuses members of an image that is not shared", share_private,
     NotShareable, {"expected": "shared", "found": "private", "cause": REFUSED},
     "add member p2 to image i1 failed: HTTP 403: Not allowed to create members for image i1. Image i1 has "
     "visibility='private'; on Glance only images with visibility='shared' have members: set visibility='shared' "
     "on its ImageMetadata and run `pulumi up`, then add the member", False),
    ("accepting an image not shared with this project, owner known", functools.partial(accept_unshared, owner="p0"),
     NotShared, {"member_id": "p2", "owner": "p0", "cause": NOT_FOUND},
     f"{NOT_FOUND}. Image i1 is not shared with project p2: project p0 must add it as a member first (an "
     "ImageMember with member_id='p2' in the owner's stack), then run `pulumi up` here again", False),
    ("accepting an image not shared with this project, owner unknown", functools.partial(accept_unshared, owner=None),
     NotShared, {"owner": None},
     f"{NOT_FOUND}. Image i1 is not shared with project p2: the image's owner must add it as a member first (an "
     "ImageMember with member_id='p2' in the owner's stack), then run `pulumi up` here again", False),
]


@pytest.mark.parametrize(("reason", "fail", "error", "attributes", "message", "deleted"), FAILURES,
                         ids=[case[0] for case in FAILURES])
def test_each_failure_has_its_type_attributes_and_message(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], reason: str,
        fail: Callable[[FakeApi, pytest.MonkeyPatch], None], error: type[ImageError], attributes: dict[str, Any],
        message: str, deleted: bool) -> None:
    api = FakeApi()
    with pytest.raises(ImsError) as raised:
        fail(api, monkeypatch)
    assert type(raised.value) is error, reason
    assert isinstance(raised.value, ImageError) and raised.value.image_id == IMAGE_ID
    assert {name: getattr(raised.value, name) for name in attributes} == attributes, reason
    assert str(raised.value) == message, reason
    assert raised.value.hint and raised.value.hint in message, "the hint is part of what users see"
    assert (api.deleted == [IMAGE_ID]) is deleted, reason
    if isinstance(raised.value, ContentError):
        assert raised.value.deleted is deleted, "the error says whether the image was deleted"


#: Types of the family whose raise sites need a real object store, so their cases live with it.
RAISED_ELSEWHERE: dict[type[ImageError], str] = {
    errors.RegistrationFailed: "tests/obs/test_obs_staging.py",  # a registration job that fails, against versitygw
}


def test_every_content_failure_type_is_raised_somewhere() -> None:
    """A type of the family that no case raises is a type nobody raises (or a case missing here)."""
    raised = {case[2] for case in FAILURES}
    for cls, where in RAISED_ELSEWHERE.items():
        text = (Path(__file__).resolve().parents[2] / where).read_text()
        assert f"pytest.raises({cls.__name__})" in text, f"{where} no longer raises {cls.__name__}"
        raised.add(cls)
    family = {cls for cls in vars(errors).values()
              if isinstance(cls, type) and issubclass(cls, ImageError) and not cls.__subclasses__()}
    assert family == raised
