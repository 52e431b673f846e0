"""Release 0.3's name of :mod:`ims_preview_summary`, kept so that ``python -m preview_summary`` works in this
repository (not installed with the package)."""

from ims_preview_summary import *  # noqa: F403
from ims_preview_summary import __all__ as __all__
