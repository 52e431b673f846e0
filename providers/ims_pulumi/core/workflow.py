"""The content workflow of an image: upload a source into it, or have the server import a URL, then
verify the bytes; safe to repeat (an image ``active`` is verified, one ``saving``/``importing`` is
waited for, a ``queued`` one is filled).

Shared by both adapters through the operations of :mod:`.image_ops` (``create_image``,
``update_image``): the dynamic provider and the ``ims`` plugin run the same steps, with the same
progress messages and error texts. Failures are the typed :class:`~.errors.ContentError` family
(the image, what was expected, what was found, what to do), whose messages users see.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Any

import requests

from . import content, staging, transfer
from .client import BUSY, ImsClient
from .errors import (
    ApiError,
    AuthenticationFailed,
    ChecksumMismatch,
    Conflict,
    DigestMismatch,
    ImportFailed,
    ImsError,
    NotFound,
    ObjectStoreError,
    RegistrationFailed,
    ServerError,
    SourceChanged,
    SourceError,
    TransportError,
    UploadInterrupted,
    UploadLeftImage,
    UrlContentMismatch,
)
from .profiles import ServerProfile
from .transport import Budget, warn


class Step(Enum):
    """What filling an image with its source takes next, given what the server reports."""

    WAIT_IMPORT = "wait for the import an earlier run started"
    WAIT_DATA = "wait for the data an earlier run sent"
    VERIFY = "verify the data against the source's digests"
    VERIFY_UNSEEN = "verify data the provider did not see pass (a URL's) against what is known of it"
    TRANSFER = "upload the source, or have the server import it"


def next_step(status: Any, source_kind: Any, *, waited: bool = False) -> Step:
    """The next step for an image in ``status`` whose source is a ``file``, a ``url`` or an ``obs`` object
    (pure: the decision of :func:`_fill`, which observes the status and acts). An image ``active`` is
    verified, never uploaded again; one ``saving`` or ``importing`` is waited for (once: after a wait,
    anything but ``active`` is filled again, as a ``queued`` image the server put back is). A
    registration from OBS keeps the image ``saving`` while IMS reads the object: waited for the same way."""
    if status == "active":
        return Step.VERIFY_UNSEEN if source_kind in ("url", "obs") else Step.VERIFY
    if not waited and status == "importing":
        return Step.WAIT_IMPORT
    if not waited and status == "saving":
        return Step.WAIT_DATA
    return Step.TRANSFER


def _fill(api: ImsClient, image: dict[str, Any], desired: Mapping[str, Any], timeout: float, *,
          fresh: bool, profile: ServerProfile, url_import: str = "auto", obs: staging.Obs | None = None
          ) -> dict[str, Any]:
    """Upload the declared source into a ``queued`` image, wait for ``active`` and verify the bytes.

    Safe to repeat: an image that is already ``active`` is verified, not uploaded again; one that
    an earlier run left ``saving`` or ``importing`` is waited for. An upload that breaks off leaves
    the image ``queued`` and the next ``pulumi up`` uploads again into the same image. An image
    the server ``killed`` is deleted when this step created it (``fresh``), so the next run
    starts over with exactly one image.

    A URL source goes to Glance's own ``web-download`` import where :func:`_url_transfer` says so
    (``ims:urlImport``); otherwise the provider streams it from the URL to the server (constant
    memory, no local file).

    On IMS the transfer path follows :func:`.transfer.decide` (``obs``: the settings it reads, the
    object store): the native upload, or staging in OBS and registration (:func:`_stage_and_register`),
    or the registration of an ``obs://`` object as it is (:func:`_register_object`).
    """
    # a URL's secret parts come as their own (secret) input; joined here, for this call only
    source: Mapping[str, Any] | None = content.with_url(desired.get("source"), desired.get(content.SECRET_URL_KEY))
    image_id = str(image["id"])
    if not source:
        return image
    declared = desired.get("checksum")
    obs = obs or staging.Obs()
    kind = source.get("kind")
    step = next_step(image.get("status"), kind)
    if step in (Step.WAIT_IMPORT, Step.WAIT_DATA):
        # An earlier run's upload, import or registration is still being saved: its outcome decides, not a
        # second one.
        image = api.wait_for_import(image_id, timeout) if step is Step.WAIT_IMPORT else \
            api.wait_for_data(image_id, timeout)
        step = next_step(image.get("status"), kind, waited=True)
    if step is Step.VERIFY_UNSEEN:
        return _verified_unseen(api, image, source, declared, fresh, obs=obs)
    if step is Step.VERIFY:
        verified = _verified(api, image, source, declared, None, fresh)
        if _path(source, image, profile, obs, size=source.get("size")).path is transfer.Path.STAGE:
            _clean_staged(obs, image_id)  # an earlier run staged and registered it, then stopped
        return verified
    if kind == "obs":
        return _register_object(api, image, source, declared, timeout, fresh, obs, profile)
    if declared and kind == "file":
        problem = content.verify_declared(dict(source), str(declared))
        if problem:
            algorithm, want = content.parse_checksum(str(declared))
            raise ChecksumMismatch(image_id=image_id, algorithm=algorithm, expected=want, found=None, stage="file",
                                   location=source.get("location"), detail=problem)
    how, _why = _url_transfer(source, declared, profile, url_import, api.import_methods)
    if how == "import":
        imported = _import(api, image, source, declared, timeout, fresh)
        if imported is not None:
            return imported
    size = source.get("size") if kind == "file" else None
    decision = _path(source, image, profile, obs, size=size, final=False)
    if decision.path is None and not decision.refusal:
        size = _announced_size(source)  # a URL whose size decides: ask it (its Content-Length)
        decision = _path(source, image, profile, obs, size=size)
    if decision.refusal:
        shown = content.redact_url(str(source.get("location") or ""))
        raise SourceError(f"image {image_id}: source {shown!r} {decision.refusal}")
    if decision.path is transfer.Path.STAGE:
        return _stage_and_register(api, image, source, declared, timeout, fresh, obs, profile)
    hashes = _stream_into(api, image, source, declared, profile, fresh)
    after = api.wait_for_data(image_id, timeout)
    if after.get("status") != "active":
        deleted = _discard_killed(api, image_id, after, fresh)
        raise UploadLeftImage(image_id=image_id, status=after.get("status"), size=hashes.size, deleted=deleted)
    return _verified(api, after, source, declared, hashes, fresh)


#: Times one run sends a file before it gives up (a server error or a cut connection each time).
UPLOAD_ATTEMPTS = 3
#: Seconds to wait for the server to drop an upload the provider cut (a source that yielded other bytes than announced).
SETTLE_SECONDS = 30.0


def _stream_into(api: ImsClient, image: Mapping[str, Any], source: Mapping[str, Any], declared: Any,
                 profile: ServerProfile, fresh: bool) -> content.Hashes:
    """Stream the source into the ``queued`` image, hashing as it goes; the hashes of what was sent.

    A server error or a broken connection that leaves the image ``queued`` is retried from the
    first byte (a file or URL is simply read again), at most ``UPLOAD_ATTEMPTS`` times in all and
    within one operation budget (each attempt sends the whole file); anything else fails with the
    image's status and what to do, and the next ``pulumi up`` uploads into the same image.

    A source that cannot be read, or yields more or fewer bytes than it announced, fails at once
    (:class:`~.errors.SourceError`, never retried: reading it again would not help): the upload is
    cut before the server has the announced size, so the image is never ``active`` with other bytes.
    """
    image_id = str(image["id"])
    declared_algorithm = content.parse_checksum(str(declared))[0] if declared else None
    algorithms = tuple(dict.fromkeys(("sha256", *profile.reported_hashes, *filter(None, [declared_algorithm]))))
    budget: Budget | None = None  # made on the first failure: the retries of this one upload
    attempt = 0
    while True:
        attempt += 1
        try:
            stream = content.open_source(source)
        except SourceError as exc:
            raise SourceError(f"upload to image {image_id}: {exc} (nothing was sent)") from None
        hasher = content.Hasher(content.Hashes(algorithms))
        progress = content.Progress(f"image {image.get('name', '')!r} ({image_id})", stream.size)

        def chunks(stream: content.Stream = stream, hasher: content.Hasher = hasher,
                   progress: content.Progress = progress) -> Iterator[bytes]:
            for chunk in stream.chunks:
                hasher.feed(chunk)
                progress.advance(len(chunk))
                yield chunk

        try:
            api.upload_file(image_id, chunks(), stream.size)
            progress.finish()  # the last message for a stream of unknown size (a URL without Content-Length)
            return hasher.finish()
        except SourceError as exc:
            hasher.finish()
            with contextlib.suppress(ImsError):
                # the body was cut short of its size: the server puts the image back to queued (never
                # active); wait for that, so the caller sees that status and not a passing 'saving'
                api.wait_for_data(image_id, SETTLE_SECONDS)
            raise SourceError(f"upload to image {image_id}: {exc}") from None
        except ImsError as exc:
            hasher.finish()
            after = api.get_image(image_id)
            status = (after or {}).get("status")
            if status in ("active", "saving"):
                return hasher.hashes  # the server has the bytes after all: its report decides
            delay = api.transport.backoff(attempt)
            budget = budget or api.budget()
            if (status == "queued" and isinstance(exc, (ServerError, TransportError)) and attempt < UPLOAD_ATTEMPTS
                    and budget.retry(delay, attempt)):
                warn(f"upload to image {image_id} failed ({exc}); the image is still 'queued': uploading again")
                api.transport.sleep(delay)
                continue
            deleted = _discard_killed(api, image_id, after, fresh)
            raise UploadInterrupted(image_id=image_id, status=status, cause=exc, deleted=deleted) from exc
        finally:
            stream.close()


#: The import method that fetches a URL (Glance's interoperable image import).
WEB_DOWNLOAD = "web-download"


def _url_transfer(source: Mapping[str, Any], declared: Any, profile: ServerProfile, url_import: str,
                  methods: Callable[[], frozenset[str]]) -> tuple[str, str]:
    """How a source's bytes reach the server: ``("import", why)`` or ``("stream", why)``.

    The server's own ``web-download`` import only for a URL, only on Glance (IMS documents no
    import request, so none is ever sent to it, not even the question which methods it offers),
    only with ``ims:urlImport auto``, only when the server offers the method (``methods`` is
    asked last, once per process), and only when the result can be checked as well as a streamed
    upload's: the provider does not see the bytes of an import, so a declared checksum must be
    one the server reports (MD5 ``checksum``, SHA-512 ``os_hash_value``), or one the source's
    descriptor carries beside a digest the server reports. A declared ``sha256:`` of a URL is
    neither: the provider streams it, hashing as it goes, to check it.
    """
    if source.get("kind") != "url":
        return "stream", "a file is streamed by the provider"
    if profile.kind != "glance":
        return "stream", f"{profile.display} documents no image import: the provider streams the URL"
    if url_import == "stream":
        return "stream", "ims:urlImport is 'stream'"
    if declared:
        algorithm, want = content.parse_checksum(str(declared))
        reported = set(profile.reported_hashes)
        via_source = source.get(algorithm) == want and any(source.get(a) for a in reported)
        if algorithm not in reported and not via_source:
            return "stream", (f"{profile.display} does not report the {algorithm} of imported data: the provider "
                              f"streams the URL to check the declared checksum")
    try:
        offered = methods()
    except ImsError as exc:
        warn(f"could not read the import methods of the server ({exc}): URL sources are streamed by the provider")
        return "stream", "the server's import methods are unknown"
    if WEB_DOWNLOAD not in offered:
        return "stream", f"the server does not offer {WEB_DOWNLOAD} (it offers {', '.join(sorted(offered)) or 'none'})"
    return "import", f"the server offers {WEB_DOWNLOAD}"


def _import(api: ImsClient, image: dict[str, Any], source: Mapping[str, Any], declared: Any, timeout: float,
            fresh: bool) -> dict[str, Any] | None:
    """Hand a URL to the server's ``web-download`` import, wait for the result and verify it.

    ``None`` when the server refused the request itself (a URL its ``[import_filtering_opts]``
    does not allow, a policy, a server error before the task started): the image is still
    ``queued`` and the caller streams the URL instead. A task that fails leaves the image
    ``queued`` (Glance puts it back): the next ``pulumi up`` imports again into the same image.
    """
    image_id, url = str(image["id"]), content.fetch_url(source)
    shown = content.redact_url(url)  # the URL in messages: its user information and query string are secrets
    try:
        api.import_image(image_id, url)
    except (AuthenticationFailed, NotFound):
        raise
    except Conflict:
        # Another import holds the image (an earlier run's, still running): wait for that one.
        current = api.get_image(image_id)
        if current is None or not (current.get("status") in ("importing", "active")
                                   or current.get("os_glance_import_task")):
            raise
    except ImsError as exc:
        warn(f"image {image.get('name', '')!r} ({image_id}): the server refused to import {shown} itself "
             f"({content.scrub(str(exc), url)}); "
             "the provider streams it instead (`ims:urlImport stream` skips the attempt)")
        return None
    after = api.wait_for_import(image_id, timeout)
    status = after.get("status")
    if status != "active":
        failed = after.get("os_glance_failed_import")
        if fresh:
            # This create made the image: delete it, so that a corrected URL (another create token)
            # leaves nothing behind, and a replacement's old image stays the stack's (issue 24).
            api.delete_image(image_id)
        raise ImportFailed(image_id=image_id, location=shown, method=WEB_DOWNLOAD, status=status,
                           failed_stores=failed, probe=_probe(url), deleted=fresh)
    return _verified_unseen(api, after, source, declared, fresh)


def _probe(url: str) -> str:
    """What the URL answers from the provider's machine, for an error message (no part of the URL)."""
    try:
        with requests.get(url, stream=True, timeout=10, headers={"Accept-Encoding": "identity"}) as response:
            reason = content.scrub(response.reason or "", url)
            return f"from the provider's machine the URL answers {response.status_code} {reason}".rstrip()
    except requests.RequestException as exc:
        return f"from the provider's machine the URL cannot be read either ({type(exc).__name__})"


def _verified_unseen(api: ImsClient, image: dict[str, Any], source: Mapping[str, Any], declared: Any,
                     fresh: bool, *, obs: staging.Obs | None = None) -> dict[str, Any]:
    """Verify data whose bytes the provider did not see pass: a ``web-download`` import, or a URL
    source whose image was already ``active``.

    There are no hashes of sent bytes to compare with, so the server's report (MD5 ``checksum``,
    ``os_hash_value`` in its ``os_hash_algo``, ``size``) is compared with what the provider does
    know: the declared ``checksum`` and the digests and size the source's descriptor carries
    (those the resource class computed and the resource's identity is based on; a URL's
    descriptor has none today). With neither, there is nothing to compare: the server's hashes
    are of the bytes it read from the URL.
    """
    image_id, location = str(image["id"]), content.redact_url(str(source.get("location") or ""))
    expected: dict[str, tuple[str, str]] = {a: (str(source[a]), "the source was identified by its")
                                            for a in ("md5", "sha256", "sha512") if source.get(a)}
    if declared:
        algorithm, want = content.parse_checksum(str(declared))
        if expected.get(algorithm, (want, ""))[0] != want:
            raise ChecksumMismatch(image_id=image_id, algorithm=algorithm, expected=want,
                                   found=expected[algorithm][0], stage="url", location=location)
        expected[algorithm] = (want, "checksum declares")
    reported = {"md5": image.get("checksum")}
    if image.get("os_hash_algo"):
        reported[str(image["os_hash_algo"])] = image.get("os_hash_value")
    problems = [f"the server reports {a} {value}, but {expected[a][1]} {a} {expected[a][0]}"
                for a, value in reported.items() if value and a in expected and value != expected[a][0]]
    if declared and not problems and not reported.get(algorithm):
        # The server does not report the declared algorithm (a Glance hashing with another one, or
        # an image a streamed run left active before it could record the result): unless the
        # source's own digests tie it to the image, read the URL once more, without touching
        # disk, and tie its bytes to the image through the MD5.
        tied = source.get(algorithm) == want and bool(source.get("md5")) and source.get("md5") == reported.get("md5")
        if not tied and source.get("kind") == "obs":
            problems = _object_against_image(obs or staging.Obs(), source, algorithm, want, reported.get("md5"))
        elif not tied:
            problems = _url_against_image(source, algorithm, want, reported.get("md5"))
    size = source.get("size")
    if isinstance(size, (int, float)) and image.get("size") is not None and int(image["size"]) != int(size):
        problems.append(f"the server reports {image['size']:,} bytes, but the source was identified with {int(size):,}")
    if problems:
        if fresh:
            api.delete_image(image_id)
        raise UrlContentMismatch(image_id=image_id, location=location, problems=problems, deleted=fresh)
    return image


def _url_against_image(source: Mapping[str, Any], algorithm: str, want: str, image_md5: Any) -> list[str]:
    """Hash the URL's bytes (streamed, constant memory) with the declared algorithm and MD5: what differs
    from the declared checksum or from the image's MD5."""
    stream = content.open_source(source)
    try:
        return _against_image(stream.chunks, algorithm, want, image_md5, "URL")
    finally:
        stream.close()


def _object_against_image(obs: staging.Obs, source: Mapping[str, Any], algorithm: str, want: str,
                          image_md5: Any) -> list[str]:
    """Read an ``obs://`` object registered as it is (streamed, constant memory) to check a declared digest
    the server does not report (check refuses it at preview when the provider cannot read OBS)."""
    if obs.store is None:
        return [f"the server reports no {algorithm}, and the provider cannot read {source.get('location')} to check "
                f"it ({obs.staging.problem}): declare an md5 checksum"]
    bucket, key = transfer.parse_obs(str(source.get("location") or ""))
    return _against_image(obs.store().read(key, bucket), algorithm, want, image_md5, "object")


def _against_image(chunks: Iterator[bytes], algorithm: str, want: str, image_md5: Any, what: str) -> list[str]:
    hashes = content.Hashes(tuple(dict.fromkeys((algorithm, "md5"))))
    for chunk in chunks:
        hashes.update(chunk)
    problems = []
    if hashes.hexdigest(algorithm) != want:
        problems.append(f"its bytes have {algorithm} {hashes.hexdigest(algorithm)}, but checksum declares {want}")
    if not image_md5 or hashes.hexdigest("md5") != image_md5:
        problems.append(f"the server reports no {algorithm} and its md5 {image_md5 or 'is missing'} is not the "
                        f"{what}'s ({hashes.hexdigest('md5')})")
    return problems


def _discard_unreadable(api: ImsClient, image_id: str, exc: ImsError) -> None:
    """After a create whose source could not be read (a URL answering 404, a missing file): delete
    the image this create made while it is still ``queued``. Fixing the source changes the create
    token, so no later run would find it; a replacement's old image is untouched (it is deleted only
    after a successful create). A failed ``web-download`` import deletes its image itself
    (:func:`_import`). A transfer that broke off keeps its image: the same source finds it again on
    the next run."""
    if not isinstance(exc, SourceError):
        return
    with contextlib.suppress(ImsError):
        image = api.get_image(image_id)
        if image is not None and image.get("status") == "queued":
            api.delete_image(image_id)


def _discard_killed(api: ImsClient, image_id: str, image: Mapping[str, Any] | None, fresh: bool) -> bool:
    """Delete an image the server ``killed`` when this create made it (``fresh``); whether it was deleted."""
    if fresh and image is not None and image.get("status") == "killed":
        api.delete_image(image_id)
        return True
    return False


def _verified(api: ImsClient, image: dict[str, Any], source: Mapping[str, Any], declared: Any,
              sent: content.Hashes | None, fresh: bool) -> dict[str, Any]:
    """Compare what the server reports (MD5 ``checksum``; SHA-512 ``os_hash_value`` on Glance) with
    what was sent, or, for an image that already had data, with the source's digests."""
    image_id = str(image["id"])
    expected: dict[str, str] = {}
    if sent is not None:
        expected = {a: sent.hexdigest(a) for a in sent.algorithms}
    else:
        expected = {a: str(source[a]) for a in ("md5", "sha256") if source.get(a)}
    if declared:
        algorithm, want = content.parse_checksum(str(declared))
        if expected.get(algorithm, want) != want:
            if fresh:
                api.delete_image(image_id)
            raise ChecksumMismatch(image_id=image_id, algorithm=algorithm, expected=want, found=expected[algorithm],
                                   stage="upload", location=source.get("location"), deleted=fresh)
    reported = {"md5": image.get("checksum")}
    if image.get("os_hash_algo") == "sha512":
        reported["sha512"] = image.get("os_hash_value")
    for algorithm, value in reported.items():
        if value and algorithm in expected and value != expected[algorithm]:
            raise DigestMismatch(image_id=image_id, algorithm=algorithm, expected=expected[algorithm], found=value,
                                 sent=sent is not None)
    if sent is not None and source.get("sha256") and "sha256" in expected and source["sha256"] != expected["sha256"]:
        raise SourceChanged(image_id=image_id, location=source.get("location"), expected=str(source["sha256"]),
                            found=expected["sha256"])
    return image


# --- registration from OBS (IMS) ----------------------------------------------------------------


def _path(source: Mapping[str, Any], image: Mapping[str, Any], profile: ServerProfile, obs: staging.Obs, *,
          size: Any, final: bool = True) -> transfer.Decision:
    """The transfer path of ``source`` into ``image`` (:func:`.transfer.decide` with the run's settings)."""
    return transfer.decide(source.get("kind"), size, profile=profile,
                           disk_format=image.get("disk_format") or profile.default_disk_format,
                           body_limit=obs.body_limit, staging=obs.staging, final=final)


def _announced_size(source: Mapping[str, Any]) -> int | None:
    """The size a URL announces (its ``Content-Length``; ``None`` without one), asked with the GET that
    streaming would send, closed before the body is read."""
    stream = content.open_source(source)
    stream.close()
    return stream.size


def _stage_and_register(api: ImsClient, image: dict[str, Any], source: Mapping[str, Any], declared: Any,
                        timeout: float, fresh: bool, obs: staging.Obs, profile: ServerProfile) -> dict[str, Any]:
    """Stage the source in ``ims:obsBucket`` (:func:`.staging.upload`), check its digests, complete the
    upload, register the object into the ``queued`` image and wait for ``active``; then verify and
    delete the staged object (unless ``ims:obsKeepStaged``).

    Safe to repeat: the object key is the image's (:func:`.transfer.staged_key`), so a run that was
    interrupted while staging continues that upload, one interrupted after it finds the object, and
    one interrupted while IMS registered waits for that registration (the image is ``saving``). Bytes
    that do not match the declared ``checksum`` or the source's identity are never completed into an
    object: the upload is aborted and nothing is registered.
    """
    image_id = str(image["id"])
    if obs.store is None:
        raise SourceError(f"image {image_id}: the source must be staged in OBS, but {obs.staging.problem}")
    store = obs.store()
    bucket = store.settings.bucket
    key = transfer.staged_key(image_id, dict(source), str(image.get("disk_format") or profile.default_disk_format))
    declared_algorithm = content.parse_checksum(str(declared))[0] if declared else None
    # one digest of every byte where one suffices: on a busy machine each costs staging throughput
    algorithms = staging.digests_to_hash(source, profile.reported_hashes, declared_algorithm)
    reuse = int(source["size"]) if source.get("kind") == "file" and source.get("sha256") and \
        isinstance(source.get("size"), (int, float)) else None
    label = f"image {image.get('name', '')!r} ({image_id}): staging in obs://{bucket}/{key}"
    try:
        staged = staging.upload(store, key, lambda: content.open_source(source), algorithms=algorithms,
                                reuse_size=reuse, progress_label=label)
    except SourceError as exc:
        raise SourceError(f"staging for image {image_id}: {exc} (the unfinished upload was aborted)") from None
    sent = staged.hashes
    if staged.hashes is not None and staged.upload_id is not None:
        hashed = staged.hashes
        problem: ImsError | None = None
        if source.get("kind") == "file" and source.get("sha256"):
            # other bytes than the descriptor's (whose MD5 and SHA-256 are of the same bytes): the file changed
            for algorithm in ("sha256", "md5"):
                if algorithm in hashed.algorithms and source.get(algorithm) \
                        and hashed.hexdigest(algorithm) != source[algorithm]:
                    found = hashed.hexdigest(algorithm)
                    problem = SourceChanged(image_id=image_id, location=source.get("location"),
                                            expected=str(source["sha256"]),
                                            found=found if algorithm == "sha256" else f"md5:{found}")
                    break
        sent = staging.sent_digests(source, hashed)  # a described file's MD5 is its descriptor's
        if problem is None and declared:
            algorithm, want = content.parse_checksum(str(declared))
            if sent.hexdigest(algorithm) != want:
                problem = ChecksumMismatch(image_id=image_id, algorithm=algorithm, expected=want,
                                           found=sent.hexdigest(algorithm), stage="upload",
                                           location=source.get("location"), deleted=fresh)
        if problem is not None:
            # never complete an object with other bytes than the key names: nothing is registered
            store.abort(key, staged.upload_id)
            if fresh and isinstance(problem, ChecksumMismatch):
                api.delete_image(image_id)
            raise problem
        store.complete(key, staged.upload_id, staged.parts)
    try:
        after = _register_and_wait(api, image, transfer.image_url(bucket, key), timeout, fresh)
    except RegistrationFailed as exc:
        if exc.found != "queued":  # queued: interrupted (IMS put the image back); the next run registers it again
            _clean_staged(obs, image_id)
        raise
    # The registration is over: the object has served (a registration still running when the wait ran
    # out keeps it; the next run waits for that registration and deletes it then).
    _clean_staged(obs, image_id)
    return _verified(api, after, source, declared, sent, fresh)


def _register_object(api: ImsClient, image: dict[str, Any], source: Mapping[str, Any], declared: Any,
                     timeout: float, fresh: bool, obs: staging.Obs, profile: ServerProfile) -> dict[str, Any]:
    """Register an ``obs://bucket/key`` source as it is (nothing is transferred), wait for ``active`` and
    verify what the server reports against the declared checksum."""
    decision = _path(source, image, profile, obs, size=None)
    if decision.refusal:
        raise SourceError(f"image {image['id']}: source {source.get('location')!r} {decision.refusal}")
    bucket, key = transfer.parse_obs(str(source.get("location") or ""))
    after = _register_and_wait(api, image, transfer.image_url(bucket, key), timeout, fresh)
    return _verified_unseen(api, after, source, declared, fresh, obs=obs)


class RegistrationProgress:
    """Status lines of a registration's wait, as the resource's status (like an upload's progress): the
    job's status and ``process_percent`` at most every ``PROGRESS_EVERY`` seconds, and the outcome."""

    def __init__(self, label: str, clock: Callable[[], float] = time.monotonic,
                 out: Callable[[str], None] | None = None) -> None:
        self.label, self.clock = label, clock
        self.out = out if out is not None else content.STATUS_SINK.get() or content._to_stderr
        self.started = clock()
        self.last: float | None = None

    def report(self, job: Mapping[str, Any] | None) -> None:
        """One poll: send a line when it is time."""
        now = self.clock()
        if self.last is not None and now - self.last < max(0.0, content.PROGRESS_EVERY):
            return
        self.last = now
        if job is None:
            self.out(f"{self.label}: IMS is reading the object ({now - self.started:.0f} s)")
            return
        percent = (job.get("entities") or {}).get("process_percent")
        shown = ""
        if isinstance(percent, (int, float)):
            shown = f" {percent * 100 if percent <= 1 else percent:.0f}%,"
        self.out(f"{self.label}: job {job.get('status', '?')},{shown} {now - self.started:.0f} s")

    def finish(self, status: Any) -> None:
        """The last line: how the registration ended and how long it took."""
        self.out(f"{self.label}: image {status!r} after {self.clock() - self.started:.2f} s")


def _register_and_wait(api: ImsClient, image: Mapping[str, Any], url: str, timeout: float,
                       fresh: bool) -> dict[str, Any]:
    """``PUT /v1/cloudimages/{id}/upload`` ``{"image_url": url}`` into the ``queued`` image, then follow its
    job (or the image) until the registration ends; the image, ``active``. A failure is
    :class:`~.errors.RegistrationFailed` with the job's ``fail_reason``; a ``killed`` image this create
    made is deleted (the next run starts over). A registration whose answer was lost (the request is
    repeated and IMS refuses it: the image is no longer ``queued``) is followed through the image."""
    image_id = str(image["id"])
    job_id: str | None = None
    try:
        job_id = api.register_image(image_id, url)
    except ApiError as exc:
        current = api.image_state(image_id) if not isinstance(exc, (NotFound, AuthenticationFailed)) else None
        if current is None or current.get("status") not in (*BUSY, "active"):
            raise
    progress = RegistrationProgress(f"image {image.get('name', '')!r} ({image_id}): registering {url}")
    after, job = api.wait_for_registration(image_id, job_id, timeout, report=progress.report)
    progress.finish(after.get("status"))
    if after.get("status") != "active":
        deleted = _discard_killed(api, image_id, after, fresh)
        job = job or {}
        raise RegistrationFailed(image_id=image_id, image_url=url, status=after.get("status"), job_id=job_id,
                                 code=job.get("error_code"), reason=job.get("fail_reason"), deleted=deleted)
    return after


def _clean_staged(obs: staging.Obs, image_id: str) -> None:
    """Delete what the image's staging left in OBS (unfinished uploads; the object unless
    ``ims:obsKeepStaged``). A failure is a warning: the image is what the run is about."""
    if obs.store is None:
        return
    try:
        obs.store().clean(transfer.image_prefix(image_id), keep_objects=obs.keep)
    except (ObjectStoreError, ImsError) as exc:
        warn(f"image {image_id}: could not delete its staged object ({exc}); delete "
             f"{transfer.image_prefix(image_id)}* in ims:obsBucket by hand")


def clean_after_delete(obs: staging.Obs, image_id: str, source: Any, disk_format: Any, profile: ServerProfile) -> None:
    """After an image is deleted: what its staging may have left in OBS (a run that stopped before the
    image was ``active``, or a kept object: kept objects stay), when its source is one that is staged."""
    if not isinstance(source, Mapping) or obs.store is None:
        return
    decision = transfer.decide(source.get("kind"), source.get("size"), profile=profile,
                               disk_format=disk_format or profile.default_disk_format, body_limit=obs.body_limit,
                               staging=obs.staging, final=True)
    if decision.path is transfer.Path.STAGE or (source.get("kind") == "url" and obs.body_limit is not None):
        _clean_staged(obs, image_id)
