"""Summary tables over seeds: pure functions of the tidy records frame, to CSV, Markdown and LaTeX."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ganbench.errors import GanbenchError
from ganbench.metrics.validity import FLAGS, LEGEND, SYMBOLS
from ganbench.registry import suggest

SUMMARY_COLUMNS = [
    "method", "dataset", "metric", "unit", "higher_is_better",
    "mean", "std", "n", "jobs", "ci_low", "ci_high", "flags",
]  # fmt: skip
CONFIDENCE = 0.95


def check_number_format(spec: str) -> str:
    """A Python format spec for table numbers ('.3g', '.2f', ...); anything else is an error."""
    try:
        format(1.5, spec)
    except ValueError:
        raise GanbenchError(f"--format: '{spec}' is not a number format (try .3g or .2f)") from None
    return spec


def t_interval(mean: float, std: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student t confidence interval for the mean of n values: mean ± t_{(1+c)/2, n-1} std / sqrt(n).

    Undefined (NaN, NaN) for n < 2: one seed says nothing about the spread.
    """
    if n < 2:
        return math.nan, math.nan
    from scipy.stats import t

    half = t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def summarize(frame: pd.DataFrame, planned: Mapping[tuple[str, str], int] | None = None) -> pd.DataFrame:
    """Mean, sample std (ddof 1), n and a 95% Student t interval over the `ok` seeds per method x
    dataset x metric.

    `jobs` is the number of seeds planned for the cell (`planned`, from the run folders' plans),
    or at least the number stored, so a cell whose n is below it shows that seeds are missing,
    diverged or failed instead of silently averaging over fewer.
    """
    keys = ["method", "dataset", "metric"]
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    ok = frame[frame["status"] == "ok"]
    stats = ok.groupby(keys, sort=False)["value"].agg(mean="mean", std="std", n="count")
    stored = frame.groupby(keys, sort=False)["key"].nunique().rename("jobs")
    summary = stored.to_frame().join(stats).reset_index()
    summary["n"] = summary["n"].fillna(0).astype(int)
    planned = planned or {}
    cells = zip(summary.method, summary.dataset, summary.jobs, strict=True)
    summary["jobs"] = [max(jobs, planned.get((m, d), 0)) for m, d, jobs in cells]
    # Units and directions come from the records (each stored its metrics' specs), not a registry.
    specs = frame.drop_duplicates("metric").set_index("metric")
    summary["unit"] = [specs.at[m, "unit"] for m in summary["metric"]]
    summary["higher_is_better"] = [bool(specs.at[m, "higher_is_better"]) for m in summary["metric"]]
    intervals = [t_interval(r.mean, r.std, r.n) for r in summary.itertuples()]
    summary["ci_low"], summary["ci_high"] = [i[0] for i in intervals], [i[1] for i in intervals]
    summary["flags"] = _cell_flags(ok, summary)
    return summary[SUMMARY_COLUMNS]


def _cell_flags(ok: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Per summary row, the convergence flags of any of its ok seeds (";"-separated, FLAGS order).

    Records of older schemas (and records.csv files without the column) carry none.
    """
    if "flags" not in ok.columns:
        return [""] * len(summary)
    seen: dict[tuple[str, str], set[str]] = {}
    for method, dataset, flags in zip(ok["method"], ok["dataset"], ok["flags"].fillna(""), strict=True):
        seen.setdefault((method, dataset), set()).update(f for f in str(flags).split(";") if f)
    cells = zip(summary["method"], summary["dataset"], strict=True)
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


@dataclass(frozen=True)
class _Markup:
    """How one output format writes the pieces of a cell and a header."""

    pm: str
    bold: str  # a format string with one {} slot
    up: str
    down: str
    missing: str
    flags: Mapping[str, str]  # the mark of each convergence flag


MARKDOWN = _Markup(pm=" ± ", bold="**{}**", up="↑", down="↓", missing="—", flags=SYMBOLS)
LATEX = _Markup(
    pm=r" $\pm$ ",
    bold=r"\textbf{{{}}}",
    up=r"$\uparrow$",
    down=r"$\downarrow$",
    missing="--",
    flags={"undertrained": r"$^\dagger$", "still-improving": r"$^\ddagger$"},
)


def _best(summary: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(method, dataset, metric) of the best mean per dataset x metric, by the metric's direction."""
    best = set()
    for (dataset, metric), cell in summary[summary.n > 0].groupby(["dataset", "metric"], sort=False):
        target = cell["mean"].max() if cell["higher_is_better"].iloc[0] else cell["mean"].min()
        best |= {(m, dataset, metric) for m in cell.loc[cell["mean"] == target, "method"]}
    return best


def paper_table(summary: pd.DataFrame, markup: _Markup, number_format: str = ".3g") -> pd.DataFrame:
    """Rows methods, columns (dataset, metric with its direction arrow); cells 'mean ± std'.

    The best method per column is bold; a cell with fewer ok seeds than planned shows (n/N);
    a cell without any ok seed shows the missing mark.
    """
    best = _best(summary)
    methods = list(dict.fromkeys(summary["method"]))
    columns = list(dict.fromkeys(zip(summary["dataset"], summary["metric"], strict=True)))
    table = pd.DataFrame(markup.missing, index=pd.Index(methods, name="method"),
                         columns=pd.MultiIndex.from_tuples(columns))  # fmt: skip
    for row in summary.itertuples():
        if row.n == 0:
            text = markup.missing
        else:
            text = format(row.mean, number_format)
            if not pd.isna(row.std):
                text += markup.pm + format(row.std, number_format)
            if (row.method, row.dataset, row.metric) in best:
                text = markup.bold.format(text)
        if row.n < row.jobs:
            text += f" ({row.n}/{row.jobs})"
        marks = "".join(markup.flags[f] for f in str(row.flags).split(";") if f in markup.flags)
        if marks:
            text += " " + marks
        table.loc[row.method, (row.dataset, row.metric)] = text
    higher = dict(zip(summary["metric"], summary["higher_is_better"], strict=True))
    arrows = {m: markup.up if higher[m] else markup.down for _, m in columns}
    table.columns = pd.MultiIndex.from_tuples([(d, f"{m} {arrows[m]}") for d, m in columns])
    return table


def summary_markdown(summary: pd.DataFrame, number_format: str = ".3g") -> str:
    """The paper table as Markdown (one header row 'dataset: metric ↑'), with a legend."""
    if summary.empty:
        return "_no records_\n"
    table = paper_table(summary, MARKDOWN, number_format)
    table.columns = [f"{d}: {m}" for d, m in table.columns]
    complete = set(summary.loc[summary.n == summary.jobs, "n"])
    counts = f"n = {complete.pop()} seeds per cell" if len(complete) == 1 else "n per cell in summary.csv"
    legend = (
        f"\nmean ± std over the seeds that finished ok ({counts}; (n/N): only n of N planned seeds "
        "finished ok; —: no result). **Bold**: best per column (↑ higher is better, ↓ lower is better). "
        f"{CONFIDENCE:.0%} confidence intervals (Student t) are in summary.csv.\n"
    )
    return table.reset_index().to_markdown(index=False) + "\n" + legend + flag_legend(summary, SYMBOLS)


def flag_legend(summary: pd.DataFrame, marks: Mapping[str, str], prefix: str = "") -> str:
    """One legend line per convergence flag that marks a cell of `summary`."""
    present = {f for flags in summary["flags"] for f in str(flags).split(";") if f}
    return "".join(f"{prefix}{marks[f]} {f}: {LEGEND[f]}.\n" for f in FLAGS if f in present)


def summary_latex(summary: pd.DataFrame, number_format: str = ".3g") -> str:
    """The paper table as a booktabs LaTeX tabular (datasets as multicolumn headers)."""
    if summary.empty:
        return "% no records\n"
    table = paper_table(summary, LATEX, number_format)
    styler = table.style.hide(axis="index", names=True)
    latex = styler.to_latex(hrules=True, multicol_align="c", column_format="l" + "c" * table.shape[1])
    return latex + flag_legend(summary, {f: SYMBOLS[f] for f in FLAGS}, prefix="% ")
