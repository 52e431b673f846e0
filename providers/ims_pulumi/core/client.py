"""A small client of the OpenStack-native image API of IMS (and of Glance v2).

No Pulumi imports: usable on its own, in tests and benchmarks. Create and update converge
instead of blindly repeating a request whose outcome is unknown (see the module
docstring of :mod:`ims_pulumi.core.transport`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from .config import ProviderConfig
from .errors import ApiError, Conflict, ImsError, NotFound, ServerError, TransportError
from .transport import Budget, Transport

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
GONE_STATUSES = frozenset({"deleted", "killed", "pending_delete"})
#: The tag key that ties an image to the create that made it, so that a create whose response
#: was lost (or a run killed after the POST) finds the image again instead of making a second
#: one: the client's idempotent-create protocol (:meth:`ImsClient.create_image`). Tags are a
#: documented field of the create request and ``tag`` a documented list filter; the tag takes
#: one of the image's tags (IMS allows 10).
CREATE_TOKEN_TAG = "pulumi-create-token"


def create_token_tag(token: str) -> str:
    """The tag that carries a create token."""
    return f"{CREATE_TOKEN_TAG}={token}"
#: Statuses of an image whose data the server is still receiving or importing.
BUSY = frozenset({"saving", "importing", "uploading"})
#: Seconds before a create attempt's start from which an image stored without its tags is looked
#: for (:meth:`ImsClient.half_committed`): room for a server clock behind this machine's.
CLOCK_MARGIN = 120.0


def uncertain(exc: ImsError) -> bool:
    """The request may or may not have been applied by the server."""
    return isinstance(exc, ServerError) or (isinstance(exc, TransportError) and exc.sent)


class ImsClient:
    """Image operations on one endpoint. Thread-safe."""

    def __init__(self, transport: Transport, *, delete_timeout: float = 120.0, poll_interval: float = 0.5) -> None:
        self.transport = transport
        self.delete_timeout = delete_timeout
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._import_methods: frozenset[str] | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> ImsClient:
        """A client for validated provider settings."""
        if config.insecure:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return cls(Transport(config.endpoint, config.credentials, verify=config.verify),
                   delete_timeout=config.delete_timeout)

    # --- reads ------------------------------------------------------------------------

    def budget(self) -> Budget:
        """A retry allowance for one operation, to pass to every call the operation makes."""
        return self.transport.retry.budget()

    def get_image(self, image_id: str, *, budget: Budget | None = None) -> dict[str, Any] | None:
        """The image, or ``None`` when it does not exist (404 or a deleted/killed status)."""
        try:
            image: dict[str, Any] = self.transport.request(
                "GET", f"/v2/images/{quote(image_id, safe='')}", operation=f"read image {image_id}", budget=budget
            ).json()
        except NotFound:
            return None
        return None if image.get("status") in GONE_STATUSES else image

    def image_state(self, image_id: str, *, budget: Budget | None = None) -> dict[str, Any] | None:
        """The image as the server has it, ``killed`` included (``None``: 404)."""
        try:
            image: dict[str, Any] = self.transport.request(
                "GET", f"/v2/images/{quote(image_id, safe='')}", operation=f"read image {image_id}", budget=budget
            ).json()
        except NotFound:
            return None
        return image

    def os_versions(self, *, budget: Budget | None = None) -> list[str]:
        """Every ``__os_version`` the region supports (``GET /v1/cloudimages/os_version``)."""
        groups = self.transport.request("GET", "/v1/cloudimages/os_version", operation="list the region's OS versions",
                                        budget=budget).json() or []
        return [str(v["os_version"]) for group in groups for v in group.get("version_list", []) if v.get("os_version")]

    def probe(self) -> None:
        """One cheap authenticated request (a one-image list of this project's images): proves that
        the endpoint answers and accepts the credentials."""
        self.transport.request("GET", "/v2/images", query=[("visibility", "private"), ("limit", "1")],
                               operation="check ims:endpoint and the credentials")

    def list_images(self, filters: Sequence[tuple[str, str]] = (), *, limit: int = 100,
                    operation: str = "list images", budget: Budget | None = None) -> Iterator[dict[str, Any]]:
        """Every image matching ``filters``, following the ``next`` links page by page."""
        query: list[tuple[str, str]] = [*filters, ("limit", str(limit))]
        while True:
            page = self.transport.request("GET", "/v2/images", query=query, operation=operation,
                                          budget=budget).json()
            yield from page.get("images", [])
            nxt = page.get("next")
            if not nxt:
                return
            query = parse_qsl(urlsplit(nxt).query, keep_blank_values=True)

    def find_by_token(self, name: str, token: str, *, budget: Budget | None = None) -> dict[str, Any] | None:
        """The live image that a create with this token made, if any.

        Lists by the documented ``tag`` filter (the token travels as the tag
        ``pulumi-create-token=<token>``) and checks the tag client-side too, so a server that
        ignored the filter cannot make a wrong match.
        """
        tag = f"{CREATE_TOKEN_TAG}={token}"
        operation = f"create image {name!r}: look-up by create token"
        for image in self.list_images([("tag", tag)], operation=operation, budget=budget):
            if tag in (image.get("tags") or []) and image.get("status") not in GONE_STATUSES:
                return image
        return None

    # --- writes -----------------------------------------------------------------------

    def create_image(self, body: Mapping[str, Any], *, budget: Budget | None = None,
                     client_id: bool = False) -> dict[str, Any]:
        """``POST /v2/images``, never leaving two images behind.

        When ``body`` carries a create token (the tag ``pulumi-create-token=<token>``), an image
        that an earlier, interrupted run already made is found by it and returned instead of
        posting again.

        A failure whose outcome is uncertain (5xx, connection lost after sending) is handled
        within the operation's ``budget`` in the way the server allows:

        * ``client_id`` (Glance: the create body takes an ``id``): the body carries a UUID made
          here, and the *same* POST is sent again; ``409`` means an earlier attempt made the
          image, which is read and given the body's tags it lacks (a server that stored the
          image but lost its tags, see :meth:`_give_tags`).
        * otherwise (IMS): the token is looked up; when that finds nothing, an image that the
          failed attempt stored *without its tags* (so no token finds it) is looked for by the
          documented exact ``name`` filter and ``created_at=gte:`` the attempt's start
          (:meth:`half_committed`) and deleted before the POST is repeated: IMS's tag API cannot
          add ``key=value`` tags to it afterwards.

        Without a token or ``client_id``, uncertain failures raise.
        """
        budget = budget or self.budget()
        name = str(body.get("name", ""))
        prefix = CREATE_TOKEN_TAG + "="
        token = next((t[len(prefix):] for t in body.get("tags") or [] if str(t).startswith(prefix)), None)
        if token:
            found = self.find_by_token(name, str(token), budget=budget)
            if found:
                return found
        body = {**body, "id": str(uuid.uuid4())} if client_id else dict(body)
        started = time.time()
        attempt = 0
        while True:
            attempt += 1
            try:
                image: dict[str, Any] = self.transport.request(
                    "POST", "/v2/images", json_body=body, operation=f"create image {name!r}", budget=budget
                ).json()
                return image
            except Conflict:
                # Only a repeated POST of this body's fresh UUID can meet an existing id.
                existing = self.get_image(str(body["id"]), budget=budget) if client_id and attempt > 1 else None
                if existing is None:
                    raise
                return self._give_tags(existing, body, budget)
            except (ServerError, TransportError) as exc:
                delay = self.transport.backoff(attempt)
                if not (token or client_id) or not uncertain(exc) or not budget.retry(delay, attempt):
                    raise
                if not client_id:
                    found = self.find_by_token(name, str(token), budget=budget)
                    if found:
                        return found
                    for orphan in self.half_committed(body, started, budget=budget):
                        self.delete_image(str(orphan["id"]), budget=budget)
                self.transport.sleep(delay)

    def _give_tags(self, image: dict[str, Any], body: Mapping[str, Any], budget: Budget) -> dict[str, Any]:
        """The image with every tag of its create ``body`` (Glance's tag API takes any tag): a create
        that the server committed without its tags (a separate tag transaction that failed) gets
        them, the create token's included, so that a later run finds it by the token."""
        missing = sorted(set(body.get("tags") or []) - set(image.get("tags") or []))
        for tag in missing:
            self.add_tag(str(image["id"]), tag, budget=budget)
        return (self.get_image(str(image["id"]), budget=budget) or image) if missing else image

    def half_committed(self, body: Mapping[str, Any], since: float, *,
                       budget: Budget | None = None) -> list[dict[str, Any]]:
        """Images a failed create of ``body`` may have stored without its tags (so without its token).

        Listed with documented filters only: the exact ``name`` and ``created_at=gte:`` ``since``
        less :data:`CLOCK_MARGIN` (the server's clock may differ from this machine's). An image
        counts only if it has **no tags at all** (the tags of one create are written together, so
        a create that kept any tag kept its token), is ``queued`` (no data), and every other
        field of the create body has the body's value. An image that someone else created in
        the same project within that window, with the same name and values and no tags, would
        match too: the README's troubleshooting names this remaining risk.
        """
        name = str(body.get("name", ""))
        if not name:
            return []
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - CLOCK_MARGIN))
        operation = f"create image {name!r}: look-up of an image stored without its tags"
        fields = {k: v for k, v in body.items() if k not in ("tags", "id")}
        return [image for image in self.list_images([("name", name), ("created_at", f"gte:{stamp}")],
                                                    operation=operation, budget=budget)
                if not image.get("tags") and image.get("status") == "queued"
                and all(image.get(k) == v for k, v in fields.items())]

    def update_image(self, image_id: str, ops: Sequence[Mapping[str, Any]], *,
                     budget: Budget | None = None) -> dict[str, Any]:
        """One ``PATCH`` with a json-patch (v2.1) body; returns the updated image."""
        image: dict[str, Any] = self.transport.request(
            "PATCH", f"/v2/images/{quote(image_id, safe='')}", json_body=list(ops), content_type=JSON_PATCH,
            operation=f"update image {image_id}", budget=budget,
        ).json()
        return image

    def add_tag(self, image_id: str, tag: str, *, budget: Budget | None = None) -> None:
        """``PUT /v2/images/{id}/tags/{tag}`` (idempotent)."""
        self.transport.request("PUT", f"/v2/images/{quote(image_id, safe='')}/tags/{quote(tag, safe='')}",
                               operation=f"add tag {tag!r} to image {image_id}", budget=budget)

    def remove_tag(self, image_id: str, tag: str, *, budget: Budget | None = None) -> None:
        """``DELETE /v2/images/{id}/tags/{tag}``; a tag that is already gone is fine."""
        with contextlib.suppress(NotFound):
            self.transport.request("DELETE", f"/v2/images/{quote(image_id, safe='')}/tags/{quote(tag, safe='')}",
                                   operation=f"remove tag {tag!r} from image {image_id}", budget=budget)

    def delete_image(self, image_id: str, *, budget: Budget | None = None) -> None:
        """Delete the image and wait until the server no longer shows it.

        A missing image counts as deleted. IMS may answer 204 for ids it does not know, and
        deletion may be asynchronous, so success is confirmed with GETs, bounded by
        ``delete_timeout``.
        """
        budget = budget or self.budget()
        try:
            self.transport.request("DELETE", f"/v2/images/{quote(image_id, safe='')}",
                                   operation=f"delete image {image_id}", budget=budget)
        except NotFound:
            return
        except ApiError:
            # A retried DELETE can be refused because the first attempt did delete the image
            # (Glance: 500 "database is locked", then 400 "deleted to deleted is not allowed").
            if self.get_image(image_id, budget=budget) is None:
                return
            raise
        deadline = time.monotonic() + self.delete_timeout
        delay = min(0.05, self.poll_interval)
        while self.get_image(image_id, budget=budget) is not None:
            if time.monotonic() >= deadline:
                raise ApiError(operation=f"delete image {image_id}", status=204,
                               message=f"the image still exists {self.delete_timeout:.0f}s after the delete was accepted",
                               hint="Run `pulumi refresh` later to see whether it went away, or raise ims:deleteTimeout")
            time.sleep(delay)
            delay = min(self.poll_interval * 4, delay * 2)

    # --- members (sharing) ------------------------------------------------------------

    def _members(self, image_id: str, member_id: str | None = None) -> str:
        path = f"/v2/images/{quote(image_id, safe='')}/members"
        return path if member_id is None else f"{path}/{quote(member_id, safe='')}"

    def add_member(self, image_id: str, member_id: str, *, budget: Budget | None = None) -> dict[str, Any]:
        """``POST /v2/images/{id}/members``: share the image with a project (status ``pending``)."""
        member: dict[str, Any] = self.transport.request(
            "POST", self._members(image_id), json_body={"member": member_id}, budget=budget,
            operation=f"share image {image_id} with project {member_id}").json()
        return member

    def get_member(self, image_id: str, member_id: str, *, budget: Budget | None = None) -> dict[str, Any] | None:
        """The membership, or ``None`` when the image is not shared with that project (or is gone)."""
        try:
            member: dict[str, Any] = self.transport.request(
                "GET", self._members(image_id, member_id), budget=budget,
                operation=f"read the membership of project {member_id} in image {image_id}").json()
        except NotFound:
            return None
        return member

    def set_member_status(self, image_id: str, member_id: str, status: str, *,
                          budget: Budget | None = None) -> dict[str, Any]:
        """``PUT /v2/images/{id}/members/{member}``: accept or reject a shared image."""
        member: dict[str, Any] = self.transport.request(
            "PUT", self._members(image_id, member_id), json_body={"status": status}, budget=budget,
            operation=f"set the membership of project {member_id} in image {image_id} to {status!r}").json()
        return member

    def remove_member(self, image_id: str, member_id: str, *, budget: Budget | None = None) -> None:
        """``DELETE /v2/images/{id}/members/{member}``; a membership or image already gone is fine."""
        with contextlib.suppress(NotFound):
            self.transport.request("DELETE", self._members(image_id, member_id), budget=budget,
                                   operation=f"stop sharing image {image_id} with project {member_id}")

    def upload_file(self, image_id: str, chunks: Iterable[bytes], size: int | None) -> None:
        """``PUT /v2/images/{id}/file``: stream the image's bytes (once; see ``Transport.upload``)."""
        self.transport.upload(f"/v2/images/{quote(image_id, safe='')}/file", chunks, size,
                              operation=f"upload the file of image {image_id}")

    def wait_for_data(self, image_id: str, timeout: float, *, budget: Budget | None = None) -> dict[str, Any]:
        """Poll until the image leaves ``saving``/``importing``; the image as it ends."""
        return self._poll(image_id, timeout, lambda image: image.get("status") not in BUSY, budget,
                          operation=f"upload to image {image_id}", gone="its data was being saved",
                          late="after the upload",
                          hint="Raise ims:uploadTimeout, or run `pulumi refresh` later and `pulumi up` again")

    def _poll(self, image_id: str, timeout: float, done: Callable[[dict[str, Any]], bool], budget: Budget | None, *,
              operation: str, gone: str, late: str, hint: str) -> dict[str, Any]:
        """Read the image until ``done(image)`` (backing off to 4 x ``poll_interval``); raise when it
        disappears or ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        delay = min(0.05, self.poll_interval)
        while True:
            try:
                image: dict[str, Any] = self.transport.request(
                    "GET", f"/v2/images/{quote(image_id, safe='')}", operation=f"read image {image_id}",
                    budget=budget).json()
            except NotFound:
                raise NotFound(operation=operation, status=404, message=f"the image disappeared while {gone}",
                               hint="Run `pulumi refresh`, then `pulumi up`") from None
            if done(image):
                return image
            if time.monotonic() >= deadline:
                raise ApiError(operation=operation, status=200,
                               message=f"the image is still {image.get('status')!r} {timeout:.0f}s {late}", hint=hint)
            time.sleep(delay)
            delay = min(self.poll_interval * 4, delay * 2)

    # --- registration from OBS (IMS only: Glance has none) ----------------------------------

    def register_image(self, image_id: str, image_url: str, *, budget: Budget | None = None) -> str | None:
        """``PUT /v1/cloudimages/{id}/upload`` ``{"image_url": "<bucket>:<object>"}`` ("Registering an Image
        File as a Private Image"): IMS reads the OBS object into the ``queued`` image, asynchronously.
        The documented body only. Returns the job id the answer carries (``None`` without one)."""
        answer = self.transport.request(
            "PUT", f"/v1/cloudimages/{quote(image_id, safe='')}/upload", json_body={"image_url": image_url},
            ok=(200, 202), operation=f"register {image_url} into image {image_id}", budget=budget).json()
        job = answer.get("job_id") if isinstance(answer, dict) else None
        return str(job) if job else None

    def get_job(self, job_id: str, *, budget: Budget | None = None) -> dict[str, Any]:
        """``GET /v1/{project_id}/jobs/{job_id}`` ("Querying the Status of an Asynchronous Job"): ``status``
        (``INIT``, ``RUNNING``, ``SUCCESS``, ``FAIL``), ``fail_reason``, ``entities.process_percent``."""
        project = quote(self.transport.project_id, safe="")
        job: dict[str, Any] = self.transport.request(
            "GET", f"/v1/{project}/jobs/{quote(job_id, safe='')}", operation=f"read job {job_id}",
            budget=budget).json() or {}
        return job

    def wait_for_registration(self, image_id: str, job_id: str | None, timeout: float, *,
                              report: Callable[[dict[str, Any] | None], None] = lambda job: None,
                              budget: Budget | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Follow a registration until it ends: its job where there is one and the project is known (the
        job says why a registration failed), else the image. ``report(job)`` is called at every poll
        (``None`` while the image is followed). Returns the image as it ends (``active``, ``killed``,
        ``queued``: not filtered) and the last job document (``None`` when none was read)."""
        deadline = time.monotonic() + timeout
        delay = min(0.05, self.poll_interval)
        follow_job = bool(job_id and self.transport.project_id)
        job: dict[str, Any] | None = None
        while True:
            if follow_job and job_id:
                try:
                    job = self.get_job(job_id, budget=budget)
                except ApiError as exc:
                    from .transport import warn  # a warning, then the image tells the outcome (without the reason)

                    warn(f"could not read job {job_id} of image {image_id} ({exc}): following the image instead")
                    follow_job, job = False, None
                    continue
                report(job)
                if job.get("status") in ("SUCCESS", "FAIL"):
                    # the image changes with the job; wait for it to settle if a read races the change
                    return self.wait_for_data(image_id, max(deadline - time.monotonic(), 30.0), budget=budget), job
                state = f"its job is {job.get('status')!r}"
            else:
                try:
                    image: dict[str, Any] = self.transport.request(
                        "GET", f"/v2/images/{quote(image_id, safe='')}", operation=f"read image {image_id}",
                        budget=budget).json()
                except NotFound:
                    raise NotFound(operation=f"register into image {image_id}", status=404,
                                   message="the image disappeared while it was being registered",
                                   hint="Run `pulumi refresh`, then `pulumi up`") from None
                report(None)
                if image.get("status") not in BUSY:
                    return image, job
                state = f"the image is still {image.get('status')!r}"
            if time.monotonic() >= deadline:
                raise ApiError(operation=f"register into image {image_id}", status=200,
                               message=f"{state} {timeout:.0f}s after the registration was accepted",
                               hint="Raise ims:uploadTimeout, or run `pulumi up` again later: it waits for this "
                                    "registration instead of starting another")
            time.sleep(delay)
            delay = min(self.poll_interval * 4, delay * 2)

    # --- image import (Glance only: IMS does not document these requests) ---------------

    def import_methods(self) -> frozenset[str]:
        """The import methods the server offers (``GET /v2/info/import``), e.g. ``web-download``.

        Read once per client, so once per provider process: the server's configuration does not
        change during a run, and a create response's ``OpenStack-image-import-methods`` header would
        say the same thing but is not there for an image found again or adopted. A server without
        the request (404) offers none. Glance only: never ask IMS, which does not document it.
        """
        with self._lock:
            if self._import_methods is not None:
                return self._import_methods
        try:
            info = self.transport.request("GET", "/v2/info/import", operation="read the server's import methods").json()
            methods = frozenset(str(m) for m in ((info or {}).get("import-methods") or {}).get("value") or [])
        except NotFound:
            methods = frozenset()
        with self._lock:
            self._import_methods = methods
        return methods

    def import_image(self, image_id: str, uri: str, *, budget: Budget | None = None) -> None:
        """``POST /v2/images/{id}/import`` with ``web-download``: the server fetches ``uri`` itself (202;
        the import runs as a task: see :meth:`wait_for_import`). Glance only."""
        self.transport.request("POST", f"/v2/images/{quote(image_id, safe='')}/import",
                               json_body={"method": {"name": "web-download", "uri": uri}}, ok=(202,),
                               operation=f"import {uri} into image {image_id} (web-download)", budget=budget)

    def wait_for_import(self, image_id: str, timeout: float, *, budget: Budget | None = None) -> dict[str, Any]:
        """Poll an image whose import was accepted until the import ends; the image as it ends.

        Glance takes the image's import lock (the property ``os_glance_import_task``) before it
        answers 202, then runs the task: ``queued`` -> ``importing`` -> ``active``. A failed task
        sets ``os_glance_failed_import``, puts the image back to ``queued`` and drops the lock. So
        the import is over when the image is ``active`` (or ``killed``), or ``queued`` with no lock,
        or ``queued`` with a failed store after it was seen ``importing`` (a ``os_glance_failed_import``
        seen before that is a previous attempt's). Raises when ``timeout`` seconds pass first.
        """
        seen_importing = False

        def over(image: dict[str, Any]) -> bool:
            nonlocal seen_importing
            status = image.get("status")
            if status in BUSY:
                seen_importing = True
                return False
            failed = seen_importing and image.get("os_glance_failed_import")
            return status != "queued" or not image.get("os_glance_import_task") or bool(failed)

        return self._poll(image_id, timeout, over, budget, operation=f"import into image {image_id}",
                          gone="the server was importing its data", late="after the server accepted the import",
                          hint="Raise ims:uploadTimeout, or run `pulumi up` again later: it waits for this import "
                               "instead of starting another")

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()
