"""``python -m preview_summary``: the same as ``ims-preview-summary`` (``python -m ims_preview_summary``)."""

from ims_preview_summary.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
