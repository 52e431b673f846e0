"""The resource framework: a table of fields per resource, each field's behaviour in its kind.

A :class:`Table` is the single description of one resource. From it come validation and
defaults (:meth:`Table.check`), update-versus-replace (:meth:`Table.plan`), the create body,
the JSON-patch of an update, the tag-API changes, the outputs and the README tables. None of
them looks at a field's name: what a field does is decided by its row, namely its
:class:`~.kinds.Kind` (normalise, compare, to and from the wire, validate) and its
:class:`ChangeRule` (PATCH, tag API or replacement, possibly depending on the server profile).

Everything here is pure and offline, and tolerates Pulumi's unknown values (a preview of an
input that depends on another resource's output): an unknown value is never validated and
always counts as a change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .kinds import Kind, OfflineServices, Services, holds_unshown
from .profiles import ServerProfile
from .unknowns import contains_unknown as contains_unknown
from .unknowns import is_unknown as is_unknown

# --- how a change is applied -------------------------------------------------------------


class Apply(Enum):
    """The way a changed value reaches the server."""

    PATCH = "update in place"
    TAGS = "update in place (tag API)"
    UPLOAD = "update in place (upload into the image)"
    REPLACE = "replace"
    NONE = "never compared"


@dataclass(frozen=True)
class ChangeRule:
    """How a change of a field is applied: always the same way."""

    how: Apply

    def apply(self, profile: ServerProfile) -> Apply:
        """The way on ``profile``."""
        return self.how

    def decide(self, profile: ServerProfile, olds: Mapping[str, Any]) -> Apply:
        """The way for a change of this object (``olds``: its previous outputs)."""
        return self.apply(profile)

    def describe(self, profiles: Sequence[ServerProfile]) -> str:
        """Human text for the README (the same on every profile)."""
        return "replace" if self.how is Apply.REPLACE else "update in place"

    def settled(self, olds: Mapping[str, Any]) -> bool:
        """Whether an unchanged value is fully applied to this object (``olds``: its previous outputs)."""
        return True

    #: Whether :meth:`decide` needs the object's state (its outputs), which check() does not have.
    needs_state = False


@dataclass(frozen=True)
class ByProfile(ChangeRule):
    """In place (by ``how``) where the profile's ``flag`` is true, else a replacement.

    ``setting`` names the stack config key that overrides the flag, for the docs.
    """

    flag: str = ""
    setting: str = ""

    def apply(self, profile: ServerProfile) -> Apply:
        """``how`` when ``profile.<flag>`` is true, else :attr:`Apply.REPLACE`."""
        return self.how if getattr(profile, self.flag) else Apply.REPLACE

    def describe(self, profiles: Sequence[ServerProfile]) -> str:
        """Per-server text, e.g. ``replace on IMS, in place on Glance``."""
        word = {True: "in place", False: "replace"}
        parts = [f"{word[bool(getattr(p, self.flag))]} on {p.display}" for p in profiles]
        text = ", ".join(parts)
        if self.setting:
            first = profiles[0]
            flipped = not getattr(first, self.flag)
            text += f" (`{self.setting} {str(flipped).lower()}`: {word[flipped]} on {first.display})"
        return text


@dataclass(frozen=True)
class ByState(ChangeRule):
    """In place (by ``how``) while the object's ``field`` is one of ``when`` (an image without
    data is ``queued``; one still receiving it ``saving`` or ``importing``), else a replacement.

    With ``settled``, a value is applied only once ``field`` reaches it (an uploaded image is
    ``active``): until then an unchanged value still counts as a change, so a run that ended
    before the data arrived (a timeout, a failed import the server put back to ``queued``) is
    finished by the next ``pulumi up`` instead of being forgotten.
    """

    field: str = ""
    when: tuple[str, ...] = ()
    settled_when: str = ""
    needs_state = True

    def decide(self, profile: ServerProfile, olds: Mapping[str, Any]) -> Apply:
        """``how`` while ``olds[field]`` is in ``when``, else :attr:`Apply.REPLACE`."""
        return self.how if olds.get(self.field) in self.when else Apply.REPLACE

    def settled(self, olds: Mapping[str, Any]) -> bool:
        """``olds[field]`` has reached ``settled_when`` (always, without one)."""
        return not self.settled_when or olds.get(self.field) == self.settled_when

    def describe(self, profiles: Sequence[ServerProfile]) -> str:
        """Text for the README."""
        states = " or ".join(f"`{w}`" for w in self.when)
        return f"in place while `{self.field}` is {states}, else replace"


UPDATE = ChangeRule(Apply.PATCH)
REPLACE = ChangeRule(Apply.REPLACE)
NEVER = ChangeRule(Apply.NONE)


class Role(Enum):
    """What a field is to the user."""

    INPUT = "input"  # declared in the program
    BOOKKEEPING = "bookkeeping"  # an input the resource class or check() sets; never compared
    OUTPUT = "output"  # computed by the server, kept in the state
    INFO = "info"  # computed by the server, reported by lookups only: not worth its bytes in every state entry


@dataclass(frozen=True)
class Field:
    """One row of a resource table.

    ``name`` is the Python/Pulumi name; ``wire`` the JSON key on the server (``None`` for
    fields that are not sent as one key). ``default(profile)`` fills an absent input the way
    the server would. ``guards_replacement`` marks a boolean that, while true, forbids
    deleting the object (IMS ``protected``): a replacement then cannot be applied.
    """

    name: str
    kind: Kind
    doc: str
    wire: str | None = None
    role: Role = Role.INPUT
    change: ChangeRule = NEVER
    required: bool = False
    default: Callable[[ServerProfile], Any] | None = None
    huawei_only: bool = False  # a Huawei extension that Glance does not return (docs)
    guards_replacement: bool = False

    @property
    def is_input(self) -> bool:
        """Whether the field is an input (declared or bookkeeping)."""
        return self.role not in (Role.OUTPUT, Role.INFO)


@dataclass
class Failure:
    """One invalid input: the property and a message that says what is allowed.

    ``quote``: whether the CLI may print the declared value next to the message. It prints the
    value of a failure's property raw (``property tags value {[{...}]} has a problem``): when the
    value holds characters a terminal would not show as themselves (an ANSI sequence, a newline,
    a bidirectional override), the failure is reported without its property, and the message,
    which quotes the value escaped, is all the user sees.
    """

    property: str
    reason: str
    quote: bool = True


#: A rule between fields of one resource (a declared checksum against the source's bytes):
#: given the checked inputs (defaults not applied), the profile, the services and the previous
#: inputs (empty on create), the failures. Unknown values must be let through.
Relation = Callable[[Mapping[str, Any], ServerProfile, Services, Mapping[str, Any]], list["Failure"]]


@dataclass
class Plan:
    """What applying new inputs to an existing object takes."""

    changed: list[str]
    replaces: list[str]

    @property
    def changes(self) -> bool:
        """Whether anything changes."""
        return bool(self.changed)


def json_pointer(key: str) -> str:
    """The JSON Pointer (RFC 6901) of the top-level attribute ``key``: ``~`` is written ``~0`` and
    ``/`` is written ``~1`` (in that order), so ``a/b`` is ``/a~1b`` and ``a~1`` is ``/a~01``.

    Glance (and IMS) decode the pointer this way: an unescaped ``/`` would name a nested
    attribute (``400 Invalid JSON pointer``) and an unescaped ``~0``/``~1`` another key.
    """
    return "/" + key.replace("~", "~0").replace("/", "~1")


def json_patch(current: Mapping[str, Any], desired: Mapping[str, Any], keys: list[str]) -> list[dict[str, Any]]:
    """JSON-patch (v2.1 dialect) operations turning wire body ``current`` into ``desired`` over ``keys``.

    ``add`` for keys the image does not have, ``replace`` for those it has with another
    value, ``remove`` for managed keys the desired body no longer has. Paths are escaped
    JSON Pointers (:func:`json_pointer`).
    """
    ops: list[dict[str, Any]] = []
    for key in keys:
        old, new = current.get(key), desired.get(key)
        if old == new:
            continue
        if new is None:
            ops.append({"op": "remove", "path": json_pointer(key)})
        else:
            ops.append({"op": "add" if old is None else "replace", "path": json_pointer(key), "value": new})
    return ops


class Table:
    """The fields of one resource and everything derived from them."""

    def __init__(self, resource: str, fields: Sequence[Field], relations: Sequence[Relation] = ()) -> None:
        self.resource = resource
        self.relations = tuple(relations)
        self.fields = tuple(fields)
        self.by_name = {f.name: f for f in self.fields}
        if len(self.by_name) != len(self.fields):
            raise ValueError(f"{resource}: duplicate field names")
        self.inputs = tuple(f for f in self.fields if f.is_input)
        self.user_inputs = tuple(f for f in self.fields if f.role is Role.INPUT)
        self.outputs = tuple(f for f in self.fields if f.role is Role.OUTPUT)
        self.infos = tuple(f for f in self.fields if f.role is Role.INFO)
        self._output_names = frozenset(f.name for f in self.outputs)
        self._input_names = frozenset(f.name for f in self.inputs)
        # Only kinds that derive bookkeeping are asked to (check runs for every resource of every run).
        self._deriving = tuple(f for f in self.inputs if f.kind.derives)

    # --- check ------------------------------------------------------------------------

    def check(self, olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile,
              services: Services | None = None) -> tuple[dict[str, Any], list[Failure]]:
        """Validate ``news``, fill defaults as the server would, normalise values.

        Returns the inputs to store and the failures. Unknown values pass through untouched.
        ``olds`` (the previous inputs, empty on create) lets kinds derive bookkeeping from the
        previous inputs and lets :meth:`blocked` refuse changes that have no path on this server.
        ``services`` is what the provider process offers kinds (the region's OS list, warnings,
        scratch space); without it only the built-in tables count.
        """
        svc: Services = services if services is not None else OfflineServices()
        out: dict[str, Any] = {}
        failures: list[Failure] = []
        for key, value in news.items():
            if key in self._output_names and value is None:
                continue  # placeholders the resource class declares so outputs exist as attributes
            if key not in self._input_names and not key.startswith("__"):
                allowed = ", ".join(f.name for f in self.user_inputs)
                failures.append(Failure(key, f"unknown input {key!r}; {self.resource} accepts: {allowed}",
                                        quote=not (holds_unshown(key) or holds_unshown(value))))
        for f in self.inputs:
            value = news.get(f.name)
            if value is None:
                if f.required:
                    failures.append(Failure(f.name, f"{f.name} is required ({f.doc})"))
                continue  # a default is applied where it is used (effective), never stored
            if contains_unknown(value):
                out[f.name] = value  # validated at `up`, when the value is known
                continue
            problem = f.kind.validate(value, profile, svc)
            if problem:
                failures.append(Failure(f.name, f"{f.name} {f.kind.display(value)} {problem}",
                                        quote=f.kind.quoted and not holds_unshown(value)))
                continue
            out[f.name] = f.kind.normalise(value, svc)
        for f in self._deriving:
            for key, derived in f.kind.derive(f.name, olds, out, svc).items():
                if derived is None:
                    out.pop(key, None)
                else:
                    out[key] = derived
        if not failures:
            for relation in self.relations:
                failures += relation(out, profile, svc, olds)
        for key, value in news.items():
            if key.startswith("__") and key not in self._input_names:
                out[key] = value  # __provider and other engine-owned keys
        if olds and not failures:
            failures += self.blocked(olds, out, profile)
        return out, failures

    def effective(self, inputs: Mapping[str, Any], profile: ServerProfile) -> dict[str, Any]:
        """``inputs`` with the default of every user input they lack: the values the server is
        asked for. Stored inputs hold only what the program declares (a default is a fact of
        the table and the server, not of the stack), so create, update and diff call this."""
        out = dict(inputs)
        for f in self.user_inputs:
            if out.get(f.name) is None and f.default is not None:
                value = f.default(profile)
                if value is not None:
                    out[f.name] = value
        return out

    # --- diff -------------------------------------------------------------------------

    def plan(self, olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile, *,
             certain: bool = False) -> Plan:
        """Compare the fields the user declares (never server-added attributes).

        ``olds`` are the previous outputs (which echo the inputs), ``news`` the checked inputs
        (an input they lack counts with its default: removing a declaration resets the value).
        With ``certain`` (check(), which has the previous inputs but not the object's state), only
        what is sure: known values that differ, and replacements that do not depend on the state.
        """
        changed: list[str] = []
        replaces: list[str] = []
        news = self.effective(news, profile)
        for f in self.user_inputs:
            old, new = olds.get(f.name), news.get(f.name)
            if new is None:
                continue  # not declared and no default: the server's value, not managed by the stack
            if certain and (contains_unknown(new) or f.kind.same(old, new)):
                continue
            if not contains_unknown(new) and f.kind.same(old, new) and f.change.settled(olds):
                continue
            changed.append(f.name)
            if certain and f.change.needs_state:
                continue  # in place or not depends on the object's state, which only diff sees
            if f.change.decide(profile, olds) is Apply.REPLACE:
                replaces.append(f.name)
        return Plan(changed, replaces)

    def in_place(self, name: str, profile: ServerProfile) -> bool:
        """Whether a change of field ``name`` is applied without replacing the object."""
        return self.by_name[name].change.apply(profile) in (Apply.PATCH, Apply.TAGS, Apply.UPLOAD)

    def blocked(self, olds: Mapping[str, Any], news: Mapping[str, Any], profile: ServerProfile) -> list[Failure]:
        """Changes that no update or replacement can apply; reported at preview, never at apply."""
        guards = [f for f in self.user_inputs if f.guards_replacement and olds.get(f.name)]
        if not guards:
            return []
        p = self.plan(self.effective(olds, profile), news, profile, certain=True)  # olds: previous inputs
        if not p.replaces:
            return []
        guard = guards[0]
        flip = guard.change.setting if isinstance(guard.change, ByProfile) else ""
        if p.replaces == [guard.name]:
            enable = (f"; if your endpoint does allow PATCH of /{guard.wire}, set "
                      f"`pulumi config set {flip} true`" if flip else "")
            return [Failure(guard.name, (
                f"{guard.name} cannot be changed from true to false on this {profile.kind} server: its API refuses "
                f"to change `{guard.name}` on an existing image, and replacing the image would need to delete the "
                f"{guard.name} one. Keep {guard.name}=True, or remove the protection in the IMS console (on the local "
                f"emulator: see docs/images.md, 'Update in place or replace') and run `pulumi refresh`{enable}."))]
        fields = ", ".join(n for n in p.replaces if n != guard.name)
        how = (f"first run `pulumi up` with only {guard.name}=False, then make this change"
               if self.in_place(guard.name, profile) else
               "its protection cannot be removed through this server's API; remove it in the IMS console first "
               "(see docs/images.md, 'Update in place or replace')")
        return [Failure(p.replaces[0], (
            f"changing {fields} replaces the image, which means deleting the current one, but it is "
            f"{guard.name}: {how}"))]

    # --- wire mapping -----------------------------------------------------------------

    def create_body(self, inputs: Mapping[str, Any], profile: ServerProfile) -> dict[str, Any]:
        """The JSON body of the create request for checked inputs (``profile.create_keys`` only)."""
        body: dict[str, Any] = {}
        for f in self.inputs:
            value = inputs.get(f.name)
            if value is None:
                continue
            for key, wire_value in f.kind.to_wire(f.wire, value).items():
                if isinstance(wire_value, list) and isinstance(body.get(key), list):
                    body[key] = [*body[key], *wire_value]  # two fields share a list (user tags + token tag)
                else:
                    body[key] = wire_value
        if profile.create_keys is not None:
            # Only what the create request documents; the rest is set by a PATCH right after.
            body = {k: v for k, v in body.items() if k in profile.create_keys}
        return body

    def _patched(self, profile: ServerProfile) -> list[Field]:
        return [f for f in self.inputs if f.change.apply(profile) is Apply.PATCH]

    def patch_body(self, inputs: Mapping[str, Any], profile: ServerProfile) -> dict[str, Any]:
        """The wire form of the fields a PATCH applies (empty values absent)."""
        body: dict[str, Any] = {}
        for f in self._patched(profile):
            value = inputs.get(f.name)
            if value is not None:
                body.update(f.kind.to_wire(f.wire, value))
        return body

    def managed_keys(self, profile: ServerProfile, *inputs: Mapping[str, Any]) -> list[str]:
        """The wire keys a PATCH may touch for these inputs, in table order.

        A scalar field manages its wire key; a map field manages the keys any of ``inputs``
        declares (so a key that was dropped is removed, and attributes others added are kept).
        """
        keys: dict[str, None] = {}
        for f in self._patched(profile):
            for one in inputs:
                keys.update(dict.fromkeys(f.kind.wire_keys(f.wire, one.get(f.name))))
        return list(keys)

    def image_wire(self, image: Mapping[str, Any], keys: Iterable[str], profile: ServerProfile) -> dict[str, Any]:
        """The server object's values at ``keys``, normalised by the kind that owns each key."""
        owners = {f.wire: f for f in self._patched(profile) if f.wire}
        spread = [f for f in self._patched(profile) if f.wire is None]
        out: dict[str, Any] = {}
        for key in keys:
            owner = owners.get(key) or (spread[0] if spread else None)
            value = image.get(key)
            if owner is not None:
                value = owner.kind.wire_value(value)
            if value is not None:
                out[key] = value
        return out

    def tag_changes(self, current: Mapping[str, Any], desired: Mapping[str, Any],
                    profile: ServerProfile) -> tuple[list[str], list[str]]:
        """Members to add and to remove through the tag API (fields applied by :attr:`Apply.TAGS`)."""
        add: set[str] = set()
        remove: set[str] = set()
        for f in self.inputs:
            if f.change.apply(profile) is Apply.TAGS:
                old, new = set(current.get(f.name) or []), set(desired.get(f.name) or [])
                add |= new - old
                remove |= old - new
        return sorted(add), sorted(remove)

    def inputs_from_image(self, image: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
        """The managed inputs as the server has them (refresh: drift flows back into the inputs).

        An input that ``previous`` lacks is not managed and stays out, unless ``previous`` has
        no declared input at all (a read-only reference: everything is read).
        """
        reference = not any(f.kind.declared(previous.get(f.name)) for f in self.user_inputs)
        out: dict[str, Any] = {}
        for f in self.inputs:
            if not f.kind.declared(previous.get(f.name)) and not (reference and f.role is Role.INPUT):
                continue
            value = f.kind.from_wire(f.wire, image, previous.get(f.name))
            if value is not None:
                out[f.name] = value
        return out

    def outputs_from_image(self, image: Mapping[str, Any], inputs: Mapping[str, Any], *,
                           info: bool = False) -> dict[str, Any]:
        """All outputs: every input as the server applied it (declared or not), plus every computed
        field of the table (with ``info``, the lookup-only ones too).

        Empty values (``""``, ``[]``, ``{}``) are kept: the SDK makes a registered output that is
        missing from the state *unknown* at preview, so ``tags=other.tags`` of an image without
        tags would show a change at every preview. Only ``None`` (a number the server has not
        set yet) is left out, as the SDK would drop it anyway."""
        outs: dict[str, Any] = {}
        for f in (*self.inputs, *self.outputs, *(self.infos if info else ())):
            value = f.kind.from_wire(f.wire, image, inputs.get(f.name) if f.is_input else None)
            if value is not None:
                outs[f.name] = value
        return outs

    # --- docs -------------------------------------------------------------------------

    def input_rows(self, profiles: Sequence[ServerProfile]) -> list[tuple[str, str, str, str, str]]:
        """README rows of the declared inputs: name, type, default (first profile), on change, doc."""
        rows = []
        for f in self.user_inputs:
            if f.required:
                default = "required"
            else:
                value = f.default(profiles[0]) if f.default else None
                default = "" if value is None else f.kind.show(value)
            rows.append((f"`{f.name}`", f.kind.type_name, default, f.change.describe(profiles), f.doc))
        return rows

    def output_rows(self, role: Role = Role.OUTPUT) -> list[tuple[str, str, str, str]]:
        """README rows of the computed fields of ``role`` (outputs, or lookup-only): name, wire name, type, doc."""
        return [(f"`{f.name}`", f"`{f.wire}`" if f.wire else "", f.kind.type_name,
                 f.doc + (" Empty on Glance." if f.huawei_only else "")) for f in self.fields if f.role is role]
