"""``python -m ims_preview_summary [--input FILE|-] [--title T] [--marker M] [--ignore KEY]...``

Reads the output of ``pulumi preview --json`` and prints a Markdown summary. Exit status:
0 (summary printed, also when the preview reported errors), 2 (the input is not preview JSON).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import DEFAULT_IGNORED, PreviewError, markdown_from_text


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="ims-preview-summary",
        description="Turn `pulumi preview --json` output into a Markdown summary for a pull-request comment.",
    )
    parser.add_argument("--input", "-i", default="-", metavar="FILE",
                        help="the preview JSON (default: standard input, also '-')")
    parser.add_argument("--title", "-t", default=None,
                        help="heading of the summary (default: 'Pulumi preview — PROJECT/STACK')")
    parser.add_argument("--marker", default=None,
                        help="hidden HTML comment put on the first line, to find and update the comment later")
    parser.add_argument("--ignore", action="append", default=None, metavar="KEY",
                        help="input key to leave out of the field changes (repeatable; default: create_token; "
                             "keys starting with '__' are always left out)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.input == "-":
            text = sys.stdin.read()
        else:
            with open(args.input, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        print(f"ims-preview-summary: cannot read {args.input}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    ignore = DEFAULT_IGNORED if args.ignore is None else frozenset(args.ignore)
    try:
        markdown = markdown_from_text(text, title=args.title, marker=args.marker, ignore=ignore)
    except PreviewError as exc:
        print(f"ims-preview-summary: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
