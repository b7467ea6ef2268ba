"""Entry point for `python -m ganbench`."""

from ganbench.cli import app

app()
