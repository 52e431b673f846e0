"""Field kinds: each one owns how a value is validated, normalised, compared and mapped to and
from the server's JSON. A resource table (:class:`~.framework.Table`) only calls these methods.

Values passed in are known (the table never hands an unknown value to a kind) and have
passed :meth:`Kind.validate` where they come from a program.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Protocol

from . import content, os_versions, transfer
from .profiles import ServerProfile
from .unknowns import contains_unknown

#: A field-specific rule: ``None`` when the value is fine, else what is allowed.
Validator = Callable[[Any, ServerProfile], str | None]

#: Unicode categories of characters that change how text is shown rather than being shown:
#: controls (C0, DEL, C1: ANSI escape sequences start with ESC), line and paragraph separators,
#: and format characters (bidirectional overrides, zero-width spaces). The zero-width joiner
#: (U+200D) is a format character that emoji sequences need: it stays allowed.
_UNSHOWN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cf"})
_ALLOWED_FORMAT = frozenset({"\u200d"})


def unshown_character(text: str, allow: str = "") -> str | None:
    """What is wrong with the first character of ``text`` that a terminal or a rendered page would
    not show as itself (a control character such as ESC, a line break, a bidirectional override),
    or ``None``. ``allow`` lists characters the field accepts anyway (``"\\t\\n"`` for prose).

    Such characters in a value the CLI or a pull-request comment prints could recolour or
    rewrite what a reviewer sees, so the rules of text fields refuse them (pure, offline).
    """
    for char in text:
        if char in allow or char in _ALLOWED_FORMAT:
            continue
        if unicodedata.category(char) in _UNSHOWN_CATEGORIES:
            return (f"contains the control or format character {char!r} (U+{ord(char):04X}); "
                    "remove it (control characters, line breaks and bidirectional or zero-width characters "
                    "are not allowed here)")
    return None


def holds_unshown(value: Any) -> bool:
    """Whether a string in ``value`` (a map's keys included, at any depth) has a character that
    :func:`unshown_character` finds, even one a field allows (a newline in a description)."""
    if isinstance(value, str):
        return unshown_character(value) is not None
    if isinstance(value, Mapping):
        return any(holds_unshown(k) or holds_unshown(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_unshown(v) for v in value)
    return False


class Services(Protocol):
    """What check may use beyond the values: the provider process supplies it."""

    @property
    def memo(self) -> MutableMapping[Any, Any]:
        """Scratch space that lives as long as the provider process (never across runs)."""

    def os_versions(self) -> Mapping[str, str] | None:
        """The region's OS versions (lower-cased -> as the server spells them), read once per
        process; ``None`` when they could not be read."""

    def warn(self, message: str) -> None:
        """Show a warning in the CLI."""

    def upload_limit(self) -> int | None:
        """The largest request body the configured authentication may send (``None``: no limit)."""

    def project_id(self) -> str:
        """The configured project id ("" when unknown)."""

    def staging(self) -> transfer.Staging:
        """What the OBS settings allow (the transfer path of a source depends on it)."""

    def inform(self, message: str) -> None:
        """Show a line of information in the CLI (the transfer path an image takes)."""


class OfflineServices:
    """Services with no server: nothing beyond the built-in tables is known (unit tests, docs)."""

    def __init__(self) -> None:
        self.memo: dict[Any, Any] = {}
        self.warnings: list[str] = []
        self.notices: list[str] = []

    def os_versions(self) -> Mapping[str, str] | None:
        """No live list: only the built-in table counts."""
        return {}

    def warn(self, message: str) -> None:
        """Keep the warning (tests read it)."""
        self.warnings.append(message)

    def upload_limit(self) -> int | None:
        """No credentials known: no limit."""
        return None

    def project_id(self) -> str:
        """No configuration: unknown."""
        return ""

    def staging(self) -> transfer.Staging:
        """No configuration: nothing set for OBS."""
        return transfer.Staging()

    def inform(self, message: str) -> None:
        """Keep the line (tests read it)."""
        self.notices.append(message)


class Kind:
    """Behaviour of a plain value sent under one wire key (the base for every kind)."""

    type_name = "str"
    #: Whether :meth:`derive` may return anything (the table skips the call otherwise).
    derives = False
    #: Whether the CLI may print a refused value next to the message (see ``framework.Failure.quote``):
    #: not for values the program builds (a source's descriptor), which the message shows as declared.
    quoted = True

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        """``None`` when ``value`` is acceptable on ``profile``, else what is allowed."""
        return None

    def normalise(self, value: Any, services: Services) -> Any:
        """The canonical form stored in state (so that equal values never diff)."""
        return value

    def same(self, old: Any, new: Any) -> bool:
        """Whether two values are the same for the user."""
        return bool(old == new)

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        """The value as JSON keys of the server object (empty when it is not sent)."""
        return {} if wire is None or value is None else {wire: value}

    def wire_keys(self, wire: str | None, value: Any) -> list[str]:
        """The wire keys an update of this field manages."""
        return [] if wire is None else [wire]

    def wire_value(self, value: Any) -> Any:
        """A server value at a key this field owns, in the form :meth:`to_wire` produces (``None``: absent)."""
        return value

    def declared(self, value: Any) -> bool:
        """Whether a value in state means the program declared the field."""
        return value is not None

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        """The value as the server has it (``previous`` is the value in state, for kinds that need it)."""
        return previous if wire is None else image.get(wire)

    def derive(self, name: str, olds: Mapping[str, Any], checked: Mapping[str, Any],
               services: Services) -> dict[str, Any]:
        """Bookkeeping inputs derived at check from the previous and the new inputs (``None`` removes).

        ``services.memo`` is scratch space that lives as long as the provider process (never across runs).
        """
        return {}

    def show(self, value: Any) -> str:
        """A default as the user would write it (for the docs)."""
        return f"`{value}`" if isinstance(value, str) and value else f"`{json.dumps(value)}`"

    def display(self, value: Any) -> str:
        """A declared value in a message, as the user wrote it: Pulumi numbers reach the provider as
        floats, so a whole number is shown without ``.0``; long values are cut."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."


class Text(Kind):
    """A string, checked by ``rule``. With ``empty_is_absent``, ``""`` and no value are the same
    and an empty value is not sent (IMS ``__description``)."""

    def __init__(self, rule: Validator | None = None, *, empty_is_absent: bool = False) -> None:
        self.rule = rule
        self.empty_is_absent = empty_is_absent

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        if self.rule is not None:
            return self.rule(value, profile)
        return None if isinstance(value, str) else "must be a string"

    def same(self, old: Any, new: Any) -> bool:
        if self.empty_is_absent:
            return (old or "") == (new or "")
        return bool(old == new)

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        if self.empty_is_absent and not value:
            return {}
        return super().to_wire(wire, value)

    def wire_value(self, value: Any) -> Any:
        return None if self.empty_is_absent and value == "" else value

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        value = super().from_wire(wire, image, previous)
        return (value or "") if self.empty_is_absent else value


class Choice(Text):
    """One of the values the server profile lists in attribute ``allowed`` (``disk_formats``...)."""

    def __init__(self, allowed: str) -> None:
        super().__init__()
        self.allowed = allowed

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        allowed: tuple[str, ...] = getattr(profile, self.allowed)
        if not isinstance(value, str) or value not in allowed:
            return f"must be one of {', '.join(allowed)} on {profile.display}"
        return None


class OsVersion(Text):
    """An IMS ``__os_version``, spelled the way the server spells it.

    The built-in table is the fast path (no request). A value it does not know is checked
    against the region's live list (``GET /v1/cloudimages/os_version``, read once per
    provider process); when that list cannot be read, a warning says the server decides at
    apply. Only a value absent from both is refused, with the closest known values.
    """

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        if not isinstance(value, str):
            return "must be a string from the IMS OS version list"
        if not profile.os_version_table or os_versions.lookup(value) is not None:
            return None
        live = services.os_versions()
        if live is None:
            services.warn(f"os_version {value!r} is not in the provider's built-in table and the region's OS list "
                          "(GET /v1/cloudimages/os_version) could not be read: the server decides at `pulumi up`")
            return None
        if os_versions.key(value) in live:
            return None
        # the built-in table and the region's list overlap: each version once, as the table spells it
        spelled = {os_versions.key(v): v for v in sorted(set(live.values()))}
        spelled.update({os_versions.key(r.version): r.version for r in os_versions.OS_VERSIONS})
        close = difflib.get_close_matches(value, list(spelled.values()), n=5, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else ""
        return ("is not an IMS OS version: neither the provider's table nor this region's list "
                f"(GET /v1/cloudimages/os_version) has it{hint}")

    def normalise(self, value: Any, services: Services) -> Any:
        canonical = os_versions.canonical(value)
        if canonical:
            return canonical
        live = services.os_versions() or {}
        return live.get(os_versions.key(value), value)

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        value = super().from_wire(wire, image, previous)
        return None if value is None else (os_versions.canonical(value) or value)


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


class Integer(Kind):
    """A whole number from ``low`` to ``high`` (a number, or the name of a profile attribute).

    Pulumi numbers reach the provider as floats (``1024.0``); state and wire get integers.
    """

    type_name = "int"

    def __init__(self, unit: str, low: int | str, high: int | str, note: str = "") -> None:
        self.unit, self.low, self.high, self.note = unit, low, high, note

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        low: int = getattr(profile, self.low) if isinstance(self.low, str) else self.low
        high: int = getattr(profile, self.high) if isinstance(self.high, str) else self.high
        if not _is_int(value) or not low <= value <= high:
            return f"must be a whole number of {self.unit} from {low} to {high} on {profile.display}{self.note}"
        return None

    def normalise(self, value: Any, services: Services) -> Any:
        return int(value)

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {} if wire is None or value is None else {wire: int(value)}


class Boolean(Kind):
    """``true`` or ``false``."""

    type_name = "bool"

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        return None if isinstance(value, bool) else "must be true or false"


class StringSet(Kind):
    """A set of strings kept as a sorted list: order and duplicates never cause a diff."""

    type_name = "list[str]"

    def __init__(self, rule: Validator, hidden_prefix: str = "") -> None:
        self.rule = rule
        self.hidden_prefix = hidden_prefix

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        return self.rule(value, profile)

    def normalise(self, value: Any, services: Services) -> Any:
        return sorted(set(value))

    def _shown(self, members: Any) -> list[str]:
        # members another field owns (the create token's tag) are not the user's
        return sorted({m for m in members or [] if not (self.hidden_prefix and str(m).startswith(self.hidden_prefix))})

    def same(self, old: Any, new: Any) -> bool:
        return sorted(set(old or [])) == sorted(set(new or []))

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {} if wire is None or value is None else {wire: sorted(set(value))}

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        return self._shown(image.get(wire)) if wire else previous


class FlatMap(Kind):
    """String attributes stored as top-level keys of the server object (custom properties).

    The stack manages only the keys it declares: attributes that others add are neither
    shown nor removed, and a key dropped from the program is removed from the server.
    """

    type_name = "dict[str, str]"

    def __init__(self, rule: Validator) -> None:
        self.rule = rule

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        return self.rule(value, profile)

    def normalise(self, value: Any, services: Services) -> Any:
        return dict(sorted(value.items()))

    def same(self, old: Any, new: Any) -> bool:
        return dict(old or {}) == dict(new or {})

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return dict(value or {})

    def wire_keys(self, wire: str | None, value: Any) -> list[str]:
        return sorted(value or {})

    def wire_value(self, value: Any) -> Any:
        return None if value is None else str(value)

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        return {k: str(image[k]) for k in sorted(previous or {}) if k in image}


class CreationRef(Text):
    """The id of an existing object to take over when the resource is first created.

    Adding or dropping it later changes nothing; changing it to another id replaces. Once the
    resource exists, ``marker`` (a bookkeeping input) records that the adoption is done, so a
    later replacement creates a new object instead of adopting the one it just deleted.

    The marker is derived from the previous inputs at every run, never remembered across runs:
    so a run that died between the delete and the create of a replacement converges on the
    next one. The engine checks a replacement twice, first with the previous inputs and then
    with none (to create it); ``memo`` carries the first check's finding to the second,
    keyed by the resource's ``identity`` input (its create token).
    """

    derives = True

    def __init__(self, rule: Validator, marker: str, identity: str) -> None:
        super().__init__(rule)
        self.marker = marker
        self.identity = identity

    def same(self, old: Any, new: Any) -> bool:
        return old is None or new is None or old == new

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {}

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        return previous

    def derive(self, name: str, olds: Mapping[str, Any], checked: Mapping[str, Any],
               services: Services) -> dict[str, Any]:
        memo = services.memo
        new, ident = checked.get(name), checked.get(self.identity)
        key = (self.marker, ident)
        if olds:
            done = new is not None and olds.get(name) in (None, new)
            if ident:
                memo[key] = done
        else:
            done = bool(ident) and bool(memo.get(key))
        return {self.marker: True if done else None}


class ContentSource(Kind):
    """Where an image's bytes come from, identified by the bytes (their SHA-256), not the path.

    The resource class turns ``pulumi.FileAsset``/``RemoteAsset``/path into a map
    (``content.describe``): moving or touching a file with the same bytes is no change. A URL is
    identified by the digest its declared checksum gives where both sides have one, else by
    scheme, host, port and path (``content.url_identity``): its user information and query string
    are secrets (the map has them redacted; the whole URL travels as the secret input
    ``content.SECRET_URL_KEY``, never in this map), and a presigned URL generated again for the
    same object must not replace the image. Stacks of releases up to 0.3 stored the whole URL
    here: it has the same identity. An OBS object (``obs://bucket/key``, registered where it is) is
    identified like a URL: its location, plus the digest of a declared checksum.
    """

    type_name = "FileAsset | RemoteAsset | str"
    quoted = False

    def display(self, value: Any) -> str:
        """A source in a message: where it is (a path or a redacted URL, whole), not its descriptor."""
        return repr(value.get("location") if isinstance(value, Mapping) else value)

    def validate(self, value: Any, profile: ServerProfile, services: Services) -> str | None:
        if not isinstance(value, (Mapping, str)):
            return "must be a pulumi.FileAsset, a pulumi.RemoteAsset (http/https) or a path"
        value = content.describe(value) if isinstance(value, str) else value
        if value.get("missing"):
            return "is not a readable file (a relative path is relative to the project directory)"
        if value.get("kind") == "obs":
            return transfer.obs_problem(str(value.get("location") or ""))
        # sizes and limits: the transfer path, decided with the other inputs (image_metadata's relation)
        return None

    def normalise(self, value: Any, services: Services) -> Any:
        described = content.describe(value) if isinstance(value, str) else dict(value)
        if isinstance(described.get("size"), float):
            described["size"] = int(described["size"])  # Pulumi numbers arrive as floats
        return described

    def same(self, old: Any, new: Any) -> bool:
        if not old or not new:
            return not old and not new
        for algorithm in ("sha256", "sha512", "md5"):  # the bytes, where both sides know them
            if old.get(algorithm) and new.get(algorithm):
                return bool(old[algorithm] == new[algorithm])
        if old.get("kind") == new.get("kind") == "url":
            return content.url_identity(str(old.get("location"))) == content.url_identity(str(new.get("location")))
        return bool(old.get("location") == new.get("location"))

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {}

    def wire_keys(self, wire: str | None, value: Any) -> list[str]:
        return []

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        if isinstance(previous, Mapping) and previous.get("kind") == "url" and isinstance(previous.get("location"), str):
            # a state of release 0.3 or earlier has the whole URL here: refresh and update store it redacted
            return {**previous, "location": content.redact_url(previous["location"])}
        return previous


class Checksum(Text):
    """A declared ``md5:``/``sha256:``/``sha512:`` checksum of the content; never sent. As an
    output: the declared value, or the server's MD5 when none is declared."""

    def __init__(self) -> None:
        super().__init__(lambda value, profile: content.checksum_problem(value))

    def declared(self, value: Any) -> bool:
        # "" in state: release 0.1's computed output of an image without data, never a declaration
        return bool(value)

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {}

    def wire_keys(self, wire: str | None, value: Any) -> list[str]:
        return []

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        # as an output: the declared value, else the server's MD5; "" while the image has no data
        # (an output missing from the state would be unknown at preview, not empty)
        return previous if previous else ((image.get(wire) or "") if wire else None)


class ProjectDefault(Text):
    """A project id that defaults to the configured project (``ims:projectId``)."""

    derives = True

    def derive(self, name: str, olds: Mapping[str, Any], checked: Mapping[str, Any],
               services: Services) -> dict[str, Any]:
        if checked.get(name) is not None:
            return {}
        project = services.project_id()
        return {name: project} if project else {}


class Bookkeeping(Kind):
    """An input the resource class or check sets; stored, sent on create if it has a wire key,
    never compared and kept as it was on refresh."""

    def __init__(self, type_name: str = "str") -> None:
        self.type_name = type_name

    def same(self, old: Any, new: Any) -> bool:
        return True

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        return previous


class SecretUrl(Bookkeeping):
    """The whole URL of a URL source, with the user information and query string that ``source``
    has redacted: the resource class registers it as a Pulumi secret (encrypted in the state,
    ``[secret]`` in every display). The provider reads the source from it at create and update
    (``content.with_url``); it is never sent to the server, never compared (a presigned URL
    generated again is no change), never an output, and a refresh drops it (the program gives it
    again at the next ``up``). Never refused either: a message would have to show it."""

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        return None

    def display(self, value: Any) -> str:
        return repr(content.redact_url(value)) if isinstance(value, str) else "[secret]"


#: A token :meth:`TokenTag.fresh` made: the base, ``-`` and 16 hex digits.
_DERIVED_TOKEN = re.compile(r"(.+)-[0-9a-f]{16}")


class TokenTag(Bookkeeping):
    """A bookkeeping value sent on create as one tag ``<key>=<value>`` of the list at the wire key.

    Tags are a documented field of the create request and a documented list filter, so an
    object whose create response was lost is found again with documented requests only.

    The program gives a base token per resource (stable across runs). A new object gets
    ``<base>-<digest>``, the digest taken over the values of the ``distinguished_by`` inputs
    (the fields whose change can replace the object): so the replacement of an object, which is
    created *before* the old one is deleted, carries another token than the old one and a look-up
    by token never mistakes the old object for the new one. An existing object keeps the token it
    was created with (check with previous inputs keeps it), so the token in the state is always
    the one on the server; tokens of earlier releases (a bare base) stay as they are.
    """

    derives = True

    def __init__(self, key: str, distinguished_by: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.key = key
        self.distinguished_by = distinguished_by

    def tag(self, value: str) -> str:
        """The tag that carries ``value``."""
        return f"{self.key}={value}"

    def to_wire(self, wire: str | None, value: Any) -> dict[str, Any]:
        return {} if wire is None or value is None else {wire: [self.tag(value)]}

    def fresh(self, token: str, inputs: Mapping[str, Any]) -> str | None:
        """The token a new object with these checked ``inputs`` gets (``token``: the program's
        base token or any token derived from it); ``None`` while one of the values is unknown."""
        values = {n: inputs[n] for n in self.distinguished_by if inputs.get(n) is not None}
        if contains_unknown(values):
            return None
        digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
        derived = _DERIVED_TOKEN.fullmatch(token)
        return f"{derived.group(1) if derived else token}-{digest}"

    def distinct(self, old: Any, inputs: Mapping[str, Any], name: str) -> bool:
        """Whether a replacement with ``inputs`` gets another token than the object's ``old`` one
        (unknown values count as distinct: they are known, and compared again, at ``up``)."""
        token = inputs.get(name) or old
        if not isinstance(token, str) or not token:
            return False
        fresh = self.fresh(token, inputs)
        return fresh is None or fresh != old

    def derive(self, name: str, olds: Mapping[str, Any], checked: Mapping[str, Any],
               services: Services) -> dict[str, Any]:
        token = checked.get(name)
        if not isinstance(token, str) or not token:
            return {}
        if olds:
            old = olds.get(name)
            return {name: old} if isinstance(old, str) and old else {}
        fresh = self.fresh(token, checked)
        return {name: fresh} if fresh else {}


class Computed(Kind):
    """A value only the server sets. Strings are never ``None`` in outputs (``""`` instead): a
    registered output missing from the state is unknown at preview (SDK), not empty."""

    def __init__(self, type_name: str = "str") -> None:
        self.type_name = type_name

    def from_wire(self, wire: str | None, image: Mapping[str, Any], previous: Any) -> Any:
        value = image.get(wire) if wire else None
        if self.type_name != "str":
            return value
        return "" if value is None else value if isinstance(value, str) else str(value)
