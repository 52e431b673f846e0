"""Release 0.3's name of :mod:`ims_emulator`, kept so that ``python -m emulator`` works in this repository.

Not installed with the package (a top-level ``emulator`` would clash with other projects' modules).
"""

from ims_emulator import *  # noqa: F403
from ims_emulator import __all__ as __all__
