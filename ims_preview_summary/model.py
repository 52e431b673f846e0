"""Turn the document of ``pulumi preview --json`` into a :class:`Summary` (pure, no I/O).

The parts of the document used here:

* ``steps[]``: ``op``, ``urn``, ``oldState``/``newState`` (``inputs``, ``id``, ``type``) and
  ``replaceReasons``. Dynamic providers return no ``detailedDiff``, so changed fields are
  computed from ``oldState.inputs`` versus ``newState.inputs``. With delete-before-replace
  the CLI reports one step with ``op: "replace"``; the ``create-replacement`` and
  ``delete-replaced`` steps some runs add are folded into it.
* ``changeSummary``: the totals per operation.
* ``diagnostics[]``: ``severity``, ``message`` and (optionally) ``urn``.

The CLI masks secret values as the string ``"[secret]"`` (or keeps the secret signature
object); unknown values (known only after apply) are the string
``04da6b54-80e4-46f7-96ec-b56ff0331ba9``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

#: How the CLI shows a secret value in ``--json`` output (without ``--show-secrets``).
SECRET_TEXT: Final = "[secret]"
#: The signature key/value of a serialised secret (``{"4dabf...": "1b47...", "value": ...}``).
SECRET_SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"
#: Pulumi's placeholder for a value that is only known after apply.
UNKNOWN_TEXT: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: Inputs that are bookkeeping, not something a reviewer declared (``__*`` keys are skipped too).
DEFAULT_IGNORED: Final = frozenset({"create_token"})

#: Step ops mapped to the operation shown; ops not listed here change nothing (same, read, refresh...).
OPERATIONS: Final[Mapping[str, str]] = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import-replacement": "replace",
    "delete": "delete",
    "import": "import",
    "discard": "forget",
    "discard-replaced": "forget",
}
#: Order of the operations in the summary: the ones that lose data first.
OPERATION_ORDER: Final = ("replace", "delete", "update", "create", "import", "forget")


@dataclass(frozen=True)
class Grant:
    """Resources of type ``by`` give project ``member`` (an input) access to the object whose id is
    their input ``target``: when that object is replaced, its new id is not shared with anyone."""

    by: str
    target: str
    member: str


#: What a replacement of each type takes away from others (display types, see :func:`display_type`).
GRANTS: Final[Mapping[str, Grant]] = {
    "ims:ImageMetadata": Grant(by="ims:ImageMember", target="image_id", member="member_id"),
}


class _Missing:
    """The value of a field that one side of a step does not have."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class PreviewError(ValueError):
    """The input is not the JSON document of ``pulumi preview --json``."""


@dataclass(frozen=True)
class FieldChange:
    """One input whose value differs: ``old`` or ``new`` is :data:`MISSING` when absent."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class LostAccess:
    """A resource of the stack that shares a replaced object with another project: that project
    loses the old object (its id stops existing). ``reshared``: the preview replaces the sharing
    resource too, so the new object is shared again (and must be accepted again)."""

    name: str
    member: str
    reshared: bool = False


@dataclass(frozen=True)
class ResourceChange:
    """What the preview does to one resource."""

    urn: str
    name: str
    type: str
    operation: str
    fields: tuple[FieldChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    hidden_secrets: tuple[str, ...] = ()
    """Inputs that are secret on both sides: their values are masked, so they cannot be compared."""
    id: str | None = None
    lost_access: tuple[LostAccess, ...] = ()
    """For a replacement: the stack's resources that share the old object (see :data:`GRANTS`)."""


@dataclass(frozen=True)
class Diagnostic:
    """An error or warning the preview reported."""

    severity: str
    message: str
    urn: str | None = None

    @property
    def resource(self) -> str | None:
        """The resource name from the URN, if the diagnostic is about one."""
        return urn_parts(self.urn)[3] if self.urn else None


@dataclass(frozen=True)
class Summary:
    """Everything the Markdown rendering needs."""

    resources: tuple[ResourceChange, ...]
    totals: Mapping[str, int]
    diagnostics: tuple[Diagnostic, ...] = ()
    project: str | None = None
    stack: str | None = None
    unchanged: int = 0
    errors: tuple[Diagnostic, ...] = field(init=False)
    warnings: tuple[Diagnostic, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "errors", tuple(d for d in self.diagnostics if d.severity == "error"))
        object.__setattr__(self, "warnings", tuple(d for d in self.diagnostics if d.severity == "warning"))

    @property
    def has_changes(self) -> bool:
        """Whether any resource is created, updated, replaced, deleted, imported or forgotten."""
        return bool(self.resources)


# --- helpers ---------------------------------------------------------------------------------


def urn_parts(urn: str) -> tuple[str | None, str | None, str, str]:
    """``(stack, project, type, name)`` of ``urn:pulumi:STACK::PROJECT::TYPE::NAME``.

    The type of a child resource is its parents' types and its own joined by ``$``; only
    its own is returned. A name may itself contain ``::``. Anything that is not a URN is
    returned as the name.
    """
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        return None, None, "", urn
    stack = parts[0][len("urn:pulumi:"):]
    return stack, parts[1], parts[2].rsplit("$", 1)[-1], parts[3]


def display_type(type_: str) -> str:
    """The type as a user declares it: ``pulumi-python:dynamic/ims:ImageMetadata`` -> ``ims:ImageMetadata``."""
    prefix = "pulumi-python:dynamic/"
    return type_[len(prefix):] if type_.startswith(prefix) else type_


def is_secret(value: Any) -> bool:
    """Whether ``value`` is a masked or serialised secret."""
    if isinstance(value, str):
        return value == SECRET_TEXT
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def is_unknown(value: Any) -> bool:
    """Whether ``value`` is Pulumi's "known after apply" placeholder."""
    return isinstance(value, str) and value == UNKNOWN_TEXT


def _ignored(key: str, ignore: frozenset[str]) -> bool:
    return key.startswith("__") or key in ignore


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``True`` is not ``1`` (Python says it is), ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return bool(a == b)


def diff_inputs(
    old: Mapping[str, Any], new: Mapping[str, Any], ignore: Iterable[str] = DEFAULT_IGNORED
) -> tuple[list[FieldChange], list[str]]:
    """The inputs whose values differ, sorted by name, and the inputs that are secret on both sides.

    Keys that start with ``__`` and those in ``ignore`` are skipped. A value that is unknown
    on the new side counts as a change (it may change).
    """
    skip = frozenset(ignore)
    changes: list[FieldChange] = []
    hidden: list[str] = []
    for key in sorted(set(old) | set(new)):
        if _ignored(key, skip):
            continue
        before, after = old.get(key, MISSING), new.get(key, MISSING)
        if is_secret(before) and is_secret(after):
            hidden.append(key)
            continue
        if same_json(before, after) and not is_unknown(after):
            continue
        changes.append(FieldChange(key, before, after))
    return changes, hidden


def declared_inputs(inputs: Mapping[str, Any], ignore: Iterable[str] = DEFAULT_IGNORED) -> list[FieldChange]:
    """The inputs of a resource being created, as changes from nothing; empty values are left out."""
    skip = frozenset(ignore)
    return [
        FieldChange(key, MISSING, value)
        for key, value in sorted(inputs.items())
        if not _ignored(key, skip) and value not in (None, "", [], {})
    ]


def _with_lost_access(r: ResourceChange, changing: Mapping[str, list[Mapping[str, Any]]],
                      preview: Mapping[str, Any]) -> ResourceChange:
    """``r`` with the resources that share it, when it is replaced and its type grants access (:data:`GRANTS`).

    Every step counts (``same`` ones too): a share that the preview leaves alone still points at the
    old id. Its inputs are read from the old state (what is shared now), else the new one.
    """
    grant = GRANTS.get(r.type)
    if r.operation != "replace" or grant is None or not r.id:
        return r
    lost: list[LostAccess] = []
    for step in preview.get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        urn = str(step.get("urn", ""))
        _, _, type_, name = urn_parts(urn)
        if display_type(type_) != grant.by:
            continue
        inputs = _inputs(_state(step, "oldState")) or _inputs(_state(step, "newState"))
        if str(inputs.get(grant.target)) != r.id or any(x.name == name for x in lost):
            continue
        reshared = any(OPERATIONS.get(str(s.get("op"))) == "replace" for s in changing.get(urn, []))
        lost.append(LostAccess(name, str(inputs.get(grant.member, "")), reshared))
    return replace(r, lost_access=tuple(sorted(lost, key=lambda x: x.name))) if lost else r


# --- the summary -------------------------------------------------------------------------------


def parse_preview(text: str) -> dict[str, Any]:
    """Parse the output of ``pulumi preview --json``.

    Text before the JSON object (a warning the CLI printed first) is skipped. Raises
    :class:`PreviewError` when there is no JSON object with ``steps`` or ``changeSummary``.
    """
    start = text.find("{")
    if start < 0:
        raise PreviewError("no JSON object in the input (expected the output of `pulumi preview --json`)")
    try:
        document, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise PreviewError(f"the input is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not ({"steps", "changeSummary", "diagnostics"} & document.keys()):
        raise PreviewError("the JSON has no `steps`, `changeSummary` or `diagnostics`: not `pulumi preview --json`")
    return document


def _state(step: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    state = step.get(key)
    return state if isinstance(state, Mapping) else {}


def _inputs(state: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = state.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def summarize(preview: Mapping[str, Any], ignore: Iterable[str] = DEFAULT_IGNORED) -> Summary:
    """Summarize a parsed ``pulumi preview --json`` document.

    One :class:`ResourceChange` per resource that changes (steps of one replacement are
    merged), in the order of :data:`OPERATION_ORDER` and then of the steps; the totals are
    ``changeSummary`` as given. The stack resource itself (``pulumi:pulumi:Stack``) is
    counted in the totals but not listed.
    """
    skip = frozenset(ignore)
    by_urn: dict[str, list[Mapping[str, Any]]] = {}
    project: str | None = None
    stack: str | None = None
    for step in preview.get("steps") or []:
        if not isinstance(step, Mapping):
            continue
        urn = str(step.get("urn", ""))
        step_stack, step_project, _, _ = urn_parts(urn)
        project, stack = project or step_project, stack or step_stack
        if step.get("op") in OPERATIONS:
            by_urn.setdefault(urn, []).append(step)

    resources: list[ResourceChange] = []
    for urn, steps in by_urn.items():
        _, _, type_, name = urn_parts(urn)
        ops = [OPERATIONS[str(s["op"])] for s in steps]
        operation = "replace" if "replace" in ops else ops[0]
        if type_ == "pulumi:pulumi:Stack":
            continue
        old = next((_state(s, "oldState") for s in steps if _state(s, "oldState")), {})
        new = next((_state(s, "newState") for s in steps if _state(s, "newState")), {})
        reasons: list[str] = []
        for s in steps:
            for reason in map(str, s.get("replaceReasons") or []):
                if reason not in reasons:
                    reasons.append(reason)
        changes: list[FieldChange] = []
        hidden: list[str] = []
        if operation in ("create", "import"):
            changes = declared_inputs(_inputs(new), skip)
        elif operation in ("update", "replace"):
            changes, hidden = diff_inputs(_inputs(old), _inputs(new), skip)
        resources.append(ResourceChange(
            urn=urn,
            name=name,
            type=display_type(type_ or str(new.get("type") or old.get("type") or "")),
            operation=operation,
            fields=tuple(changes),
            replace_reasons=tuple(sorted(reasons)),  # the engine's order varies between runs
            hidden_secrets=tuple(hidden),
            id=str(old["id"]) if old.get("id") else None,
        ))
    resources = [_with_lost_access(r, by_urn, preview) for r in resources]
    resources.sort(key=lambda r: OPERATION_ORDER.index(r.operation))

    totals = {str(k): int(v) for k, v in (preview.get("changeSummary") or {}).items() if int(v)}
    diagnostics = tuple(
        Diagnostic(str(d.get("severity", "")), str(d.get("message", "")), d.get("urn") or None)
        for d in preview.get("diagnostics") or []
        if isinstance(d, Mapping)
    )
    return Summary(tuple(resources), totals, diagnostics, project, stack, totals.get("same", 0))
