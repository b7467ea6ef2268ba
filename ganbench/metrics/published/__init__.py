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
from ganbench.limits import MAX_PUBLISHED_VALUE, MAX_SEEDS
from ganbench.registry import suggest

FOLDER = Path(__file__).parent
SpreadKind = Literal["standard-error", "std"]
SPREAD_KINDS: tuple[SpreadKind, ...] = ("standard-error", "std")
ROW_KEYS = ("label", "method", "dataset")  # a row's keys that are not metrics
TOP_KEYS = ("name", "description", "source", "spread", "protocol", "scale", "rows")
SOURCE_KEYS = ("authors", "year", "title", "venue", "table", "location", "url", "proofread")
SPREAD_KEYS = ("kind", "n")
# Characters no table file may hold, and that reports write as spaces wherever a string from a file or
# a record lands (ganbench.report.tables): C0 and C1 controls (a line break ends a LaTeX comment or a
# Markdown table row), Unicode's line and paragraph separators, and the bidirectional embeddings,
# overrides and isolates (they reorder how the text around them reads).
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


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
                f"unknown published table '{UNPRINTABLE.sub('?', name_or_path)}'"
                f"{suggest(name_or_path, names)}; shipped: {', '.join(names)}"
            )
        path = FOLDER / f"{name_or_path}.toml"
    where = UNPRINTABLE.sub("?", str(path))  # the error is one line, whatever the file is called
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise GanbenchError(f"{where}: not a readable TOML file ({err})") from None
    try:
        return parse_published(data, where)
    except GanbenchError as err:  # a key of the file may hold a line break
        raise GanbenchError(UNPRINTABLE.sub("?", str(err))) from None


def parse_published(data: dict[str, Any], where: str) -> PublishedTable:
    """Check every value of a table file's contents and build the table (units converted by its `[scale]`).

    Strings: non-empty where they name something (source, description, labels), and without control
    characters, line breaks or bidirectional controls (UNPRINTABLE) anywhere;
    numbers finite and at most MAX_PUBLISHED_VALUE in magnitude, also once scaled; spreads >= 0;
    scale factors > 0; datasets, methods and metrics registered; no key the format does not have.
    """
    source = _table(data, "source", where)
    spread, kind, n = _parse_spread(data, where)
    protocol, datasets = _parse_protocol(data, where)
    cells = _parse_rows(data, _parse_scale(data, where), where)
    keys = [c.key() for c in cells]
    if len(set(keys)) != len(keys):
        raise GanbenchError(f"{where}: a method, dataset and metric appear in more than one row")
    name = _get(data, "name", str, where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):  # it names the report's files
        raise GanbenchError(f"{where}: name must be lower-case letters, digits and dashes (got {name!r})")
    authors, year = _parse_citation(source, where)
    # Last, so that a misspelt required key is named as missing first.
    for table, known, prefix in (
        (data, TOP_KEYS, ""),
        (source, SOURCE_KEYS, "source."),
        (spread, SPREAD_KEYS, "spread."),
    ):
        _known_keys(table, known, where, prefix)
    return PublishedTable(
        name=name,
        description=_text(data, "description", where),
        source=_source(source, authors, year, where),
        spread_kind=kind,
        n=n,
        protocol=protocol,
        dataset_protocol={d: dict(datasets[d]) for d in datasets},
        cells=tuple(cells),
    )


def _parse_spread(data: dict[str, Any], where: str) -> tuple[dict[str, Any], str, int]:
    """The [spread] table, its kind and its number of seeds n."""
    spread = _table(data, "spread", where)
    kind = _get(spread, "kind", str, f"{where}: spread")
    if kind not in SPREAD_KINDS:
        raise GanbenchError(f"{where}: spread.kind must be one of {', '.join(SPREAD_KINDS)} (got {kind!r})")
    n = _get(spread, "n", int, f"{where}: spread")
    if not 2 <= n <= MAX_SEEDS:  # a run has at most MAX_SEEDS seeds: no cell of a larger n compares
        raise GanbenchError(f"{where}: spread.n must be >= 2 and <= {MAX_SEEDS:,} (got {n})")
    return spread, kind, n


def _parse_protocol(data: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The [protocol] settings without its datasets, and each registered dataset's own settings."""
    from ganbench.data import DATASETS

    protocol = dict(_table(data, "protocol", where))
    datasets = _table(protocol, "datasets", f"{where}: protocol", required=False)
    protocol.pop("datasets", None)
    _check_settings(protocol, f"{where}: protocol")
    for dataset in datasets:
        if dataset not in DATASETS:
            raise GanbenchError(
                f"{where}: protocol.datasets: unknown dataset '{dataset}'{suggest(dataset, DATASETS.names())}"
            )
        _check_settings(
            _table(datasets, dataset, f"{where}: protocol.datasets"), f"{where}: protocol.datasets.{dataset}"
        )
    return protocol, datasets


def _parse_scale(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The [scale] table: a factor > 0 for each registered metric whose published unit is not ours."""
    from ganbench.metrics import METRICS

    scale = _table(data, "scale", where, required=False)
    for metric, factor in scale.items():
        if metric not in METRICS:
            raise GanbenchError(
                f"{where}: scale: unknown metric '{metric}'{suggest(metric, METRICS.names())}"
            )
        if not (_is_number(factor) and math.isfinite(factor) and 0 < factor <= MAX_PUBLISHED_VALUE):
            raise GanbenchError(
                f"{where}: scale.{metric} must be a finite number > 0 and <= {MAX_PUBLISHED_VALUE:g} "
                f"(got {factor!r})"
            )
    return scale


def _parse_rows(data: dict[str, Any], scale: dict[str, Any], where: str) -> list[PublishedCell]:
    """Every [[rows]] table's cells, one per metric, in our units."""
    from ganbench.data import DATASETS
    from ganbench.models import METHODS

    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise GanbenchError(f"{where}: needs at least one [[rows]] table")
    cells = []
    for i, row in enumerate(rows):
        at = f"{where}: rows[{i}]"
        if not isinstance(row, dict):
            raise GanbenchError(f"{at} must be a table")
        label, method, dataset = (_text(row, key, at) for key in ROW_KEYS)
        for name, registry in (("method", METHODS), ("dataset", DATASETS)):
            value = row[name]
            if value not in registry:
                raise GanbenchError(f"{at}: unknown {name} '{value}'{suggest(value, registry.names())}")
        metrics = {k: v for k, v in row.items() if k not in ROW_KEYS}
        if not metrics:
            raise GanbenchError(f"{at}: no metric values")
        for metric, pair in metrics.items():
            mean, spread = _parse_pair(metric, pair, float(scale.get(metric, 1.0)), at)
            cells.append(
                PublishedCell(label, method, dataset, metric, mean, spread, (float(pair[0]), float(pair[1])))
            )
    return cells


def _parse_pair(metric: str, pair: Any, factor: float, at: str) -> tuple[float, float]:
    """A row's [mean, spread] of a registered metric, both times the metric's scale `factor`."""
    from ganbench.metrics import METRICS

    if metric not in METRICS:
        raise GanbenchError(f"{at}: unknown metric '{metric}'{suggest(metric, METRICS.names())}")
    if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(x) for x in pair)):
        raise GanbenchError(f"{at}.{metric} must be [mean, spread], two numbers (got {pair!r})")
    mean, spread = float(pair[0]), float(pair[1])
    if spread < 0 or not all(_within(x) for x in (mean, spread, mean * factor, spread * factor)):
        scaled = f" (x {factor:g}, its scale)" if factor != 1 else ""
        raise GanbenchError(
            f"{at}.{metric}: mean and spread{scaled} must be finite numbers of at most "
            f"{MAX_PUBLISHED_VALUE:g} in magnitude, spread >= 0 (got {pair!r})"
        )
    return mean * factor, spread * factor


def _parse_citation(source: dict[str, Any], where: str) -> tuple[str, int]:
    """The [source] table's authors (names separated by commas) and year (four digits)."""
    year = _get(source, "year", int, f"{where}: source")
    if not 1000 <= year <= 9999:
        raise GanbenchError(f"{where}: source.year must be a year of four digits (got {year})")
    authors = _text(source, "authors", f"{where}: source")
    if not all(author.strip() for author in authors.split(",")):  # the citation names the first
        raise GanbenchError(f"{where}: source.authors must be names separated by commas (got {authors!r})")
    return authors, year


def _source(source: dict[str, Any], authors: str, year: int, where: str) -> Source:
    """The citation: `authors` and `year` (checked first) with the [source] table's texts."""
    return Source(
        authors=authors,
        year=year,
        **{f: _text(source, f, f"{where}: source") for f in ("title", "venue", "table", "location", "url")},
        proofread=_get(source, "proofread", bool, f"{where}: source"),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _within(value: float) -> bool:
    """Finite and at most MAX_PUBLISHED_VALUE in magnitude (so Welch's test never overflows)."""
    return math.isfinite(value) and abs(value) <= MAX_PUBLISHED_VALUE


def _known_keys(data: dict[str, Any], known: tuple[str, ...], where: str, prefix: str) -> None:
    """Refuse a key the format does not have (a typo would otherwise be ignored without a word)."""
    for key in data:
        if key not in known:
            raise GanbenchError(f"{where}: unknown key '{prefix}{key}'{suggest(key, list(known))}")


def _check_settings(settings: dict[str, Any], where: str) -> None:
    """Each published setting a string, a number, true or false, or a list of them, checked as any value."""
    for path, value in settings.items():
        _check_unprintable(path, f"{where}: a key")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                _check_unprintable(item, f"{where}.{path}")
            elif isinstance(item, bool) or (_is_number(item) and _within(float(item))):
                continue
            else:
                raise GanbenchError(
                    f"{where}.{path} must be a string, a finite number of at most {MAX_PUBLISHED_VALUE:g} in "
                    "magnitude, true or false, or a list of them (a dotted key is quoted: "
                    f'"train.steps" = ...; got {value!r})'
                )


def _check_unprintable(text: str, where: str) -> None:
    if UNPRINTABLE.search(text):
        raise GanbenchError(f"{where} must not hold control characters or line breaks (got {text!r})")


def _text(data: dict[str, Any], key: str, where: str) -> str:
    """A non-empty string without control characters, line breaks or bidirectional controls."""
    value = _get(data, key, str, where)
    if not value.strip():
        raise GanbenchError(f"{where}.{key} must be a non-empty string (got {value!r})")
    _check_unprintable(value, f"{where}.{key}")
    return value


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
