"""The lookups as ``Output`` values for a Pulumi program (``get_image_output``, ``get_images_output``):
the program-side face of :mod:`ims_pulumi.core.lookup` (dynamic providers cannot register invokes,
pulumi/pulumi#9958; the plugin serves the same lookups as invokes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pulumi

from ..core.lookup import ImageInfo, ImageLookupError, get_image, get_images


def get_image_output(*, opts: pulumi.InvokeOptions | None = None,
                     **kwargs: pulumi.Input[Any]) -> pulumi.Output[ImageInfo]:
    """:func:`get_image` with ``pulumi.Input`` values for every argument; resolves in preview too.

    ``opts=pulumi.InvokeOutputOptions(depends_on=[resource, ...])`` makes the lookup wait until
    those resources exist (are created or updated in this run): during a preview in which one of
    them is still to be created the result is unknown, as for the SDK's own invokes.
    """
    return _after(opts, kwargs).apply(lambda args: get_image(**args))


def get_images_output(*, opts: pulumi.InvokeOptions | None = None,
                      **kwargs: pulumi.Input[Any]) -> pulumi.Output[list[ImageInfo]]:
    """:func:`get_images` with ``pulumi.Input`` values for every argument; resolves in preview too.

    ``opts`` as for :func:`get_image_output`.
    """
    return _after(opts, kwargs).apply(lambda args: get_images(**args))


def _after(opts: pulumi.InvokeOptions | None, kwargs: Mapping[str, pulumi.Input[Any]]) -> pulumi.Output[dict[str, Any]]:
    """The lookup's arguments, resolved once every resource of ``opts.depends_on`` exists.

    A custom resource exists once its id is known (unknown during the preview of its create); a
    component once its URN is. The result carries those resources as dependencies.
    """
    resolved = cast("pulumi.Output[dict[str, Any]]", pulumi.Output.from_input(dict(kwargs)))
    depends_on = getattr(opts, "depends_on", None) if opts is not None else None
    if depends_on is None:
        return resolved
    if isinstance(depends_on, pulumi.Resource):
        depends_on = [depends_on]

    def ready(resources: Sequence[pulumi.Resource] | None) -> Any:
        waits: list[pulumi.Output[Any]] = []
        for resource in resources or ():
            if not isinstance(resource, pulumi.Resource):
                raise ImageLookupError(f"opts.depends_on takes resources, not {type(resource).__name__} "
                                       f"{resource!r}")
            waits.append(resource.id if isinstance(resource, pulumi.CustomResource) else resource.urn)
        return pulumi.Output.all(*waits)

    waited: pulumi.Output[Any] = pulumi.Output.from_input(depends_on).apply(ready)
    return pulumi.Output.all(resolved, waited).apply(lambda pair: cast("dict[str, Any]", pair[0]))
