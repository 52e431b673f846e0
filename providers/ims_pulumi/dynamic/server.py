"""Entry point of the dynamic-provider process, used by ``pulumi-resource-pulumi-python``.

Runs Pulumi's own server (``python -m pulumi.dynamic``) after the adjustments of
:mod:`.sdk_patches` (more worker threads, one-line errors, upload progress next to the resource, a
clear refusal of ``pulumi import``), which are applied behind that module's SDK version gate.
"""

from __future__ import annotations

import runpy

from ..engine import threads
from .sdk_patches import apply_server_patches


def main() -> None:
    """Apply the adjustments and serve."""
    apply_server_patches(threads())
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    # Run as a script (the launcher's runpy), this file is the module ``__main__``; serve through the
    # importable module, as every other caller does.
    import importlib

    importlib.import_module("ims_pulumi.dynamic.server").main()
