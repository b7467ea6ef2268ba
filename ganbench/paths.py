"""Where ganbench finds data, weights and its cache: options, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# `ganbench run --data-root/--inception-weights/--cache-dir` set these, so that every process of a run
# (Ray workers included, which inherit the driver's environment) sees the same paths.
DATA_ROOT_ENV = "GANBENCH_DATA_ROOT"
INCEPTION_WEIGHTS_ENV = "GANBENCH_INCEPTION_WEIGHTS"
CACHE_DIR_ENV = "GANBENCH_CACHE_DIR"


def cache_dir() -> Path:
    """ganbench's cache folder: $GANBENCH_CACHE_DIR, else $XDG_CACHE_HOME/ganbench, else ~/.cache/ganbench."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ganbench"


def data_root() -> Path:
    """Where image datasets live (and download to): $GANBENCH_DATA_ROOT, else <cache dir>/data."""
    if os.environ.get(DATA_ROOT_ENV):
        return Path(os.environ[DATA_ROOT_ENV]).expanduser()
    return cache_dir() / "data"


def inception_weights() -> Path | None:
    """The local Inception weights file named by $GANBENCH_INCEPTION_WEIGHTS, if any."""
    value = os.environ.get(INCEPTION_WEIGHTS_ENV)
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class Paths:
    """Paths given on the command line; None keeps the environment's setting or the default."""

    data_root: Path | None = None
    inception_weights: Path | None = None
    cache_dir: Path | None = None

    @classmethod
    def of_environment(cls) -> Paths:
        """The paths this process's environment sets (unset ones stay None: each process's default)."""
        values = [os.environ.get(env) for env in (DATA_ROOT_ENV, INCEPTION_WEIGHTS_ENV, CACHE_DIR_ENV)]
        return cls(*(Path(value) if value else None for value in values))

    def use(self) -> None:
        """Make these paths this process's (and its children's) settings."""
        for env, value in (
            (DATA_ROOT_ENV, self.data_root),
            (INCEPTION_WEIGHTS_ENV, self.inception_weights),
            (CACHE_DIR_ENV, self.cache_dir),
        ):
            if value is not None:
                os.environ[env] = str(Path(value).expanduser().resolve())


def current() -> dict[str, str | None]:
    """The paths in effect, for the run manifest."""
    weights = inception_weights()
    return {
        "data_root": str(data_root()),
        "inception_weights": str(weights) if weights else None,
        "cache_dir": str(cache_dir()),
    }
