"""Published tables: papers' results as TOML data files in this folder, loaded into typed cells.

A table file names its source (authors, year, title, table), the protocol of the runs behind it in
the names of a ganbench job's configuration, what its spread is (standard error or standard
deviation, over how many runs), and per row (method x dataset) each metric's printed mean and
spread. `ganbench report RUN --against NAME` sets a run beside it (ganbench.report.reproduce).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ganbench.errors import GanbenchError
from ganbench.registry import suggest

FOLDER = Path(__file__).parent
SpreadKind = Literal["standard-error", "std"]
SPREAD_KINDS: tuple[SpreadKind, ...] = ("standard-error", "std")
ROW_KEYS = ("label", "method", "dataset")  # a row's keys that are not metrics
KINDS = {"year": int, "proofread": bool}  # [source] keys that are not strings


@dataclass(frozen=True)
class Source:
    """Where a published table comes from."""

    authors: str
    year: int
    title: str
    venue: str
    table: str
    location: str
    url: str
    proofread: bool  # whether every number has been checked against the paper itself

    def citation(self) -> str:
        """'Lin et al. 2018, "PacGAN: ...", NeurIPS 2018; arXiv:..., Table 1'."""
        first = self.authors.split(",")[0].split()[-1]
        who = first if "," not in self.authors else f"{first} et al."
        return f'{who} {self.year}, "{self.title}", {self.venue}, {self.table}'


@dataclass(frozen=True)
class PublishedCell:
    """One published number: a method's mean and spread of a metric on a dataset, in ganbench's units."""

    label: str  # the paper's name for the method
    method: str
    dataset: str
    metric: str
    mean: float
    spread: float
    printed: tuple[float, float]  # mean and spread exactly as the paper prints them

    def key(self) -> tuple[str, str, str]:
        return self.method, self.dataset, self.metric


@dataclass(frozen=True)
class PublishedTable:
    """A published table: its source, protocol, spread and cells."""

    name: str
    description: str
    source: Source
    spread_kind: SpreadKind
    n: int  # runs per cell behind each mean
    protocol: dict[str, Any]  # job-config path ("train.steps") -> the published setting
    dataset_protocol: dict[str, dict[str, Any]]  # dataset -> its own settings, as `protocol`
    cells: tuple[PublishedCell, ...]

    def standard_error(self, cell: PublishedCell) -> float:
        """The standard error of a cell's mean (the spread, or the std over sqrt(n))."""
        return cell.spread if self.spread_kind == "standard-error" else cell.spread / math.sqrt(self.n)

    def std(self, cell: PublishedCell) -> float:
        """The standard deviation over the runs of a cell (the spread, or the standard error x sqrt(n))."""
        return cell.spread if self.spread_kind == "std" else cell.spread * math.sqrt(self.n)

    def settings(self, dataset: str) -> dict[str, Any]:
        """Every published setting that applies to jobs on `dataset`."""
        return {**self.protocol, **self.dataset_protocol.get(dataset, {})}


def published_names() -> list[str]:
    """The shipped tables, by name."""
    return sorted(path.stem for path in FOLDER.glob("*.toml"))


def load_published(name_or_path: str) -> PublishedTable:
    """A shipped table by name (`pacgan-2d`) or a table file by path; a malformed file is one error line."""
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.is_file()):
        names = published_names()
        if name_or_path not in names:
            raise GanbenchError(
                f"unknown published table '{name_or_path}'{suggest(name_or_path, names)}; "
                f"shipped: {', '.join(names)}"
            )
        path = FOLDER / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise GanbenchError(f"{path}: not a readable TOML file ({err})") from None
    return parse_published(data, str(path))


def parse_published(data: dict[str, Any], where: str) -> PublishedTable:
    """Check a table file's contents and build the table (units converted by its `[scale]`)."""
    from ganbench.data import DATASETS
    from ganbench.metrics import METRICS
    from ganbench.models import METHODS

    source = _table(data, "source", where)
    spread = _table(data, "spread", where)
    kind = _get(spread, "kind", str, f"{where}: spread")
    if kind not in SPREAD_KINDS:
        raise GanbenchError(f"{where}: spread.kind must be one of {', '.join(SPREAD_KINDS)} (got {kind!r})")
    n = _get(spread, "n", int, f"{where}: spread")
    if n < 2:
        raise GanbenchError(f"{where}: spread.n must be >= 2 (got {n})")
    protocol = dict(_table(data, "protocol", where))
    datasets = protocol.pop("datasets", {})
    scale = _table(data, "scale", where, required=False)
    for metric, factor in scale.items():
        if not _is_number(factor) or factor <= 0:
            raise GanbenchError(f"{where}: scale.{metric} must be a positive number (got {factor!r})")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise GanbenchError(f"{where}: needs at least one [[rows]] table")
    cells = []
    for i, row in enumerate(rows):
        at = f"{where}: rows[{i}]"
        if not isinstance(row, dict):
            raise GanbenchError(f"{at} must be a table")
        label, method, dataset = (_get(row, key, str, at) for key in ROW_KEYS)
        for name, registry in (("method", METHODS), ("dataset", DATASETS)):
            value = row[name]
            if value not in registry:
                raise GanbenchError(f"{at}: unknown {name} '{value}'{suggest(value, registry.names())}")
        metrics = {k: v for k, v in row.items() if k not in ROW_KEYS}
        if not metrics:
            raise GanbenchError(f"{at}: no metric values")
        for metric, pair in metrics.items():
            if metric not in METRICS:
                raise GanbenchError(f"{at}: unknown metric '{metric}'{suggest(metric, METRICS.names())}")
            if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(x) for x in pair)):
                raise GanbenchError(f"{at}.{metric} must be [mean, spread], two numbers (got {pair!r})")
            mean, spread_value = float(pair[0]), float(pair[1])
            if not (math.isfinite(mean) and math.isfinite(spread_value)) or spread_value < 0:
                raise GanbenchError(f"{at}.{metric}: mean and spread must be finite, spread >= 0 ({pair!r})")
            factor = float(scale.get(metric, 1.0))
            cells.append(
                PublishedCell(label, method, dataset, metric, mean * factor, spread_value * factor,
                              (mean, spread_value))
            )  # fmt: skip
    keys = [c.key() for c in cells]
    if len(set(keys)) != len(keys):
        raise GanbenchError(f"{where}: a method, dataset and metric appear in more than one row")
    name = _get(data, "name", str, where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):  # it names the report's files
        raise GanbenchError(f"{where}: name must be lower-case letters, digits and dashes (got {name!r})")
    return PublishedTable(
        name=name,
        description=_get(data, "description", str, where),
        source=Source(**{f: _get(source, f, KINDS.get(f, str), f"{where}: source") for f in
                         ("authors", "year", "title", "venue", "table", "location", "url", "proofread")}),
        spread_kind=kind,
        n=n,
        protocol=protocol,
        dataset_protocol={d: dict(_table(datasets, d, f"{where}: protocol.datasets")) for d in datasets},
        cells=tuple(cells),
    )  # fmt: skip


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(data: dict[str, Any], key: str, where: str, required: bool = True) -> dict[str, Any]:
    value = data.get(key, None if required else {})
    if not isinstance(value, dict):
        raise GanbenchError(f"{where}: needs a [{key}] table")
    return value


def _get(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise GanbenchError(f"{where}: missing key '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        words = {int: "an integer", bool: "true or false"}.get(kind, "a string")
        raise GanbenchError(f"{where}.{key} must be {words} (got {value!r})")
    return value
