"""The pickle address of ``ImageMetadataProvider`` (releases 0.2 to 0.4 defined it here).

Every ``ImageMetadata`` in a stack's state stores ``ims_pulumi.provider.ImageMetadataProvider``
(pickled by reference), and the class still names this module as its address, so that
``pulumi refresh`` and ``pulumi destroy`` of any release's state resolve it. Never remove this
file; the class lives in :mod:`ims_pulumi.dynamic.provider`.
"""

from .dynamic.provider import ImageMetadataProvider as ImageMetadataProvider

__all__ = ["ImageMetadataProvider"]
