"""Summary tables over seeds: pure functions of the tidy records frame, to CSV, Markdown and LaTeX."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganbench import labels
from ganbench.errors import GanbenchError
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.mode_collapse import MODES_COVERED
from ganbench.metrics.published import UNPRINTABLE
from ganbench.metrics.validity import FLAGS, LATEX_SYMBOLS, LEGEND, SYMBOLS
from ganbench.registry import suggest
from ganbench.report.intervals import METHOD, Domain, bootstrap_interval
from ganbench.report.stats import Contrast, significant_contrasts, welch

SUMMARY_COLUMNS = [
    "method", "dataset", "settings", "metric", "unit", "higher_is_better",
    "mean", "std", "se", "n", "jobs", "ci_low", "ci_high", "flags", "na_reason",
]  # fmt: skip
# A summary row: one method on one dataset at one setting (a sweep's label; '' outside sweeps).
CELL = ["method", "dataset", "settings"]


def check_number_format(spec: str) -> str:
    """A Python format spec for table numbers ('.3g', '.2f', ...); anything else is an error."""
    try:
        format(1.5, spec)
    except ValueError:
        raise GanbenchError(f"--number-format: '{spec}' is not a number format (try .3g or .2f)") from None
    return spec


def registry_domain(metric: str, dataset: str) -> Domain:
    """The metric's declared domain (ganbench.metrics.base.Metric.domain), unbounded when unknown; modes
    covered on a registered dataset with known modes at most its modes (a report of records also
    bounds it by their stored centers)."""
    from ganbench.metrics import METRICS

    if metric not in METRICS.names():
        return None, None
    low, high = METRICS.get(metric).domain
    modes = known_modes(dataset) if metric == MODES_COVERED else None
    return low, (float(modes) if modes else high)


@functools.cache
def known_modes(dataset: str) -> int | None:
    """The modes of a registered points dataset that declares known modes (at its default parameters:
    they set the spread, not the count); None for any other dataset."""
    from ganbench.data import DATASETS, KNOWN_MODES

    if dataset not in DATASETS.names() or DATASETS.get(dataset).modality != "points":
        return None
    spec = DATASETS.get(dataset)
    mixture = KNOWN_MODES.of(spec.build(spec.params()))
    return mixture.n_modes if mixture is not None else None


def summarize(
    frame: pd.DataFrame,
    planned: Mapping[tuple[str, str, str], int] | None = None,
    domain: Callable[[str, str], Domain] = registry_domain,
) -> pd.DataFrame:
    """Mean, sample std (ddof 1), standard error, n and a 95% percentile-bootstrap interval
    (ganbench.report.intervals) over the `ok` seeds per method x dataset x settings x metric.

    `jobs` is the number of seeds planned for the cell (`planned`, by (method, dataset, settings),
    from the run folders' plans), or at least the number stored, so a cell whose n is below it shows
    that seeds are missing, diverged or failed instead of silently averaging over fewer.
    `domain(metric, dataset)` gives the values the metric can take; every interval stays inside.
    """
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    if "settings" not in frame.columns:
        frame = frame.assign(settings="")
    keys = [*CELL, "metric"]
    ok = frame[frame["status"] == "ok"]
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308: rescued just below
        stats = ok.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n="count")
    _rescue_overflow(stats, ok, keys)
    stored = frame.groupby(keys, sort=False)["key"].nunique().rename("jobs")
    summary = stored.to_frame().join(stats).reset_index()
    summary["n"] = summary["n"].fillna(0).astype(int)
    summary["se"] = summary["std"] / np.sqrt(summary["n"].where(summary["n"] > 0))
    planned = planned or {}
    cells = zip(summary.method, summary.dataset, summary.settings, summary.jobs, strict=True)
    summary["jobs"] = [max(jobs, planned.get((m, d, s), 0)) for m, d, s, jobs in cells]
    # Units and directions come from the records (each stored its metrics' specs), not a registry.
    specs = frame.drop_duplicates("metric").set_index("metric")
    summary["unit"] = [specs.at[m, "unit"] for m in summary["metric"]]
    summary["higher_is_better"] = [bool(specs.at[m, "higher_is_better"]) for m in summary["metric"]]
    values = {cell: group.to_numpy() for cell, group in ok.groupby(keys, sort=False)["value"]}
    intervals = [
        bootstrap_interval(values.get(tuple(row), ()), domain(row[3], row[1]))
        for row in summary[keys].itertuples(index=False)
    ]
    summary["ci_low"], summary["ci_high"] = [i[0] for i in intervals], [i[1] for i in intervals]
    summary["flags"] = _cell_flags(ok, summary)
    summary["na_reason"] = _not_applicable(ok, summary)
    return summary[SUMMARY_COLUMNS]


def _rescue_overflow(stats: pd.DataFrame, ok: pd.DataFrame, keys: list[str]) -> None:
    """Recompute in place each mean and std that overflowed float64 although its values are finite
    (three seeds of 1e308 sum to inf): in units of the largest value, so that the table shows them."""
    broken = ~np.isfinite(stats["mean"]) | ((stats["n"] > 1) & ~np.isfinite(stats["std"]))
    groups = ok.groupby(keys, sort=False)["value"]
    for cell in stats.index[broken]:
        values = groups.get_group(cell).dropna().to_numpy(dtype=np.float64)
        if not len(values) or not np.isfinite(values).all():
            continue  # an infinite value: its mean is not a number to rescue
        unit = float(np.abs(values).max())
        with np.errstate(over="ignore"):  # a spread beyond float64 stays inf
            stats.loc[cell, "mean"] = float(np.mean(values / unit)) * unit
            stats.loc[cell, "std"] = (
                float(np.std(values / unit, ddof=1)) * unit if len(values) > 1 else np.nan
            )


def _not_applicable(ok: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Per summary row without any value: why its ok jobs could not compute it (their notes after
    NOT_APPLICABLE, "; "-joined when they differ); '' for every other row."""
    if "note" not in ok.columns:
        return [""] * len(summary)
    notes = ok["note"].fillna("").astype(str)
    marked = ok["value"].isna() & notes.str.startswith(NOT_APPLICABLE)
    reasons: dict[tuple[str, ...], dict[str, None]] = {}
    for *cell, note in zip(*(ok.loc[marked, c] for c in [*CELL, "metric"]), notes[marked], strict=True):
        reasons.setdefault(tuple(cell), {})[note.removeprefix(NOT_APPLICABLE)] = None
    cells = zip(*(summary[c] for c in [*CELL, "metric"]), summary["n"], strict=True)
    return ["; ".join(reasons.get(tuple(cell), {})) if n == 0 else "" for *cell, n in cells]


def _cell_flags(ok: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Per summary row, the convergence flags of any of its ok seeds (";"-separated, FLAGS order).

    Records of older schemas (and records.csv files without the column) carry none.
    """
    if "flags" not in ok.columns:
        return [""] * len(summary)
    seen: dict[tuple[str, str, str], set[str]] = {}
    for *cell, flags in zip(*(ok[c] for c in CELL), ok["flags"].fillna(""), strict=True):
        seen.setdefault(tuple(cell), set()).update(f for f in str(flags).split(";") if f)
    cells = zip(*(summary[c] for c in CELL), strict=True)
    return [";".join(f for f in FLAGS if f in seen.get(cell, set())) for cell in cells]


def select(summary: pd.DataFrame, metrics: list[str] | None, methods: list[str] | None) -> pd.DataFrame:
    """Only the given metrics and methods (all when None), in the order given."""
    for name in metrics or []:
        names = list(dict.fromkeys(summary["metric"]))
        if name not in names:
            raise GanbenchError(
                f"unknown metric '{name}' in these runs{suggest(name, names)}; valid: {', '.join(names)}"
            )
    if metrics:
        summary = summary[summary.metric.isin(metrics)]
    if methods:
        summary = summary[summary.method.isin(methods)]
    return summary


# --- The paper tables (summary.md, summary.tex) ---

# The bold rule's significance level: a mean is bold unless Welch's t test (Welch 1947, unequal
# variances), two-sided, tells it from the best mean at this level. 5% is the conventional level
# (Fisher 1925), and the default of `ganbench report --against` (reproduce.DEFAULT_ALPHA).
ALPHA = 0.05
# Automatic decimals stop at the sixth place: a smaller spread prints as 0.000000.
MAX_DECIMALS = 6
# Significant digits of a cell without spread (one seed, or seeds that agree).
NO_SPREAD_DIGITS = 3
# From this magnitude on a rounded number is written with an exponent: float64 holds 15 to 17
# significant digits, so the integer digits beyond them would be noise (and a cell 309 characters wide).
LARGE = 1e15

# Page fit of summary.tex. The text width of LaTeX's article class at 10 pt (size10.clo: 345 pt).
TEXT_WIDTH_PT = 345.0
# Estimated width of one printed character of a header or cell, in points. Calibrated with pdflatex
# (TeX Live, Computer Modern 10 pt) by measuring boxes. Single cells: "17.3 $\pm$ 3.8" 4.5 pt a
# character, bold 5.1; bold "6370 $\pm$ 80" 5.5; "0.942 $\pm$ 0.013" 4.6, bold 5.2; "HQ fraction
# $\uparrow$" 4.7; "Precision (LeNet) $\uparrow$" 4.5; capitals run wider: "PacGAN4" 6.3, "WGAN-GP" 7.3.
# Whole tabulars written by this module (23 of them: 2 to 8 methods, 2 to 6 metrics, 0 to 5 decimals,
# with and without settings, as is and transposed, mostly bold): (width - 12 pt x columns) / characters
# = 4.9 to 5.5 pt. 6 pt overestimates them all by 9% or more, so a table judged to fit does fit; the
# cost is that a table within 10% of the text width is split, transposed or scaled when it would have
# just fitted.
PT_PER_CHAR = 6.0
# Space around each column: 2 x \tabcolsep, 6 pt each by default (measured: a one-column tabular
# holding "a" is 5 + 12 pt wide).
COLUMN_SEP_PT = 12.0
# The packages summary.tex needs, named in its first lines: booktabs for the rules, graphicx for
# \resizebox (only where a table is scaled). Nothing else: the caption and notes are base LaTeX.
PACKAGES = {"booktabs": "rules", "graphicx": r"\resizebox"}


def latex_text(text: str) -> str:
    """`text` (a name, title, settings label, legend, or a string from a table file or a record) escaped
    for LaTeX text mode: its special characters written as text, control characters and line breaks
    as spaces (a line break would end a `%` comment and start LaTeX code)."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in UNPRINTABLE.sub(" ", str(text)))


def markdown_text(text: str) -> str:
    """`text` escaped for a Markdown table cell or line: `|` (a column break), backslashes, backticks
    and `*` as backslash escapes, a `<` that could open an HTML tag as `&lt;`, control characters and
    line breaks (a new row or paragraph) as spaces."""
    text = UNPRINTABLE.sub(" ", str(text))
    text = re.sub(r"([\\|`*])", r"\\\1", text)
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "∞": r"$\infty$", "±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "—": "---",
    "α": r"$\alpha$", "≥": r"$\geq$",
}  # fmt: skip


# The marks of n/a footnotes in Markdown: superscript digits.
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class _Markup:
    """How one output format writes the pieces of a cell, a header and the legend."""

    pm: str
    bold: str  # a format string with one {} slot
    up: str
    down: str
    missing: str
    flags: Mapping[str, str]  # the mark of each convergence flag
    text: Callable[[str], str] = str  # how a name, title, settings label or legend text is written
    minus: str = "-"  # the sign of a negative number
    footnote: Callable[[int], str] = lambda number: str(number).translate(SUPERSCRIPTS)  # n/a's mark


MARKDOWN = _Markup(pm=" ± ", bold="**{}**", up="↑", down="↓", missing="—", flags=SYMBOLS, text=markdown_text)
LATEX = _Markup(
    pm=r" $\pm$ ",
    bold=r"\textbf{{{}}}",
    up=r"$\uparrow$",
    down=r"$\downarrow$",
    missing="--",
    flags=LATEX_SYMBOLS,
    text=latex_text,
    minus="$-$",
    footnote=lambda number: f"$^{{{number}}}$",
)
# The text as printed, one character per printed character: what widths are estimated from.
PLAIN = _Markup(pm=" ± ", bold="{}", up="↑", down="↓", missing="—", flags=SYMBOLS)


def title(kind: str, name: str) -> str:
    """How tables name a method, dataset or metric (`kind`): its registered title ("WGAN-GP", "Ring-8",
    "FID∞"), or the name itself where no registry entry has it (a plugin that is not loaded)."""
    from ganbench.data import DATASETS
    from ganbench.metrics import METRICS
    from ganbench.models import METHODS

    registry = {"method": METHODS, "dataset": DATASETS, "metric": METRICS}[kind]
    return registry.get(name).title if name in registry.names() else name


def cell_decimals(mean: float, std: float) -> int:
    """Decimals of one cell, so that its digits follow its own uncertainty.

    The place of the second significant digit of the cell's std (3.79 -> 1 decimal, 1 -> 1, 0.0133 -> 3,
    80.3 -> 0, 803 -> -1: tens); without spread (one seed: no std; seeds that agree: std 0),
    NO_SPREAD_DIGITS significant digits of the mean (0 itself: none). At most MAX_DECIMALS. The place is
    read after rounding to those digits, so that 0.00999999... (the float std of 0.10, 0.11, 0.12)
    counts as 0.010 and 0.0996 as 0.10.
    """
    if np.isfinite(std) and std > 0:
        decimals = 1 - _exponent(std, 2)
    elif np.isfinite(mean) and mean != 0:
        decimals = NO_SPREAD_DIGITS - 1 - _exponent(abs(mean), NO_SPREAD_DIGITS)
    else:
        decimals = 0
    return min(decimals, MAX_DECIMALS)


def _exponent(value: float, digits: int) -> int:
    """The power of ten of the leading digit of `value` rounded to `digits` significant digits."""
    return int(f"{value:.{digits - 1}e}".split("e")[1])


def fixed(value: float, decimals: int) -> str:
    """`value` rounded to `decimals` places; negative decimals round to tens, hundreds, ... (an integer),
    written with an exponent from LARGE on (the same digits: 1e308 is "1.00e+308", not 309 digits)."""
    if decimals < 0 and np.isfinite(value) and abs(value) >= LARGE:
        return f"{value:.{max(0, _exponent(abs(value), 17) + decimals)}e}"
    text = f"{value:.{decimals}f}" if decimals >= 0 else f"{round(float(value), decimals):.0f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def format_cells(
    summary: pd.DataFrame,
    number_format: str | None = None,
    domain: Callable[[str, str], Domain] = registry_domain,
) -> pd.DataFrame:
    """The summary with the numbers as the tables show them: `mean_text`, `std_text` ('' for one seed
    or none), `decimals` (None under a number format), `bold`, `na_note` (the n/a footnote's number)
    and `modes` (the dataset's modes, for a count of modes; else None), shared by the Markdown and the
    LaTeX table so that both show the same.

    number_format None: each cell's mean and std rounded by `cell_decimals` of its own std; a format
    spec ('.3g') formats every number with it. `domain(metric, dataset)`: the values a metric can take
    there, whose upper end is the dataset's modes for a count of modes.
    """
    cells = summary.reset_index(drop=True)
    if "na_reason" not in cells.columns:  # a summary of before n/a cells
        cells = cells.assign(na_reason="")
    cells["na_reason"] = cells["na_reason"].fillna("").astype(str)
    decimals = [
        cell_decimals(mean, std) if number_format is None and n > 0 else None
        for mean, std, n in zip(cells["mean"], cells["std"], cells["n"], strict=True)
    ]
    mean_text, std_text = [""] * len(cells), [""] * len(cells)
    for i, (mean, std, n) in enumerate(zip(cells["mean"], cells["std"], cells["n"], strict=True)):
        if n > 0:
            mean_text[i] = _show(mean, decimals[i], number_format)
            std_text[i] = "" if pd.isna(std) else _show(std, decimals[i], number_format)
    numbers = {reason: i for i, reason in enumerate(na_reasons(cells), start=1)}
    shown = cells.assign(mean_text=mean_text, std_text=std_text, decimals=decimals)
    return shown.assign(
        bold=_bold(shown),
        na_note=[numbers.get(reason, 0) for reason in cells["na_reason"]],
        modes=[_modes(metric, dataset, unit, domain) for metric, dataset, unit in
               zip(cells["metric"], cells["dataset"], cells["unit"], strict=True)],
    )  # fmt: skip


def _show(value: float, decimals: int | None, number_format: str | None) -> str:
    return format(value, number_format) if number_format is not None else fixed(value, decimals or 0)


def _modes(metric: str, dataset: str, unit: str, domain: Callable[[str, str], Domain]) -> int | None:
    """The dataset's modes where `metric` counts modes (its unit) and its domain there is bounded."""
    high = domain(metric, dataset)[1] if unit == "modes" else None
    return int(high) if high is not None and np.isfinite(high) else None


def na_reasons(summary: pd.DataFrame) -> list[str]:
    """The distinct reasons of the summary's n/a cells, in table order: footnote 1, 2, ..."""
    if "na_reason" not in summary.columns:
        return []
    return list(
        dict.fromkeys(r for r, n in zip(summary["na_reason"], summary["n"], strict=True) if r and n == 0)
    )


def _bold(cells: pd.DataFrame) -> list[bool]:
    """Per row: bold by the rule stated in the legend (`_bold_rule`).

    Per column the best mean by the metric's direction; bold are the rows whose mean equals the best's
    as shown (`_tie`) and the rows that Welch's t test over seeds does not tell from the best (p >=
    ALPHA). A row or best of one seed cannot be tested (no std): it is bold only on a tie. A row
    without any ok seed is never bold.
    """
    bold = [False] * len(cells)
    for _, column in cells[cells.n > 0].groupby(["dataset", "metric"], sort=False):
        best = column.loc[
            column["mean"].idxmax() if column["higher_is_better"].iloc[0] else column["mean"].idxmin()
        ]
        for i, row in column.iterrows():
            testable = row["n"] >= 2 and best["n"] >= 2
            bold[i] = _tie(row, best) or (
                testable
                and welch(best["mean"], best["se"], best["n"], row["mean"], row["se"], row["n"])[2] >= ALPHA
            )
    return bold


def _tie(row: pd.Series, best: pd.Series) -> bool:
    """Whether two cells show the same mean: at the coarser of their two roundings (0.0180 and
    0.018000000000000002 are one number; 0.019 ± 0.010 and 0.0186 too), or as a number format shows
    them."""
    if pd.isna(row["decimals"]) or pd.isna(best["decimals"]):
        return row["mean_text"] == best["mean_text"]
    decimals = int(min(row["decimals"], best["decimals"]))
    return fixed(row["mean"], decimals) == fixed(best["mean"], decimals)


def _number(text: str, markup: _Markup) -> str:
    # Escaped: a --number-format may print '%' ('.1%') or a fill character ('$>8.2f').
    return markup.minus + markup.text(text[1:]) if text.startswith("-") else markup.text(text)


def _cell(row, markup: _Markup) -> str:
    """One cell: 'mean ± std' (bold by the rule), (n/N) when seeds are missing, the flag marks; n/a with
    its footnote's number where the ok jobs could not compute the metric."""
    if row.n == 0 and row.na_note:
        return "n/a" + markup.footnote(row.na_note)
    if row.n == 0:
        text = markup.missing
    else:
        text = _number(row.mean_text, markup)
        if row.std_text:
            text += markup.pm + _number(row.std_text, markup)
        if row.bold:
            text = markup.bold.format(text)
    if row.n < row.jobs:
        text += f" ({row.n}/{row.jobs})"
    marks = "".join(markup.flags[f] for f in str(row.flags).split(";") if f in markup.flags)
    return f"{text} {marks}" if marks else text


def paper_table(cells: pd.DataFrame, markup: _Markup, transpose: bool = False) -> pd.DataFrame:
    """The table as strings in `markup`, from `format_cells`. Columns are (group, label) pairs: first the
    row labels, in group '' (Method, and Settings when any settings label is set), then per dataset
    (the group) its metrics with their direction arrows, a count of modes with the dataset's modes
    ("Modes (of 8) ↑"). One row per method x settings, in order.

    `transpose` (one dataset only): one row per metric (label column Metric), one column per method
    x settings. A cell without a summary row shows the missing mark.
    """
    text = markup.text
    sweep = bool((cells["settings"] != "").any())
    runs = list(dict.fromkeys(zip(cells["method"], cells["settings"], strict=True)))
    measures = list(dict.fromkeys(zip(cells["dataset"], cells["metric"], strict=True)))
    higher = dict(zip(cells["metric"], cells["higher_is_better"], strict=True))
    modes = dict(zip(zip(cells["dataset"], cells["metric"], strict=True), cells["modes"], strict=True))
    shown = {(r.method, r.settings, r.dataset, r.metric): _cell(r, markup) for r in cells.itertuples()}

    def metric(dataset: str, name: str) -> str:
        return _metric_header(name, modes[dataset, name], higher[name], markup)

    def run(method: str, settings: str) -> list[str]:
        return [text(title("method", method))] + ([text(settings)] if sweep else [])

    if not transpose:
        head = [("", "Method")] + ([("", "Settings")] if sweep else [])
        columns = [(text(title("dataset", d)), metric(d, m)) for d, m in measures]
        rows = [run(*r) + [shown.get((*r, *c), markup.missing) for c in measures] for r in runs]
    else:
        (dataset,) = {d for d, _ in measures}
        head = [("", "Metric")]
        columns = [(text(title("dataset", dataset)), " ".join(run(*r))) for r in runs]
        rows = [[metric(*c)] + [shown.get((*r, *c), markup.missing) for r in runs] for c in measures]
    return pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(head + columns))


def _metric_header(name: str, modes: float | None, higher_is_better: bool, markup: _Markup) -> str:
    """A metric's header in `markup`: its title, the dataset's modes for a count of modes, its arrow."""
    of = f" (of {int(modes)})" if modes is not None and pd.notna(modes) else ""
    return f"{markup.text(title('metric', name))}{of} {markup.up if higher_is_better else markup.down}"


def table_contrasts(cells: pd.DataFrame) -> list[Contrast]:
    """Every pairwise contrast of the paper table, from `format_cells`, in table order.

    Per column (dataset x metric), each two rows (method x settings) whose cells have at least 2 ok
    seeds and a finite mean and std: Welch's t test (`welch`, two-sided) from the two cells' means,
    standard errors and seed counts. Two means equal as shown (`_tie`, as for bold) are a tie, p = 1, so
    that float noise between seeds that agree is no difference. Cells of n/a, of one seed or of none,
    and two cells whose test cannot be computed (`welch` gives NaN), are in no contrast. Columns and
    rows are named as the table shows them, in plain text: "Ring-8 W1 ↓", and a sweep's rows by method
    and settings ("WGAN n_critic=5").
    """
    sweep = bool((cells["settings"] != "").any())

    def row_label(row: pd.Series) -> str:
        return title("method", row["method"]) + (f" {row['settings']}" if sweep else "")

    contrasts: list[Contrast] = []
    for (dataset, metric), column in cells.groupby(["dataset", "metric"], sort=False):
        finite = np.isfinite(column["mean"].astype(float)) & np.isfinite(column["se"].astype(float))
        testable = column[(column["n"] >= 2) & finite]
        if len(testable) < 2:
            continue
        first = testable.iloc[0]
        header = _metric_header(metric, first["modes"], bool(first["higher_is_better"]), PLAIN)
        for (_, a), (_, b) in itertools.combinations(testable.iterrows(), 2):
            p = 1.0 if _tie(a, b) else welch(a["mean"], a["se"], a["n"], b["mean"], b["se"], b["n"])[2]
            if np.isnan(p):  # a difference of means beyond float64: no test, so not in Holm's family
                continue
            contrasts.append(
                Contrast(
                    f"{title('dataset', dataset)} {header}",
                    row_label(a),
                    row_label(b),
                    float(a["mean"]),
                    float(b["mean"]),
                    p,
                )
            )
    return contrasts


def contrast_line(contrasts: list[Contrast], alpha: float = ALPHA, markup: _Markup | None = None) -> str:
    """The line under the table on pairwise differences: the contrasts (`table_contrasts`, one family)
    significant after Holm's correction at `alpha` (`significant_contrasts`), grouped by column, "A > B"
    where A's mean is larger, with Holm-adjusted p to two significant digits ("p < 0.001" below
    0.001); or that none is. '' where no contrast could be tested. In `markup` (Markdown by default).
    """
    if not contrasts:
        return ""
    text = (markup or MARKDOWN).text
    count = f"{len(contrasts)} contrast{'' if len(contrasts) == 1 else 's'}"
    family = (
        f"α = {alpha:g}, {count}: every two rows of a column with ≥ 2 seeds each, Welch's t test, two-sided"
    )
    significant = significant_contrasts(contrasts, alpha)
    if not significant:
        return text(f"No pairwise difference is significant after Holm ({family}).")
    columns: dict[str, list[str]] = {}
    for c in significant:
        sign = ">" if c.mean_a > c.mean_b else "<"
        columns.setdefault(c.column, []).append(f"{c.a} {sign} {c.b} ({_p_text(c.p_holm)})")
    listed = "; ".join(f"{column}: {', '.join(shown)}" for column, shown in columns.items())
    return text(f"Significant after Holm ({family}; Holm-adjusted p; A > B: A's mean is larger): {listed}.")


def _p_text(p: float) -> str:
    """A p-value to two significant digits ("p = 0.0030", "p = 0.041"), "p < 0.001" below 0.001."""
    return "p < 0.001" if p < 0.001 else f"p = {p:#.2g}"


def _groups(table: pd.DataFrame) -> list[tuple[str, int, int]]:
    """The column groups of a paper table: (label, first, last) 1-based, the row labels' '' included."""
    groups: list[tuple[str, int, int]] = []
    for position, (group, _) in enumerate(table.columns, start=1):
        if groups and groups[-1][0] == group:
            groups[-1] = (group, groups[-1][1], position)
        else:
            groups.append((group, position, position))
    return groups


def estimated_width(plain: pd.DataFrame) -> float:
    """Points a LaTeX tabular of the paper table `plain` (written with PLAIN) takes, by estimate.

    Each column: its longest header or cell in characters x PT_PER_CHAR, plus COLUMN_SEP_PT; a group
    header (a dataset's name) wider than its columns widens them.
    """
    widths = [
        max(len(str(v)) for v in [label, *plain.iloc[:, i]]) * PT_PER_CHAR + COLUMN_SEP_PT
        for i, (_, label) in enumerate(plain.columns)
    ]
    total = 0.0
    for group, first, last in _groups(plain):
        total += max(sum(widths[first - 1 : last]), len(group) * PT_PER_CHAR + COLUMN_SEP_PT)
    return total


@dataclass(frozen=True)
class _Tabular:
    """A tabular and the width it was estimated at."""

    latex: str
    width: float  # estimated, in points


def _tabular(cells: pd.DataFrame, transpose: bool = False) -> _Tabular:
    """A booktabs tabular written by pandas' Styler, with a \\cmidrule under each dataset's header."""
    table = paper_table(cells, LATEX, transpose)
    groups = _groups(table)
    label_columns = groups[0][2] if groups[0][0] == "" else 0
    column_format = "l" * label_columns + "c" * (table.shape[1] - label_columns)
    latex = table.style.hide(axis="index").to_latex(
        hrules=True, multicol_align="c", column_format=column_format
    )
    # Styler writes no \cmidrule; booktabs sets one under each spanning header, trimmed at both ends (lr)
    # so that neighbouring groups' rules stay apart. It goes under the first header row.
    lines = latex.splitlines()
    rules = " ".join(rf"\cmidrule(lr){{{first}-{last}}}" for group, first, last in groups if group != "")
    lines.insert(lines.index(r"\toprule") + 2, rules)
    return _Tabular("\n".join(lines) + "\n", estimated_width(paper_table(cells, PLAIN, transpose)))


def _fitted(cells: pd.DataFrame) -> tuple[_Tabular, str]:
    """One dataset's tabular: as is when it fits TEXT_WIDTH_PT, else transposed when that fits, else the
    narrower of the two (the caller scales it); and how it was made ('' when as is)."""
    normal = _tabular(cells)
    if normal.width <= TEXT_WIDTH_PT:
        return normal, ""
    flipped = _tabular(cells, transpose=True)
    chosen = flipped if flipped.width < normal.width else normal
    return chosen, "transposed: metrics as rows" if chosen is flipped else ""


def _bold_rule() -> str:
    """The legend's words on what is bold (`_bold`), after the word Bold."""
    return (
        ", per dataset and metric: the best mean (↑ higher is better, ↓ lower is better) and "
        "every mean not significantly different from it (Welch's t test over seeds, two-sided, "
        f"α = {ALPHA}; means equal as shown are ties, and a cell or best of one seed is bold only on a tie)."
    )


def _counts(summary: pd.DataFrame) -> str:
    """How many seeds a cell is over: 'n = 3 seeds per cell' where every complete cell has as many."""
    complete = set(summary.loc[summary.n == summary.jobs, "n"])
    return f"n = {complete.pop()} seeds per cell" if len(complete) == 1 else "n per cell in summary.csv"


def _legend(summary: pd.DataFrame, number_format: str | None, markup: _Markup) -> str:
    """The table's legend as one paragraph in `markup`: what a cell shows, its decimals, the bold rule,
    the settings where rows have any, where the intervals are."""
    text = markup.text
    sentences = [
        text(
            f"Mean ± std over the seeds that finished ok ({_counts(summary)}; (n/N): only n of N planned "
            "seeds finished ok; "
        )
        + markup.missing
        + text(": no result)."),
        text(
            "Each mean and std is rounded to the second significant digit of its own std; a cell "
            f"without spread (one seed, or seeds that agree) shows {NO_SPREAD_DIGITS} significant digits."
        )
        if number_format is None
        else "",
        markup.bold.format("Bold") + text(_bold_rule()),
        text(_settings_note(summary)),
        text(f"Confidence intervals in summary.csv: {METHOD}."),
    ]
    return " ".join(s for s in sentences if s)


def _settings_note(summary: pd.DataFrame) -> str:
    """What the Settings column says, where rows have settings labels ('' where none has)."""
    shown = [labels.parse_label(text) for text in set(summary["settings"]) if text]
    if not shown:
        return ""
    note = (
        "Settings: the settings in which the rows' jobs differ (a sweep's, or the protocols of merged "
        "run folders), by their names in the suite file"
    )
    if any(labels.SOURCE in settings for settings in shown):
        note += (
            f"; {labels.SOURCE}=run: trained and scored by ganbench run, {labels.SOURCE}=samples or "
            "generator: samples or a generator scored by ganbench eval (trained elsewhere)"
        )
    return note + "."


def summary_markdown(
    summary: pd.DataFrame,
    number_format: str | None = None,
    domain: Callable[[str, str], Domain] = registry_domain,
) -> str:
    """The paper table as Markdown (one header row 'Dataset: Metric ↑'), with its legend.

    number_format None: each cell's decimals follow its own uncertainty (`cell_decimals`).
    """
    if summary.empty:
        return "_no records_\n"
    cells = format_cells(summary, number_format, domain)
    table = paper_table(cells, MARKDOWN)
    table.columns = [label if not group else f"{group}: {label}" for group, label in table.columns]
    contrasts = contrast_line(table_contrasts(cells), markup=MARKDOWN)
    return (
        table.to_markdown(index=False)
        + "\n\n"
        + _legend(summary, number_format, MARKDOWN)
        + "\n"
        + flag_legend(summary, MARKDOWN)
        + na_legend(summary, MARKDOWN)
        + (f"\n{contrasts}\n" if contrasts else "")
    )


def na_legend(summary: pd.DataFrame, markup: _Markup, end: str = "\n") -> str:
    """One footnote line per reason of the n/a cells: '¹ n/a: FlopCounterMode cannot trace ...'."""
    return "".join(
        f"{markup.footnote(i)} {markup.text(f'{NOT_APPLICABLE}{reason}.')}{end}"
        for i, reason in enumerate(na_reasons(summary), start=1)
    )


def flag_legend(summary: pd.DataFrame, markup: _Markup, end: str = "\n") -> str:
    """One legend line per convergence flag that marks a cell of `summary`."""
    present = {f for flags in summary["flags"] for f in str(flags).split(";") if f}
    return "".join(
        f"{markup.flags[f]} {markup.text(f'{f}: {LEGEND[f]}.')}{end}" for f in FLAGS if f in present
    )


def summary_latex(
    summary: pd.DataFrame,
    number_format: str | None = None,
    domain: Callable[[str, str], Domain] = registry_domain,
) -> str:
    """The paper table as a LaTeX `table` float: a caption, booktabs tabulars that fit a page
    TEXT_WIDTH_PT wide, and the legend as notes below them, in base LaTeX (no threeparttable).

    Rows methods (x settings), datasets as \\multicolumn groups with a \\cmidrule under each. Page fit,
    by `estimated_width`: the whole table when it fits; else one tabular per dataset (a '% Dataset'
    line before each), each as is when it fits, else transposed (metrics as rows, methods as columns)
    when that fits, else the narrower of the two. Where a part is still too wide, one \\resizebox
    scales all parts together to the line width, so that every dataset keeps one font size. The
    file's first lines name the packages it needs (PACKAGES).
    """
    if summary.empty:
        return "% no records\n"
    cells = format_cells(summary, number_format, domain)
    datasets = list(dict.fromkeys(cells["dataset"]))
    whole = _tabular(cells)
    head: list[str] = []
    if whole.width <= TEXT_WIDTH_PT:
        parts = [whole]
        body = whole.latex
    else:
        if len(datasets) > 1:
            head.append(
                f"% One tabular per dataset: the whole table (about {whole.width:.0f} pt) is wider than "
                f"the text ({TEXT_WIDTH_PT:.0f} pt)."
            )
        fitted = [_fitted(cells[cells["dataset"] == dataset]) for dataset in datasets]
        parts = [part for part, _ in fitted]
        shown = [
            f"% {latex_text(title('dataset', dataset))}{f' ({how})' if how else ''}\n{part.latex}"
            for dataset, (part, how) in zip(datasets, fitted, strict=True)
        ]
        body = shown[0] if len(shown) == 1 else _stack(shown)
    packages = ["booktabs"]
    widest = max(part.width for part in parts)
    if widest > TEXT_WIDTH_PT:
        # One box scaled as a whole: the widest part to the line width and every other by the same factor.
        # The box's last line ends in "%" so that no space joins it.
        body = "\\resizebox{\\linewidth}{!}{%\n" + body.rstrip("\n") + "%\n}\n"
        packages.append("graphicx")
        head.append(
            f"% Scaled to the line width as one box (the widest part about {widest:.0f} pt): "
            "every part by the same factor."
        )
    needs = " and ".join(rf"\usepackage{{{name}}} ({PACKAGES[name]})" for name in packages)
    head = [
        r"% A table written by ganbench report: a table float with its caption and notes; \input it in "
        "the body of a document.",
        f"% Needs {needs}.",
        *head,
    ]
    contrasts = contrast_line(table_contrasts(cells), markup=LATEX)
    return "\n".join(head) + "\n" + _float(summary, number_format, body, contrasts)


def _stack(parts: list[str]) -> str:
    """Tabulars one below the other (booktabs' \\addlinespace between), as one box: a one-column tabular
    without outer space, so that one \\resizebox can scale them together."""
    stacked = " \\\\ \\addlinespace[\\bigskipamount]\n".join(part.rstrip("\n") for part in parts)
    return "\\begin{tabular}{@{}c@{}}\n" + stacked + "\n\\end{tabular}\n"


def _float(summary: pd.DataFrame, number_format: str | None, body: str, contrasts: str = "") -> str:
    """The table float: the caption above the tabulars (as journals set tables), the notes below them
    as a small paragraph: the legend, then one line per convergence flag and per n/a reason, then the
    line on significant pairwise differences (`contrasts`, from `contrast_line`; none where '')."""
    datasets = [title("dataset", d) for d in dict.fromkeys(summary["dataset"])]
    named = ", ".join(datasets[:-1]) + " and " + datasets[-1] if len(datasets) > 1 else datasets[0]
    caption = latex_text(f"{named}: mean ± std over the seeds that finished ok ({_counts(summary)}).")
    notes = (
        _legend(summary, number_format, LATEX)
        + "\\par\n"
        + flag_legend(summary, LATEX, end="\\par\n")
        + na_legend(summary, LATEX, end="\\par\n")
        + (f"{contrasts}\\par\n" if contrasts else "")
    )
    return (
        "\\begin{table}[tbp]\n\\centering\n"
        f"\\caption{{{caption}}}\n\\medskip\n"
        f"{body}"
        "\\par\\medskip\n"
        "{\\footnotesize\\raggedright\n"
        f"{notes}"
        "}\n\\end{table}\n"
    )
