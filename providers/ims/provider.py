"""Legacy module path of the pickled provider (release 0.1).

Every resource created or updated by 0.1 stores ``providers.ims.provider.ImageMetadataProvider``
(pickled by reference) in its state, and ``pulumi refresh`` / ``pulumi destroy`` unpickle
that stored reference. It must keep resolving, to the current class. Never remove this file.
"""

from ims_pulumi.provider import ImageMetadataProvider as ImageMetadataProvider

__all__ = ["ImageMetadataProvider"]
