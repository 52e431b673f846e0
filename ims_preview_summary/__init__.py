"""Summarize ``pulumi preview --json`` as Markdown for a pull-request comment.

    pulumi preview --json | python -m ims_preview_summary --title "Preview: dev" > comment.md

Library use::

    from ims_preview_summary import parse_preview, render, summarize
    markdown = render(summarize(parse_preview(text)))
"""

from .model import (
    DEFAULT_IGNORED,
    MISSING,
    Diagnostic,
    FieldChange,
    PreviewError,
    ResourceChange,
    Summary,
    diff_inputs,
    parse_preview,
    summarize,
)
from .render import render

__all__ = [
    "DEFAULT_IGNORED",
    "MISSING",
    "Diagnostic",
    "FieldChange",
    "PreviewError",
    "ResourceChange",
    "Summary",
    "diff_inputs",
    "markdown_from_text",
    "parse_preview",
    "render",
    "summarize",
]


def markdown_from_text(
    text: str, *, title: str | None = None, marker: str | None = None, ignore: frozenset[str] = DEFAULT_IGNORED
) -> str:
    """The Markdown summary of the text ``pulumi preview --json`` printed."""
    return render(summarize(parse_preview(text), ignore), title=title, marker=marker)
