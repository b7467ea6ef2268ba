"""Text for a terminal: what came from files and arguments, with control characters shown, not obeyed."""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (escape sequences, carriage returns, bidi
    overrides, newlines) written as its Python escape, so a name or message from a file prints as one
    inert line: `\\x1b[2J` clears no screen, and U+202E reorders nothing."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
