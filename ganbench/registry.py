"""A generic name -> object registry with loud failures and difflib suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ganbench.errors import GanbenchError

T = TypeVar("T")


def suggest(name: str, choices: list[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


# Registered names become parts of file names (job keys): no path separators, spaces or "__" (the
# job key's separator).
NAME_PATTERN = re.compile(r"[A-Za-z0-9]+(?:[-_.+][A-Za-z0-9]+)*")


class Registry(Generic[T]):
    """Named entries of one kind (methods, datasets, metrics).

    Register where the thing is defined, with `@REGISTRY.register("name")` or `REGISTRY.add`.
    Duplicate names and unknown names raise `GanbenchError` (the latter with suggestions).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register `entry` under `name`; a second entry with the same name, or a name that could not
        be part of a file name (job keys are `<method>__<dataset>__seed<N>.json`), is an error."""
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise GanbenchError(
                f"{self.kind} name {name!r} must be letters and digits, joined by single '-', '_', '.' or '+'"
            )
        if name in self._entries:
            raise GanbenchError(f"duplicate {self.kind} '{name}'")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of `add`."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def get(self, name: str) -> T:
        """Return the entry called `name`, or fail with the closest valid names."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise GanbenchError(
                f"unknown {self.kind} '{name}'{suggest(name, self.names())}; valid: {valid}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
