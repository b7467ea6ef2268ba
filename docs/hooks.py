"""MkDocs hook: the command-line reference's option tables, read from the typer app at build time.

A line `<!-- options: NAME -->` in a page becomes the table of `ganbench NAME`'s arguments and
options (names, help, default), so the reference cannot drift from `ganbench NAME --help`.
"""

from __future__ import annotations

import re

MARKER = re.compile(r"^<!-- options: ([a-z-]+) -->$", re.MULTILINE)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def options_table(name: str) -> str:
    """The Markdown table of one command's parameters."""
    import typer

    from ganbench.cli import app

    command = typer.main.get_command(app).commands[name]  # a KeyError names an unknown command
    rows = ["| argument or option | meaning | default |", "| --- | --- | --- |"]
    for param in command.params:
        names = [*param.opts, *getattr(param, "secondary_opts", [])]
        shown = ", ".join(f"`{n}`" for n in names) if names[0].startswith("-") else f"`{param.name.upper()}`"
        default = param.default
        default = "" if default is None or default is False or default == () else f"`{default}`"
        rows.append(f"| {shown} | {_cell(getattr(param, 'help', '') or '')} | {default} |")
    if len(rows) == 2:
        return "(no options)"
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs' signature)
    return MARKER.sub(lambda m: options_table(m.group(1)), markdown)
