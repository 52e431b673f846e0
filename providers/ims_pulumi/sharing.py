"""The pickle address of the sharing providers (releases 0.2 to 0.4 defined them here).

Every ``ImageMember`` and ``ImageMemberAcceptance`` in a stack's state stores
``ims_pulumi.sharing.<class>`` (pickled by reference), and the classes still name this module as
their address. Never remove this file; the classes live in :mod:`ims_pulumi.dynamic.provider`.
"""

from .dynamic.provider import ImageMemberAcceptanceProvider as ImageMemberAcceptanceProvider
from .dynamic.provider import ImageMemberProvider as ImageMemberProvider

__all__ = ["ImageMemberAcceptanceProvider", "ImageMemberProvider"]
