"""Render a :class:`~preview_summary.model.Summary` as Markdown for a pull-request comment (pure).

Everything quoted from the preview (resource names, types, keys, values, ids, messages) is
neutral: it cannot add Markdown structure, HTML, links or images to the comment. Quoted text goes
into code spans (:func:`code`) or a fenced block (diagnostics), whose fences are longer than any
backtick run inside; characters that would end a line or change how text is shown (C0/C1 controls,
DEL, ANSI escape sequences, line/paragraph separators, bidirectional and zero-width characters)
are written as visible escapes (:func:`neutral`), so no input starts a new block (a heading, a
list, a table row) or leaves the span it is quoted in.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .model import (
    MISSING,
    Diagnostic,
    FieldChange,
    LostAccess,
    ResourceChange,
    Summary,
    is_secret,
    is_unknown,
    same_json,
)

#: Pulumi's symbol of each operation, shown in front of it.
SYMBOLS: Final[Mapping[str, str]] = {
    "create": "+", "update": "~", "replace": "+-", "delete": "-", "import": "=", "forget": "-",
}
#: Wording of ``changeSummary`` keys in the totals line, in this order; others follow as they are.
TOTALS: Final = (
    ("create", "to create"), ("update", "to update"), ("replace", "to replace"), ("delete", "to delete"),
    ("import", "to import"), ("discard", "to forget"), ("same", "unchanged"),
)
DEFAULT_TITLE: Final = "Pulumi preview"
#: GitHub refuses comments over 65,536 characters; stay well below.
MAX_CHARS: Final = 60_000
VALUE_CHARS: Final = 80
MAX_ITEMS: Final = 12
MESSAGE_CHARS: Final = 4_000
_NOISE = re.compile(r"^Resource monitor has terminated, shutting down\s*$")
_SEVERITY_PREFIX = re.compile(r"^(error|warning): ", re.IGNORECASE)
#: ANSI escape sequences (colours, cursor moves, OSC hyperlinks) in messages the CLI relays.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
#: Unicode categories written as escapes: controls, format characters, line/paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ESCAPES: Final[Mapping[str, str]] = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Text shown as it is outside code: words of letters, digits, ``-``/``_`` joined by ``:`` or ``/``
#: (a type such as ``ims:ImageMetadata``); anything else is quoted as code. No ``.``, ``@`` or ``//``,
#: so GitHub finds no link in it (``www.x.y``, ``a@b.c``, ``http://``).
_PLAIN = re.compile(r"[A-Za-z0-9_-]+(?:[:/][A-Za-z0-9_-]+)*")


def neutral(text: str, keep: str = "") -> str:
    """``text`` with every character that is not shown as itself written as a visible escape
    (``\\n``, ``\\x1b``, ``\\u202e``); characters in ``keep`` stay (``"\\n"`` in a fenced block)."""
    out = []
    for char in text:
        if char in keep or unicodedata.category(char) not in _HIDDEN:
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
    return "".join(out)


def plain(text: str) -> str:
    """``text`` as it is when it is a plain word (a type, a totals key), else as :func:`code`."""
    return text if _PLAIN.fullmatch(text) and "//" not in text else code(text)


def one_line(text: str) -> str:
    """Markdown the caller wrote (a title) kept on one line: it cannot end the heading it is in."""
    return neutral(text)


def code(text: str) -> str:
    """``text`` as inline code, whatever it contains: backticks (a longer fence) and characters
    that could end the line or hide text (:func:`neutral`)."""
    text = neutral(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _mask(value: Any) -> Any:
    """Secrets and unknowns inside a list or map, as the words shown for them."""
    if is_secret(value):
        return "[secret]"
    if is_unknown(value):
        return "(known after apply)"
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def value(v: Any, limit: int = VALUE_CHARS) -> str:
    """One value as Markdown: JSON in inline code; secrets, unknown and absent values as words."""
    if v is MISSING:
        return "_(unset)_"
    if is_secret(v):
        return code("[secret]")
    if is_unknown(v):
        return "_(known after apply)_"
    return code(_clip(json.dumps(_mask(v), ensure_ascii=False, separators=(", ", ": ")), limit))


def _more(parts: list[str], total: int) -> list[str]:
    return [*parts[:MAX_ITEMS], f"… {total - MAX_ITEMS} more"] if total > MAX_ITEMS else parts


def _key(item: Any) -> str:
    return json.dumps(item, sort_keys=True)


def _take(items: Sequence[Any], counts: Counter[str]) -> list[Any]:
    """The items (in order) whose key still has a count left in ``counts``, using it up."""
    out = []
    for item in items:
        if counts[_key(item)] > 0:
            counts[_key(item)] -= 1
            out.append(item)
    return out


def list_diff(old: Sequence[Any], new: Sequence[Any]) -> str:
    """Items added and removed (as multisets); ``reordered`` when only the order differs."""
    before, after = Counter(map(_key, old)), Counter(map(_key, new))
    added, removed = _take(new, after - before), _take(old, before - after)
    parts = []
    if added:
        parts.append("added " + ", ".join(_more([value(i) for i in added], len(added))))
    if removed:
        parts.append("removed " + ", ".join(_more([value(i) for i in removed], len(removed))))
    return "; ".join(parts) if parts else f"reordered: {value(list(old))} → {value(list(new))}"


def map_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Keys added, removed and changed."""
    parts = []
    for k in sorted(set(old) | set(new)):
        if k not in old:
            parts.append(f"{code(k)} added {value(new[k])}")
        elif k not in new:
            parts.append(f"{code(k)} removed (was {value(old[k])})")
        elif is_secret(old[k]) and is_secret(new[k]):
            continue
        elif not same_json(old[k], new[k]) or is_unknown(new[k]):
            parts.append(f"{code(k)}: {value(old[k])} → {value(new[k])}")
    return "; ".join(_more(parts, len(parts))) if parts else "changed"


def describe(change: FieldChange) -> str:
    """One changed field: ``name``: old → new, or a compact diff for lists and maps."""
    old, new = change.old, change.new
    if isinstance(old, list) and isinstance(new, list):
        detail = list_diff(old, new)
    elif isinstance(old, Mapping) and isinstance(new, Mapping) and not is_secret(old) and not is_secret(new):
        detail = map_diff(old, new)
    else:
        detail = f"{value(old)} → {value(new)}"
    return f"{code(change.name)}: {detail}"


def resource_block(r: ResourceChange) -> str:
    """The lines of one resource: operation, name, type, reason, then its fields."""
    head = f"- {code(SYMBOLS.get(r.operation, '?'))} **{r.operation}** {code(r.name)} ({plain(r.type)})"
    if r.operation == "replace" and r.replace_reasons:
        fields = ", ".join(code(n) for n in r.replace_reasons)
        head += f" — because {fields} {'changes' if len(r.replace_reasons) == 1 else 'change'}"
    elif r.operation == "replace":
        head += " — the provider gave no reason"
    if r.operation == "forget":
        head += " — read-only reference dropped from the stack; nothing is deleted"
    if r.id and r.operation in ("replace", "delete"):
        head += f" · id {code(r.id)}"
    lines = [head]
    if r.operation == "replace":
        lines += replacement_lines(r)
    if r.operation in ("create", "import"):
        if r.fields:
            lines.append("  - " + " · ".join(f"{code(f.name)} = {value(f.new, 40)}" for f in r.fields))
    else:
        lines += [f"  - {describe(f)}" for f in r.fields]
    if r.hidden_secrets:
        names = ", ".join(code(n) for n in r.hidden_secrets)
        lines.append(f"  - secret (values hidden, not compared): {names}")
    return "\n".join(lines)


def replacement_lines(r: ResourceChange) -> list[str]:
    """What a replacement takes away: the old object and its id, and the access others had to it."""
    thing = "the image" if r.type == "ims:ImageMetadata" else "it"
    old = f" (id {code(r.id)} stops existing)" if r.id else ""
    lines = [f"  - ⚠️ {thing} is deleted and recreated with a new id{old}"]
    if r.lost_access:
        members = ", ".join(_lost(x) for x in r.lost_access[:MAX_ITEMS])
        more = f", … {len(r.lost_access) - MAX_ITEMS} more" if len(r.lost_access) > MAX_ITEMS else ""
        lines.append(f"  - ⚠️ members that lose access to {code(r.id or '')}: {members}{more}")
    return lines


def _lost(x: LostAccess) -> str:
    project = f" (project {code(x.member)})" if x.member else ""
    again = "; replaced too: shared again with the new id, to be accepted again" if x.reshared else ""
    return f"{code(x.name)}{project}{again}"


def totals_line(totals: Mapping[str, int]) -> str:
    """``2 to create · 1 to replace · 3 unchanged`` from ``changeSummary``."""
    known = dict(TOTALS)
    parts = [f"{totals[k]} {words}" for k, words in TOTALS if totals.get(k) and k != "same"]
    parts += [f"{n} {plain(k)}" for k, n in sorted(totals.items()) if k not in known and n]
    if totals.get("same"):
        parts.append(f"{totals['same']} unchanged")
    return " · ".join(parts)


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def diagnostic_text(d: Diagnostic) -> str:
    """The message without its ``error:`` prefix, naming the resource if the message does not."""
    message = _clip(_SEVERITY_PREFIX.sub("", neutral(_ANSI.sub("", d.message), keep="\n\t").strip()), MESSAGE_CHARS)
    name = d.resource
    if name and f"'{name}'" not in message:
        message = f"{neutral(name)}: {message}"
    return message


def _diagnostics(title: str, items: Sequence[Diagnostic]) -> list[str]:
    shown = [d for d in items if not _NOISE.match(_SEVERITY_PREFIX.sub("", d.message.strip()))] or list(items)
    if not shown:
        return []
    return [f"**{title} ({len(shown)})**", "", _fence("\n".join(diagnostic_text(d) for d in shown))]


def render(summary: Summary, title: str | None = None, marker: str | None = None) -> str:
    """The Markdown comment.

    With no change and no error or warning it is the single line ``**TITLE:** No changes.``.
    ``title`` defaults to ``Pulumi preview`` with the project and stack from the URNs;
    ``marker`` is added to the first line as an HTML comment (invisible) so a workflow can
    find and update its own comment.
    """
    if title is None:
        where = "/".join(x for x in (summary.project, summary.stack) if x)
        title = f"{DEFAULT_TITLE} — {code(where)}" if where else DEFAULT_TITLE
    else:
        title = one_line(title)
    tag = f" <!-- {neutral(marker).replace('--', '- -')} -->" if marker else ""
    if not summary.has_changes and not summary.diagnostics:
        unchanged = f" ({summary.unchanged} unchanged)" if summary.unchanged else ""
        return f"**{title}:** No changes{unchanged}.{tag}\n"

    out = [f"### {title}{tag}", ""]
    totals = totals_line(summary.totals) or f"{len(summary.resources)} to change"
    if summary.errors:
        so_far = f"; planned so far: {totals}" if summary.has_changes else ""
        out += [f"**The preview failed** (errors below){so_far}", ""]
    elif summary.has_changes:
        out += [f"**{totals}**", ""]
    else:
        out += ["No changes.", ""]
    used = sum(len(line) + 1 for line in out)
    for i, r in enumerate(summary.resources):
        block = resource_block(r)
        if used + len(block) > MAX_CHARS - 2_000:
            out.append(f"- … {len(summary.resources) - i} more resources (the comment is too long; see the job log)")
            break
        out.append(block)
        used += len(block) + 1
    if summary.resources:
        out.append("")
    out += _diagnostics("Errors", summary.errors)
    if summary.errors and summary.warnings:
        out.append("")
    out += _diagnostics("Warnings", summary.warnings)
    text = "\n".join(out).rstrip() + "\n"
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 40] + "\n\n… (truncated)\n"
