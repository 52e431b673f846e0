"""Entry point of the dynamic-provider process, used by ``pulumi-resource-pulumi-python``.

Runs Pulumi's own server (``python -m pulumi.dynamic``) with two documented adjustments:

* **Concurrency.** The SDK serves at most 4 calls at once (``ThreadPoolExecutor(max_workers=4)``
  in ``pulumi/dynamic/__main__.py``), so ``pulumi up --parallel 32`` would still create 4
  images at a time. The pool is raised to ``PULUMI_DYNAMIC_PROVIDER_THREADS`` (default 64).
* **Errors.** The SDK reports any exception as its full traceback. For the provider's expected
  failures (:class:`ims_pulumi.errors.ImsError`: API refusals, bad configuration) the user
  sees the one actionable message instead; unexpected errors keep their traceback.

Both are monkeypatches of SDK internals: ``tests/unit/test_dynamic_server.py`` pins them, so an
SDK upgrade that moves them fails the tests instead of silently losing the fix.
"""

from __future__ import annotations

import concurrent.futures
import os
import runpy
import sys
import traceback
from typing import Any

from .errors import ImsError

DEFAULT_THREADS = 64


def threads() -> int:
    """Worker threads for the provider server."""
    try:
        return max(4, int(os.environ.get("PULUMI_DYNAMIC_PROVIDER_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def patch_thread_pool(workers: int) -> None:
    """Make every ``ThreadPoolExecutor`` created from now on have at least ``workers`` threads."""
    base = concurrent.futures.ThreadPoolExecutor

    class _Pool(base):  # type: ignore[valid-type,misc]
        def __init__(self, max_workers: int | None = None, *args: Any, **kwargs: Any) -> None:
            super().__init__(max(workers, max_workers or 0), *args, **kwargs)

    concurrent.futures.ThreadPoolExecutor = _Pool  # type: ignore[misc]


def patch_error_text() -> None:
    """Report :class:`ImsError` by its message, everything else by its traceback."""
    original = traceback.format_exc

    def format_exc(limit: int | None = None, chain: bool = True) -> str:
        exc = sys.exc_info()[1]
        if isinstance(exc, ImsError):
            return str(exc)
        return original(limit, chain)

    traceback.format_exc = format_exc


def main() -> None:
    """Apply the adjustments and serve."""
    patch_thread_pool(threads())
    patch_error_text()
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
