"""Pulumi dynamic provider for Huawei Cloud IMS image metadata (OpenStack-native, Glance v2 API).

Public API::

    from ims_pulumi import ImageMetadata, ImageMetadataArgs
"""

from .resource import ImageMetadata, ImageMetadataArgs

__all__ = ["ImageMetadata", "ImageMetadataArgs"]
