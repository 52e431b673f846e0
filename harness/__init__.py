"""Development tooling shared by the tests (``tests/``) and the benchmarks (``bench/``).

* :mod:`harness.pulumi_cli`: drive the real ``pulumi`` CLI in a throwaway project, state
  backend and ``PULUMI_HOME``, and the stack config that points the provider at the emulator.

The emulator's child-process runner is :mod:`ims_emulator.process` (part of the emulator).
Not shipped in the wheel (``pyproject.toml`` lists the packages it ships): it is importable
from a checkout of the repository only, with the repository root on ``sys.path`` (as
``python -m bench.run`` and pytest run from the root have it).
"""

from __future__ import annotations

from pathlib import Path

#: The root of the repository checkout.
REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["REPO_ROOT"]
