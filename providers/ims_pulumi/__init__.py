"""Pulumi dynamic provider for Huawei Cloud IMS image metadata (OpenStack-native, Glance v2 API).

Public API::

    from ims_pulumi import ImageMetadata, ImageMetadataArgs, get_image, get_images
"""

from .core.lookup import ImageInfo, ImageLookupError, get_image, get_images
from .dynamic.lookup import get_image_output, get_images_output
from .dynamic.resource import (
    ImageMember,
    ImageMemberAcceptance,
    ImageMemberAcceptanceArgs,
    ImageMemberArgs,
    ImageMetadata,
    ImageMetadataArgs,
)

__all__ = [
    "ImageInfo",
    "ImageLookupError",
    "ImageMember",
    "ImageMemberAcceptance",
    "ImageMemberAcceptanceArgs",
    "ImageMemberArgs",
    "ImageMetadata",
    "ImageMetadataArgs",
    "get_image",
    "get_image_output",
    "get_images",
    "get_images_output",
]
