"""Pulumi's unknown values (known only after apply), as check, diff and the kinds meet them in
preview: the one test every layer uses, free of any other import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_unknown(value: Any) -> bool:
    """True for Pulumi's unknown placeholder (a value that is only known after apply)."""
    return type(value).__name__ == "Unknown" and type(value).__module__.startswith("pulumi")


def contains_unknown(value: Any) -> bool:
    """True if ``value`` is unknown or holds an unknown (``tags=[other.output, "a=b"]`` in preview)."""
    if is_unknown(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, Mapping):
        return any(contains_unknown(v) for v in value.values())
    return False
