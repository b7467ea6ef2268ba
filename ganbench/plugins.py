"""User plugins, loaded in one place: entry points of the group `ganbench.plugins` and GANBENCH_PLUGINS.

A plugin is a module that registers methods, architectures, datasets, metrics or executors when it
is imported (docs/pages/extending/index.md). Installed packages declare
it as an entry point; GANBENCH_PLUGINS names modules on the path (comma-separated) without
installing anything. The CLI loads plugins before every command, and so does the worker entry
point in every process that runs jobs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Sequence

from ganbench.errors import GanbenchError

ENV_VAR = "GANBENCH_PLUGINS"
ENTRY_POINT_GROUP = "ganbench.plugins"

_loaded: set[str] = set()  # modules already imported here (registering twice would be a duplicate)


def load(modules: Sequence[str] = ()) -> list[str]:
    """Import every plugin module not yet loaded in this process (entry points, GANBENCH_PLUGINS and
    `modules`, the ones another process loaded); return all plugin module names.

    Raises:
        GanbenchError: a plugin that cannot be imported or fails while registering (one line).
    """
    names = [(f"entry point '{ep.name}'", ep.value.split(":")[0]) for ep in _entry_points()]
    names += [(ENV_VAR, n.strip()) for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    names += [("the driver", name) for name in modules if name not in {n for _, n in names}]
    for source, module in names:
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise GanbenchError(f"{source}: cannot import plugin '{module}': {err}") from None
        except GanbenchError as err:  # a duplicate name, say
            raise GanbenchError(f"{source}: plugin '{module}': {err}") from None
        _loaded.add(module)
    return [module for _, module in names]


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """Installed distributions' entry points in ENTRY_POINT_GROUP, sorted by name (a stable order)."""
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
