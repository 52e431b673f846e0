"""Pulumi dynamic provider for Huawei Cloud IMS image metadata (OpenStack-native, Glance v2 API).

Public API::

    from ims_pulumi import ImageMetadata, ImageMetadataArgs, get_image, get_images
"""

from .lookup import ImageInfo, ImageLookupError, get_image, get_image_output, get_images, get_images_output
from .resource import ImageMetadata, ImageMetadataArgs

__all__ = [
    "ImageInfo",
    "ImageLookupError",
    "ImageMetadata",
    "ImageMetadataArgs",
    "get_image",
    "get_image_output",
    "get_images",
    "get_images_output",
]
