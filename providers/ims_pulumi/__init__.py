"""Pulumi dynamic provider for Huawei Cloud IMS image metadata (OpenStack-native, Glance v2 API).

Public API::

    from ims_pulumi import ImageMetadata, ImageMetadataArgs, get_image, get_images
"""

from .lookup import ImageInfo, ImageLookupError, get_image, get_image_output, get_images, get_images_output
from .resource import ImageMetadata, ImageMetadataArgs
from .sharing import ImageMember, ImageMemberAcceptance, ImageMemberAcceptanceArgs, ImageMemberArgs

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
