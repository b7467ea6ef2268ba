"""User plugins: modules named in GANBENCH_PLUGINS are imported to register their own methods,
datasets or metrics (in the driver, and in every Ray worker)."""

from __future__ import annotations

import importlib
import os

from ganbench.errors import GanbenchError

ENV_VAR = "GANBENCH_PLUGINS"


def load() -> list[str]:
    """Import every module of the comma-separated GANBENCH_PLUGINS; return their names."""
    names = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise GanbenchError(f"{ENV_VAR}: cannot import '{name}': {err}") from None
    return names
