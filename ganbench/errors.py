"""The one exception type that the CLI turns into a single readable line and exit code 2."""


class GanbenchError(Exception):
    """A user-facing error: bad input, missing files, unknown names. Its message is one line."""
