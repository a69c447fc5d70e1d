"""Outside text (stored articles, file names, user input) made safe to print on a terminal.

`printable` replaces what a terminal would act on instead of showing: C0 controls but newline
and tab, DEL, C1 controls (ESC sequences clear screens and recolour prompts), lone surrogates
(they cannot be encoded) and bidirectional overrides (they reorder what follows them). `plain`
wraps the result in a `rich.text.Text`, which Rich never parses as markup, so "[/red]" or
"[bold red]" in a title is printed as it is written.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

REPLACEMENT = "\ufffd"
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(ch: str, one_line: bool) -> str:
    if ch in "\n\t":
        return " " if one_line else ch
    if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs"):
        return REPLACEMENT
    return ch


def printable(value: object, *, one_line: bool = False) -> str:
    """`value` as text with every control character replaced by U+FFFD; newlines and tabs are
    kept, or made spaces when `one_line` (a table cell, a one-line message)."""
    text = "" if value is None else str(value)
    if text.isprintable() and not any(ch in _BIDI_CONTROLS for ch in text):
        return text
    return "".join(_shown(ch, one_line) for ch in text)


def plain(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """`printable(value)` as a Rich Text: printed as written, never read as markup."""
    from rich.text import Text

    return Text(printable(value, one_line=one_line), style=style)
