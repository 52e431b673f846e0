"""``python -m emulator``: the same as ``ims-emulator`` (``python -m ims_emulator``)."""

from ims_emulator.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
