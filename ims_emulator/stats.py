"""Request counters for tests and benchmarks (``GET /_emulator/stats``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Stats:
    """Counts by ``"METHOD /route/{template}"``; ``/_emulator/*`` calls are not counted."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.writes = 0

    def request(self, method: str, template: str) -> None:
        """One arrived request, whatever happens to it next."""
        self.requests[f"{method} {template}"] += 1
        if method in WRITE_METHODS and template.startswith(("/v1/", "/v2/")):
            self.writes += 1

    def response(self, method: str, template: str, status: int) -> None:
        """One response produced (also when a ``drop_response`` fault then discards it)."""
        self.responses[f"{method} {template} {status}"] += 1

    def fault(self, kind: str) -> None:
        """One fault fired."""
        self.faults[kind] += 1

    def as_dict(self, images: dict[str, int]) -> dict[str, Any]:
        """The JSON form; ``images`` is the current image count per project."""
        return {
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "faults": dict(self.faults),
            "images": images,
            "writes": self.writes,
        }
