"""Legacy import path of release 0.1 (``from providers.ims import ImageMetadata``).

The package is :mod:`ims_pulumi` now: ``providers`` is a generic top-level name that a
user's own project may already have. This module only re-exports, so that programs and
stacks written for 0.1 keep working; new code imports :mod:`ims_pulumi`.
"""

from ims_pulumi import *  # noqa: F403
from ims_pulumi import __all__ as __all__
