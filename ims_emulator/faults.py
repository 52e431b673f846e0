"""Scripted faults for retry, timeout and lost-response tests.

A rule fires on a matching request either always, with probability ``rate``, for the next
``count`` matching requests, or both (``rate`` per request, at most ``count`` times). All
randomness comes from one seeded generator, so a test with a ``seed`` is reproducible.

Kinds and what they do (the app decides where each is checked):

* ``latency`` ``ms``/``jitter_ms``: sleep ``ms`` plus uniform ±``jitter_ms`` (asyncio.sleep).
* ``reset``: close the connection without a response, before anything is processed.
* ``throttle`` ``retry_after``: 429 ``APIGW.0308`` with ``Retry-After``.
* ``error`` ``status``: a 5xx before the store is touched.
* ``forbidden``: 403 ``IMG.0026`` after authentication.
* ``drop_response``: process and commit, then close the connection unanswered.
* ``unique_names``: enforce IMG.0009 on matching create/rename requests.
* ``quota`` ``limit``: lower the private-image quota to ``limit``.
* ``cut_upload`` ``after_bytes``: drop the connection of a matching upload
  (``PUT /v2/images/{id}/file``) once ``after_bytes`` bytes of its body have arrived, or at
  its end if it is shorter; the image goes back to ``queued``.
* ``kill_upload``: receive a matching upload fully and answer 204, but the image ends
  ``killed`` instead of ``active`` (a failed import).
* ``kill_registration``: accept a matching registration (``PUT /v1/cloudimages/{id}/upload``)
  and read its object, but the job ends ``FAIL`` (IMG.1075 "Failed to register the image
  file.") and the image ``killed`` instead of ``active``.
* ``half_commit`` ``status``: a matching create (``POST /v2/images``) stores the image
  **without its tags** and answers ``status`` (500): the image row committed, the tag write
  failed, as Glance does when its separate tag transaction fails ("database is locked").

``path`` is a route template (``/v2/images/{id}``), an exact path, or a prefix ending in
``*`` (``/v2/*``). ``method`` is an HTTP method.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: Per kind, the extra parameters it accepts and their defaults.
KINDS: dict[str, dict[str, int]] = {
    "latency": {"ms": 0, "jitter_ms": 0},
    "reset": {},
    "throttle": {"retry_after": 1},
    "error": {"status": 503},
    "forbidden": {},
    "drop_response": {},
    "unique_names": {},
    "quota": {"limit": 0},
    "cut_upload": {"after_bytes": 0},
    "kill_upload": {},
    "kill_registration": {},
    "half_commit": {"status": 500},
}
COMMON = ("method", "path", "rate", "count")


class FaultError(ValueError):
    """A rule is malformed."""


@dataclass
class FaultRule:
    """One rule; ``params`` holds the kind's own parameters (see :data:`KINDS`)."""

    kind: str
    params: dict[str, int]
    method: str | None = None
    path: str | None = None
    rate: float | None = None
    #: Firings left; ``None`` is unlimited.
    count: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> FaultRule:
        """Validate a JSON rule such as ``{"kind": "error", "status": 503, "rate": 0.2}``."""
        if not isinstance(data, dict):
            raise FaultError("a rule must be a JSON object")
        kind = data.get("kind")
        if kind not in KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        unknown = set(data) - {"kind", *COMMON, *KINDS[kind]}
        if unknown:
            raise FaultError(f"{kind}: unknown parameter(s) {sorted(unknown)}")
        params = {key: _non_negative_int(kind, key, data.get(key, default)) for key, default in KINDS[kind].items()}
        if kind in ("error", "half_commit") and not 500 <= params["status"] <= 599:
            raise FaultError(f"{kind}: status must be 500..599")
        method, path, rate, count = (data.get(key) for key in COMMON)
        if method is not None and not isinstance(method, str):
            raise FaultError(f"{kind}: method must be a string")
        if path is not None and not (isinstance(path, str) and path.startswith("/")):
            raise FaultError(f"{kind}: path must start with '/'")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1):
            raise FaultError(f"{kind}: rate must be a number in 0..1")
        if count is not None:
            count = _non_negative_int(kind, "count", count)
        return cls(kind, params, method.upper() if method else None, path, rate, count)

    @classmethod
    def from_cli(cls, spec: str) -> FaultRule:
        """``KIND[:key=value,...]``, e.g. ``error:status=503,rate=0.2`` or ``reset:count=3``."""
        kind, _, rest = spec.partition(":")
        data: dict[str, Any] = {"kind": kind}
        for item in filter(None, rest.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise FaultError(f"expected key=value in {spec!r}, got {item!r}")
            data[key] = value if key in ("method", "path") else _number(value)
        return cls.from_dict(data)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (unset options left out)."""
        common = {"method": self.method, "path": self.path, "rate": self.rate, "count": self.count}
        return {"kind": self.kind, **self.params, **{k: v for k, v in common.items() if v is not None}}

    def matches(self, method: str, path: str, template: str) -> bool:
        """Whether this rule applies to a request (ignoring rate and count)."""
        if self.method is not None and self.method != method:
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return self.path in (path, template)


def _non_negative_int(kind: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{kind}: {key} must be a non-negative integer")
    return value


def _number(text: str) -> int | float | str:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


class Faults:
    """The active rules and the seeded random generator they draw from."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = list(rules or [])
        self._rng = random.Random(seed)

    def replace(self, rules: list[FaultRule], seed: int | None = None) -> None:
        """Install ``rules`` instead of the current ones; a ``seed`` restarts the generator."""
        self.rules = list(rules)
        if seed is not None:
            self._rng.seed(seed)

    def fire(self, kind: str, method: str, path: str, template: str) -> FaultRule | None:
        """The first rule of ``kind`` that fires for this request (consuming one ``count``)."""
        for rule in self.rules:
            if rule.kind != kind or not rule.matches(method, path, template):
                continue
            if rule.count == 0 or (rule.rate is not None and self._rng.random() >= rule.rate):
                continue
            if rule.count is not None:
                rule.count -= 1
            return rule
        return None

    def delay(self, rule: FaultRule) -> float:
        """Seconds a ``latency`` rule sleeps this time."""
        jitter = rule.params["jitter_ms"]
        return max(0.0, rule.params["ms"] + self._rng.uniform(-jitter, jitter)) / 1000

    def as_list(self) -> list[dict[str, Any]]:
        """The JSON form of the active rules (with the counts left)."""
        return [rule.as_dict() for rule in self.rules]
