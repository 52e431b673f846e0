"""The resources users declare in a Python program (``ImageMetadata``, ``ImageMember``,
``ImageMemberAcceptance``) and their typed arguments, on the dynamic providers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import Resource

from ..core import content
from ..core.framework import Table
from ..core.image_metadata import IMAGE_METADATA
from ..core.sharing import IMAGE_MEMBER, IMAGE_MEMBER_ACCEPTANCE
from .provider import ImageMemberAcceptanceProvider, ImageMemberProvider, ImageMetadataProvider
from .sdk_patches import reset_pickler


@dataclass
class ImageMetadataArgs:
    """Typed inputs of :class:`ImageMetadata`; see the README field table for rules."""

    #: Image name (IMS: 1-128 letters, digits, ``-``, ``.``, ``_``, spaces).
    name: pulumi.Input[str] | None = None
    #: OS version from the IMS table; wire name ``__os_version``. Default ``Other Linux(64 bit)``.
    os_version: pulumi.Input[str] | None = None
    #: Disk format (IMS: zvhd2 (default), vhd, zvhd, raw, qcow2, iso).
    disk_format: pulumi.Input[str] | None = None
    #: Container format (IMS: bare).
    container_format: pulumi.Input[str] | None = None
    #: Minimum system disk in GB (IMS: 0-1024).
    min_disk: pulumi.Input[int] | None = None
    #: Minimum memory in MB.
    min_ram: pulumi.Input[int] | None = None
    #: Tags, ``"key=value"`` on IMS; order does not matter.
    tags: pulumi.Input[list[str]] | None = None
    #: A protected image cannot be deleted.
    protected: pulumi.Input[bool] | None = None
    #: Visibility; IMS creates only ``private``.
    visibility: pulumi.Input[str] | None = None
    #: Description (wire ``__description``), at most 1024 characters.
    description: pulumi.Input[str] | None = None
    #: Custom string attributes managed by this resource.
    properties: pulumi.Input[dict[str, str]] | None = None
    #: The image file: ``pulumi.FileAsset``, ``pulumi.RemoteAsset`` (http/https) or a path.
    source: pulumi.Input[str] | pulumi.FileAsset | pulumi.RemoteAsset | None = None
    #: ``md5:``/``sha256:``/``sha512:`` digest the source must have (checked before upload).
    checksum: pulumi.Input[str] | None = None
    #: Id of an existing image to adopt instead of creating one.
    adopt_id: pulumi.Input[str] | None = None


def registration_props(table: Table, args: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The properties a resource class registers: its declared inputs (typed ``args`` and/or keywords;
    unknown keywords reach check(), which names them), ``None`` for every other user input, and a
    ``None`` placeholder per output so that the outputs exist as attributes."""
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(args)} if args else {}
    values.update(kwargs)
    props: dict[str, Any] = {f.name: None for f in table.outputs}
    props.update({k: v for k, v in values.items() if v is not None})
    for f in table.user_inputs:
        props.setdefault(f.name, None)
    return props


def source_props(source: Any, checksum: Any = None) -> dict[str, Any]:
    """The properties a ``source`` argument registers as.

    An asset cannot be a dynamic provider's input (pulumi/pulumi#6802): ``source`` becomes a plain
    map identified by its bytes (``content.describe``; a URL's redacted, with the digest of a
    declared ``checksum`` given as a plain string). A URL with user information or a query string
    (a presigned URL's signature) also registers its whole URL as a Pulumi secret under
    ``content.SECRET_URL_KEY``: encrypted in the state, ``[secret]`` in previews, the event log and
    the PR summary, read by the provider at ``up``. ``source`` may be an ``Output`` (a secret one
    stays secret).
    """
    declared = checksum if isinstance(checksum, str) else None
    if isinstance(source, pulumi.Output):
        return {"source": source.apply(lambda s: content.describe(s, declared)),
                content.SECRET_URL_KEY: pulumi.Output.secret(source.apply(content.secret_url))}
    url = content.secret_url(source)
    return {"source": content.describe(source, declared),
            **({content.SECRET_URL_KEY: pulumi.Output.secret(url)} if url else {})}


def create_token(resource_name: str) -> str:
    """A stable token for one resource of one stack: finds its image again after a lost response or a crash."""
    key = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class ImageMetadata(Resource, module="ims", name="ImageMetadata"):
    """Image metadata in Huawei Cloud IMS (``POST /v2/images``), or in an OpenStack Glance.

    Example::

        image = ImageMetadata("base", name="ubuntu-22-base", os_version="Ubuntu 22.04 server 64bit",
                              disk_format="qcow2", min_disk=40, tags=["team=infra"])
        pulumi.export("image_id", image.id)
    """

    # Declared for type checkers and IDEs only: at run time the SDK resolves a resource class's
    # annotations on every registration (pulumi._types.resource_types, uncached), which cost
    # ~1 ms per resource here (BENCHMARKS.md, "Hot spots"). The attributes exist anyway, since
    # the SDK creates them from the property names.
    if TYPE_CHECKING:
        name: pulumi.Output[str]
        """Image name."""
        os_version: pulumi.Output[str]
        """OS version (``__os_version``) as IMS spells it."""
        disk_format: pulumi.Output[str]
        """Disk format."""
        container_format: pulumi.Output[str]
        """Container format."""
        min_disk: pulumi.Output[int]
        """Minimum system disk, GB."""
        min_ram: pulumi.Output[int]
        """Minimum memory, MB."""
        tags: pulumi.Output[list[str]]
        """Tags, sorted."""
        protected: pulumi.Output[bool]
        """Whether the image is protected from deletion."""
        visibility: pulumi.Output[str]
        """Visibility."""
        description: pulumi.Output[str]
        """Description."""
        properties: pulumi.Output[dict[str, str]]
        """The managed custom attributes as the server has them."""
        source: pulumi.Output[dict[str, Any] | None]
        """The source as identified: ``location``, ``kind`` and, for files, ``size``, ``sha256``, ``md5``."""
        checksum: pulumi.Output[str]
        """The declared checksum, or the server's MD5 of the uploaded file."""
        adopt_id: pulumi.Output[str | None]
        """The adopted image id, if any."""
        status: pulumi.Output[str]
        """``queued`` (metadata only) or ``active`` (data uploaded)."""
        os_type: pulumi.Output[str]
        """``__os_type`` (``Linux``, ``Windows``, ``Other``); empty on Glance."""
        platform: pulumi.Output[str]
        """``__platform`` (e.g. ``Ubuntu``); empty on Glance."""
        os_bit: pulumi.Output[str]
        """``__os_bit`` (``32`` or ``64``); empty on Glance."""
        owner: pulumi.Output[str]
        """Owning project id."""
        created_at: pulumi.Output[str]
        """Creation time."""
        updated_at: pulumi.Output[str]
        """Last update time."""
        size: pulumi.Output[int | None]
        """File size in bytes."""
        virtual_size: pulumi.Output[int | None]
        """Virtual size in bytes."""

    def __init__(
        self,
        resource_name: str,
        args: ImageMetadataArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
        **kwargs: Any,
    ) -> None:
        """Declare image metadata.

        Args:
            resource_name: The Pulumi name of the resource (unique in the stack).
            args: Typed inputs; keyword arguments of the same names are accepted instead.
            opts: Resource options.
        """
        props = registration_props(IMAGE_METADATA, args, kwargs)
        if props.get("source") is not None:
            props.update(source_props(props["source"], props.get("checksum")))
        if not (opts and opts.id):
            props["__create_token"] = create_token(resource_name)
        reset_pickler()
        super().__init__(ImageMetadataProvider(), resource_name, props, opts)

    @staticmethod
    def get(resource_name: str, id: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None) -> ImageMetadata:
        """A read-only reference to an existing image: read on every run, never changed or deleted."""
        return ImageMetadata(resource_name, None, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id)))


@dataclass
class ImageMemberArgs:
    """Inputs of :class:`ImageMember`."""

    #: Id of the image to share.
    image_id: pulumi.Input[str] | None = None
    #: Project id to share it with.
    member_id: pulumi.Input[str] | None = None


@dataclass
class ImageMemberAcceptanceArgs:
    """Inputs of :class:`ImageMemberAcceptance`."""

    #: Id of the image shared with this project.
    image_id: pulumi.Input[str] | None = None
    #: ``accepted`` (default) or ``rejected``.
    status: pulumi.Input[str] | None = None
    #: The member project; default: this stack's ``ims:projectId``.
    member_id: pulumi.Input[str] | None = None


class ImageMember(Resource, module="ims", name="ImageMember"):
    """Share an image with another project (the owner's side)::

        share = ImageMember("to-prod", image_id=image.id, member_id="<project id>")
    """

    if TYPE_CHECKING:
        image_id: pulumi.Output[str]
        member_id: pulumi.Output[str]
        status: pulumi.Output[str]
        """``pending``, ``accepted`` or ``rejected`` (the member project's answer, read on refresh)."""
        created_at: pulumi.Output[str]
        updated_at: pulumi.Output[str]

    def __init__(self, resource_name: str, args: ImageMemberArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> None:
        """Declare the membership; ``image_id`` and ``member_id`` as keywords or in ``args``."""
        reset_pickler()
        super().__init__(ImageMemberProvider(), resource_name, registration_props(IMAGE_MEMBER, args, kwargs), opts)


class ImageMemberAcceptance(Resource, module="ims", name="ImageMemberAcceptance"):
    """Accept (or reject) an image shared with this stack's project (the consumer's side)::

        ok = ImageMemberAcceptance("golden", image_id=owner.get_output("golden_id"), status="accepted")
    """

    if TYPE_CHECKING:
        image_id: pulumi.Output[str]
        status: pulumi.Output[str]
        member_id: pulumi.Output[str]
        created_at: pulumi.Output[str]
        updated_at: pulumi.Output[str]

    def __init__(self, resource_name: str, args: ImageMemberAcceptanceArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> None:
        """Declare the answer; ``image_id``, ``status`` and ``member_id`` as keywords or in ``args``."""
        props = registration_props(IMAGE_MEMBER_ACCEPTANCE, args, kwargs)
        reset_pickler()
        super().__init__(ImageMemberAcceptanceProvider(), resource_name, props, opts)
