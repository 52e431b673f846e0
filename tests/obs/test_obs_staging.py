"""Staging in OBS and registration through the provider (issue 26), against the emulator reading from a
real S3-compatible server (versitygw, tests/support/s3.py): a 40 MiB file with AK/SK staged and registered,
an object already in the bucket registered as it is, a run killed mid-staging or mid-registration that
converges, a failing registration that names its reason, destroy leaving nothing behind, and every request
(to IMS and to the object store) one of the provider's tables lists."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from ims_emulator import DEMO_AK, DEMO_PROJECT_ID, DEMO_SK, DEMO_TOKEN
from ims_emulator.process import Emulator
from ims_pulumi.core import api_surface, content, staging, transfer
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.core.errors import ChecksumMismatch, RegistrationFailed, SourceChanged, UrlContentMismatch
from ims_pulumi.core.transport import Credentials, Response, Transport
from ims_pulumi.dynamic.provider import ImageMetadataProvider
from tests.obs.helpers import BUCKET, MIB, QCOW2_HEAD, put_object
from tests.support.images import live_images
from tests.support.s3 import S3Server

pytestmark = [pytest.mark.contract]

REPO = Path(__file__).resolve().parents[2]


class Recording(Transport):
    """A transport that notes every IMS request it sends (method, path with query, JSON body)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        query = kwargs.get("query") or ()
        self.sent.append((method, path + (f"?{urlencode(list(query))}" if query else ""), kwargs.get("json_body")))
        return super().request(method, path, **kwargs)


def settings(emu: Emulator, s3: S3Server, **extra: str) -> dict[str, str]:
    """Provider settings: the emulator with the demo AK/SK, staging in :data:`BUCKET` of ``s3``."""
    return {"endpoint": emu.url, "projectId": DEMO_PROJECT_ID, "accessKey": DEMO_AK, "secretKey": DEMO_SK,
            "obsBucket": BUCKET, "obsEndpoint": s3.url, **extra}


class Provider:
    """The dynamic provider on a context whose IMS requests and object-store calls are recorded."""

    def __init__(self, raw: dict[str, str], emu: Emulator) -> None:
        creds = (Credentials(auth_token=raw["authToken"]) if "authToken" in raw else
                 Credentials(DEMO_AK, DEMO_SK, project_id=DEMO_PROJECT_ID))
        self.transport = Recording(emu.url, creds)
        self.context = ProviderContext(raw, client=ImsClient(self.transport, poll_interval=0.1))
        self.p = ImageMetadataProvider.with_context(self.context)
        self.obs_calls: list[tuple[str, dict[str, Any]]] = []
        self._hooked = False

    def store_calls(self) -> None:
        """Record every object-store call from now on (the store is made here if it was not)."""
        if not self._hooked:
            events = self.context.object_store().client().meta.events
            events.register("provide-client-params.s3", self._note)
            self._hooked = True

    def _note(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.obs_calls.append((model.name, {k: v for k, v in params.items() if k != "Body"}))

    def operations(self) -> list[str]:
        return [name for name, _ in self.obs_calls]

    def check(self, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.p.check(olds or {}, news)
        assert not result.failures, result.failures
        return dict(result.inputs)


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """A 40 MiB QCOW2-looking file (over the 12 MB that AK/SK requests may carry)."""
    path = tmp_path / "disk.qcow2"
    path.write_bytes(QCOW2_HEAD + os.urandom(40 * MIB - len(QCOW2_HEAD)))
    return path


@pytest.fixture(autouse=True)
def digest_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_PULUMI_DIGEST_CACHE", str(tmp_path / "digests"))


def declared(name: str, source: Any, token: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "disk_format": "qcow2", "source": source, "__create_token": token, **extra}


def staged_leftovers(s3: S3Server, image_id: str) -> tuple[list[str], list[str]]:
    """The objects and the unfinished uploads under the image's staging folder."""
    client = s3.client()
    prefix = transfer.image_prefix(image_id)
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])]
    return objects, uploads


def all_uploads(s3: S3Server) -> list[str]:
    return [u["Key"] for u in s3.client().list_multipart_uploads(Bucket=BUCKET,
                                                                  Prefix=transfer.STAGING_PREFIX).get("Uploads", [])]


def test_a_40_mib_file_with_aksk_is_staged_and_registered(obs_emu: Emulator, s3_server: S3Server, disk: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    provider.store_calls()
    inputs = provider.check(declared("staged", content.describe(str(disk)), "s" * 32))
    assert "will be staged in OBS bucket 'ims-staging'" in capsys.readouterr().err, "preview says which path"
    created = provider.p.create(inputs)
    data = disk.read_bytes()
    assert (created.outs["status"], created.outs["size"]) == ("active", len(data))
    assert created.outs["checksum"] == hashlib.md5(data).hexdigest(), "the server's MD5 of the registered bytes"
    (image,) = live_images(obs_emu)
    assert image["id"] == created.id and image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert staged_leftovers(s3_server, created.id) == ([], []), "the staged object is removed once active"
    err = capsys.readouterr().err
    assert "staging in obs://ims-staging/ims-pulumi/" in err and "uploaded 40.0 MiB of 40.0 MiB (100%)" in err
    assert "registering ims-staging:ims-pulumi/" in err and "image 'active' after" in err

    # every request is in the tables: the registration's body is the documented one
    for method, url, body in provider.transport.sent:
        assert api_surface.problems(method, url, body) == [], (method, url, body)
    registrations = [body for method, url, body in provider.transport.sent if url.endswith("/upload")]
    assert registrations == [{"image_url": f"{BUCKET}:{transfer.image_prefix(created.id)}"
                                           f"{hashlib.sha256(data).hexdigest()[:16]}.qcow2"}]
    assert any(url.startswith(f"/v1/{DEMO_PROJECT_ID}/jobs/") for _, url, _ in provider.transport.sent)
    assert "uploaded 1.0 MiB of 40.0 MiB" not in err, "no native upload (its first progress line)"
    for operation, params in provider.obs_calls:
        assert api_surface.obs_problems(operation, params) == [], (operation, params)
    assert provider.operations().count("UploadPart") == 5, "40 MiB in 8 MiB parts"
    assert {"CreateMultipartUpload", "CompleteMultipartUpload", "DeleteObject"} <= set(provider.operations())

    # the next run finds it active and does nothing to OBS
    calls = len(provider.obs_calls)
    again = provider.p.create(inputs)
    assert again.id == created.id and len(provider.obs_calls) - calls <= 2, "no second image, no second transfer"

    provider.p.delete(created.id, created.outs)
    assert live_images(obs_emu) == [] and staged_leftovers(s3_server, created.id) == ([], [])


def test_a_token_uploads_the_same_file_natively(obs_emu: Emulator, s3_server: S3Server, disk: Path) -> None:
    raw = {"endpoint": obs_emu.url, "authToken": DEMO_TOKEN, "obsBucket": BUCKET, "obsEndpoint": s3_server.url}
    provider = Provider(raw, obs_emu)
    created = provider.p.create(provider.check(declared("native", content.describe(str(disk)), "n" * 32)))
    assert created.outs["status"] == "active"
    assert not any(url.endswith("/upload") for _, url, _ in provider.transport.sent), \
        "below 2 GB a token uploads natively: nothing registered"
    assert provider.context._store is None, "no object store was needed"
    provider.p.delete(created.id, created.outs)


# (reason, declared checksum (None: none; "md5"/"sha256": the right one; "bad": a wrong sha256), read by the provider)
OBJECTS = [
    ("no checksum: registered, nothing read", None, False),
    ("an md5: IMS reports it, nothing read", "md5", False),
    ("a sha256: the provider reads the object to check it", "sha256", True),
]


@pytest.mark.parametrize(("reason", "algorithm", "read"), OBJECTS, ids=[c[0] for c in OBJECTS])
def test_an_object_already_in_the_bucket_is_registered_without_transfer(
        obs_emu: Emulator, s3_server: S3Server, prefix: str, reason: str, algorithm: str | None, read: bool) -> None:
    data = QCOW2_HEAD + os.urandom(3 * MIB)
    key = f"{prefix}base.qcow2"
    put_object(s3_server, key, data)
    checksum = f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}" if algorithm else None
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    provider.store_calls()
    source = content.describe(f"obs://{BUCKET}/{key}", checksum)
    inputs = provider.check(declared("registered", source, "o" * 32, **({"checksum": checksum} if checksum else {})))
    created = provider.p.create(inputs)
    assert (created.outs["status"], created.outs["size"]) == ("active", len(data)), reason
    assert created.outs["checksum"] == (checksum or hashlib.md5(data).hexdigest())
    assert provider.operations() == (["GetObject"] if read else []), (reason, provider.operations())
    registrations = [body for _, url, body in provider.transport.sent if url.endswith("/upload")]
    assert registrations == [{"image_url": f"{BUCKET}:{key}"}]
    provider.p.delete(created.id, created.outs)
    assert live_images(obs_emu) == []
    assert s3_server.client().head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(data), \
        "the user's object is not the provider's to delete"


def test_an_object_whose_declared_sha256_differs_is_refused_and_its_image_deleted(
        obs_emu: Emulator, s3_server: S3Server, prefix: str) -> None:
    data = QCOW2_HEAD + os.urandom(MIB)
    key = f"{prefix}other.qcow2"
    put_object(s3_server, key, data)
    wrong = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    inputs = provider.check(declared("wrong", content.describe(f"obs://{BUCKET}/{key}", wrong), "w" * 32,
                                     checksum=wrong))
    with pytest.raises(UrlContentMismatch) as raised:
        provider.p.create(inputs)
    assert raised.value.deleted and "checksum declares" in str(raised.value)
    assert live_images(obs_emu) == []


def test_a_failed_registration_names_the_reason_and_leaves_nothing(obs_emu: Emulator, s3_server: S3Server,
                                                                   disk: Path) -> None:
    obs_emu.set_faults([{"kind": "kill_registration", "count": 1}])
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    inputs = provider.check(declared("killed", content.describe(str(disk)), "k" * 32))
    with pytest.raises(RegistrationFailed) as raised:
        provider.p.create(inputs)
    error = raised.value
    assert (error.code, error.found, error.deleted) == ("IMG.1075", "killed", True)
    assert "Failed to register the image file" in str(error.reason) and "IMG.1075" in str(error)
    assert error.job_id and f"job {error.job_id} FAIL" in str(error)
    assert live_images(obs_emu) == [], "the killed image this create made is deleted"
    assert staged_leftovers(s3_server, error.image_id) == ([], []), "and its staged object"

    # the next run starts over and succeeds, with one image
    created = provider.p.create(inputs)
    assert created.outs["status"] == "active" and [i["id"] for i in live_images(obs_emu)] == [created.id]
    provider.p.delete(created.id, created.outs)


@pytest.fixture
def web(disk: Path) -> Iterator[str]:
    """The folder of ``disk`` over HTTP (with Content-Length): a URL source."""
    root = disk.parent

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/{disk.name}"
    httpd.shutdown()
    httpd.server_close()


def test_a_url_over_12_mb_is_streamed_into_obs_and_registered(obs_emu: Emulator, s3_server: S3Server, disk: Path,
                                                              web: str, capsys: pytest.CaptureFixture[str]) -> None:
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    inputs = provider.check(declared("from-url", content.describe(web), "u" * 32))
    assert "decided at `pulumi up` from the URL's Content-Length" in capsys.readouterr().err
    created = provider.p.create(inputs)
    assert (created.outs["status"], created.outs["checksum"]) == ("active", hashlib.md5(disk.read_bytes()).hexdigest())
    assert staged_leftovers(s3_server, created.id) == ([], [])
    provider.p.delete(created.id, created.outs)


def test_bytes_that_differ_from_the_checksum_are_never_completed_or_registered(
        obs_emu: Emulator, s3_server: S3Server, disk: Path, web: str) -> None:
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    wrong = "sha512:" + hashlib.sha512(b"not the file").hexdigest()
    # a file is compared before anything is sent (as for the native upload): nothing reaches OBS
    inputs = provider.check(declared("mismatch", content.describe(str(disk)), "m" * 32))
    with pytest.raises(ChecksumMismatch) as raised:
        provider.p.create({**inputs, "checksum": wrong})
    assert raised.value.stage == "file" and provider.context._store is None
    provider.p.delete(raised.value.image_id, inputs)  # left queued, as for the native upload: fix and run again
    # a URL's bytes are hashed while they are staged: the upload is aborted, nothing is registered
    inputs = provider.check(declared("mismatch-url", content.describe(web, wrong), "x" * 32, checksum=wrong))
    with pytest.raises(ChecksumMismatch) as raised:
        provider.p.create(inputs)
    assert raised.value.stage == "upload" and raised.value.deleted
    assert live_images(obs_emu) == []
    assert staged_leftovers(s3_server, raised.value.image_id) == ([], []), "the upload was aborted"
    assert not [body for _, url, body in provider.transport.sent if url.endswith("/upload")], "nothing registered"


# --- the digests of what is staged ------------------------------------------------------------------

FILE = {"kind": "file", "location": "/d.qcow2", "size": 3, "md5": "m" * 32, "sha256": "s" * 64}
# (reason, source, digests the server reports, declared algorithm, digests hashed while staging)
DIGESTS = [
    ("a described file: SHA-256 proves its bytes, its MD5 is the descriptor's", FILE, ("md5",), None, ("sha256",)),
    ("a declared md5 or sha256 is the descriptor's too", FILE, ("md5",), "md5", ("sha256",)),
    ("Glance reports a SHA-512: hashed as well", FILE, ("md5", "sha512"), "sha256", ("sha256", "sha512")),
    ("a declared sha512 is hashed", FILE, ("md5",), "sha512", ("sha256", "sha512")),
    ("a file described without its MD5: MD5, what IMS reports", {**FILE, "md5": None}, ("md5",), None, ("md5",)),
    ("a URL: nothing described, MD5 and the declared one", {"kind": "url", "location": "https://h/d"}, ("md5",),
     "sha256", ("md5", "sha256")),
]


@pytest.mark.parametrize(("reason", "source", "reported", "declared_algorithm", "hashed"), DIGESTS,
                         ids=[c[0] for c in DIGESTS])
def test_what_is_hashed_while_staging(reason: str, source: dict[str, Any], reported: tuple[str, ...],
                                      declared_algorithm: str | None, hashed: tuple[str, ...]) -> None:
    assert staging.digests_to_hash(source, reported, declared_algorithm) == hashed, reason


def test_the_sha256_of_a_described_file_vouches_for_its_md5() -> None:
    data = b"the bytes"
    described = {"kind": "file", "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    hashes = content.Hashes(("sha256",))
    hashes.update(data)
    sent = staging.sent_digests(described, hashes)
    assert (sent.algorithms, sent.size) == (("sha256", "md5"), len(data))
    assert (sent.hexdigest("md5"), sent.hexdigest("sha256")) == (described["md5"], described["sha256"])
    with pytest.raises(TypeError):
        sent.update(b"more")
    other = {**described, "sha256": hashlib.sha256(b"other bytes").hexdigest()}
    assert staging.sent_digests(other, hashes) is hashes, "other bytes than described: no MD5 vouched for"
    url = content.Hashes(("md5",))
    assert staging.sent_digests(described, url) is url, "MD5 hashed: nothing to vouch for"


def test_a_staged_upload_hashes_every_byte_in_order(s3_server: S3Server, prefix: str, tmp_path: Path) -> None:
    data = os.urandom(2 * staging.PART_SIZE + 12345)  # two full parts, a short last one
    path = tmp_path / "three-parts.raw"
    path.write_bytes(data)
    store = staging.ObjectStore(staging.ObsSettings(endpoint=s3_server.url, bucket=BUCKET, region=s3_server.region,
                                                    credentials=Credentials(s3_server.access_key,
                                                                            s3_server.secret_key)), workers=2)
    key = f"{prefix}three-parts.raw"
    staged = staging.upload(store, key, lambda: content.open_source({"kind": "file", "location": str(path)}),
                            algorithms=("sha256", "md5"), reuse_size=None, progress_label="three parts")
    assert staged.hashes is not None and staged.upload_id is not None
    assert (staged.hashes.hexdigest("sha256"), staged.hashes.hexdigest("md5"), staged.hashes.size) == \
        (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))
    assert [number for number, _ in staged.parts] == [1, 2, 3] and staged.sent == len(data)
    store.complete(key, staged.upload_id, staged.parts)
    assert s3_server.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    store.delete(key)
    store.close()


# --- runs that were killed -----------------------------------------------------------------------

CHILD = """
import json, os, sys, time
from ims_pulumi.core import staging
from ims_pulumi.core.client import ImsClient
from ims_pulumi.core.context import ProviderContext
from ims_pulumi.dynamic.provider import ImageMetadataProvider

stop_after = int(os.environ.get("STOP_AFTER_PARTS") or 0)
if stop_after:
    original = staging.ObjectStore.upload_part
    sent = []

    def upload_part(self, *args, **kwargs):
        etag = original(self, *args, **kwargs)
        sent.append(args[2])
        if len(sent) >= stop_after:
            print("PARTS", len(sent), flush=True)
            time.sleep(3600)
        return etag

    staging.ObjectStore.upload_part = upload_part
raw = json.loads(os.environ["SETTINGS"])
provider = ImageMetadataProvider.with_context(ProviderContext(raw))
provider.create(json.loads(os.environ["INPUTS"]))
print("DONE", flush=True)
"""


@pytest.fixture
def child(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def run_child(started: list[subprocess.Popen[str]], raw: dict[str, str], inputs: dict[str, Any],
              stop_after_parts: int = 0) -> subprocess.Popen[str]:
    env = {**os.environ, "SETTINGS": json.dumps(raw), "INPUTS": json.dumps(inputs),
           "STOP_AFTER_PARTS": str(stop_after_parts)}
    process = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    started.append(process)
    return process


def test_a_run_killed_mid_staging_converges_without_an_orphan_upload_or_a_second_image(
        obs_emu: Emulator, s3_server: S3Server, disk: Path, child: list[subprocess.Popen[str]]) -> None:
    raw = settings(obs_emu, s3_server)
    provider = Provider(raw, obs_emu)
    inputs = provider.check(declared("resumed", content.describe(str(disk)), "r" * 32))
    process = run_child(child, raw, inputs, stop_after_parts=2)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PARTS"), (line, process.stderr.read() if process.poll() is not None else "")
    process.send_signal(signal.SIGKILL)  # the run dies mid-staging: no clean-up of any kind
    process.wait()
    (image,) = live_images(obs_emu)
    assert image["status"] == "queued"
    objects, uploads = staged_leftovers(s3_server, image["id"])
    assert objects == [] and len(uploads) == 1, "an unfinished upload with some parts"

    provider.store_calls()
    created = provider.p.create(inputs)
    assert created.id == image["id"] and [i["id"] for i in live_images(obs_emu)] == [image["id"]], "no second image"
    assert created.outs["status"] == "active" and created.outs["size"] == disk.stat().st_size
    assert created.outs["checksum"] == hashlib.md5(disk.read_bytes()).hexdigest()
    assert "CreateMultipartUpload" not in provider.operations(), "the killed run's upload was continued"
    assert provider.operations().count("UploadPart") <= 5 - 2, "parts already there were not sent again"
    assert staged_leftovers(s3_server, image["id"]) == ([], []) and all_uploads(s3_server) == []
    provider.p.delete(created.id, created.outs)


def test_a_run_killed_while_ims_registers_waits_for_that_registration(
        obs_emu: Emulator, s3_server: S3Server, disk: Path, child: list[subprocess.Popen[str]]) -> None:
    obs_emu.configure(upload_delay=3.0)  # the image stays `saving` long enough to kill the run
    raw = settings(obs_emu, s3_server)
    provider = Provider(raw, obs_emu)
    inputs = provider.check(declared("waited", content.describe(str(disk)), "v" * 32))
    process = run_child(child, raw, inputs)
    deadline = time.monotonic() + 60
    while not [i for i in live_images(obs_emu) if i["status"] == "saving"]:
        assert process.poll() is None and time.monotonic() < deadline, "the registration never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (image,) = live_images(obs_emu)
    assert staged_leftovers(s3_server, image["id"])[0], "the staged object is there while IMS reads it"

    created = provider.p.create(inputs)
    assert created.id == image["id"] and created.outs["status"] == "active"
    assert not [body for _, url, body in provider.transport.sent if url.endswith("/upload")], \
        "no second registration: the first one's outcome decides"
    assert staged_leftovers(s3_server, image["id"]) == ([], []), "deleted once the image is active"
    provider.p.delete(created.id, created.outs)


def test_destroy_after_a_killed_run_leaves_no_image_and_no_staged_object(
        obs_emu: Emulator, s3_server: S3Server, disk: Path, child: list[subprocess.Popen[str]]) -> None:
    raw = settings(obs_emu, s3_server)
    provider = Provider(raw, obs_emu)
    inputs = provider.check(declared("abandoned", content.describe(str(disk)), "d" * 32))
    process = run_child(child, raw, inputs, stop_after_parts=1)
    assert process.stdout is not None and process.stdout.readline().startswith("PARTS")
    process.send_signal(signal.SIGKILL)
    process.wait()
    (image,) = live_images(obs_emu)
    assert staged_leftovers(s3_server, image["id"])[1], "an unfinished upload"
    provider.p.delete(image["id"], {**inputs, "status": "queued"})  # what the state would hold
    assert live_images(obs_emu) == [] and staged_leftovers(s3_server, image["id"]) == ([], [])


def test_kept_staged_objects_stay(obs_emu: Emulator, s3_server: S3Server, disk: Path) -> None:
    provider = Provider(settings(obs_emu, s3_server, obsKeepStaged="true"), obs_emu)
    created = provider.p.create(provider.check(declared("kept", content.describe(str(disk)), "e" * 32)))
    objects, uploads = staged_leftovers(s3_server, created.id)
    assert len(objects) == 1 and uploads == [], "ims:obsKeepStaged keeps the object once active"
    provider.p.delete(created.id, created.outs)
    assert staged_leftovers(s3_server, created.id)[0] == objects, "and at destroy"
    s3_server.client().delete_object(Bucket=BUCKET, Key=objects[0])


def test_a_file_that_changes_before_it_is_staged_is_not_registered(obs_emu: Emulator, s3_server: S3Server,
                                                                  disk: Path) -> None:
    provider = Provider(settings(obs_emu, s3_server), obs_emu)
    inputs = provider.check(declared("changed", content.describe(str(disk)), "c" * 32))
    with disk.open("r+b") as handle:  # one byte changes after the preview, the size stays
        handle.seek(20 * MIB)
        handle.write(b"\xff" if handle.read(1) != b"\xff" else b"\x00")
    with pytest.raises(SourceChanged) as raised:
        provider.p.create(inputs)
    assert raised.value.found == hashlib.sha256(disk.read_bytes()).hexdigest(), "the SHA-256 of the bytes staged"
    assert staged_leftovers(s3_server, raised.value.image_id) == ([], []), "the upload was aborted"
    assert not [body for _, url, body in provider.transport.sent if url.endswith("/upload")], "nothing registered"
    (image,) = live_images(obs_emu)
    assert image["status"] == "queued", "the next run stages the new bytes into the same image"
    provider.p.delete(image["id"], inputs)
