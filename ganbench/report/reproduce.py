"""A run beside a published table, cell by cell: Welch's t test per cell, Holm's correction across the table.

Pure functions of the tidy records frame (ganbench.report.records) and a `PublishedTable`. Per cell:
ours (mean, standard error, n over the seeds that finished ok), the paper's (mean, spread, n), the
difference, Welch's t and its two-sided p-value (unequal variances: Welch 1947), the p-value after
Holm's step-down correction over every comparable cell of the table (Holm 1979), and a verdict.
A cell whose runs differ from the paper's protocol in any setting, or that has fewer seeds than the
paper's runs, is `not comparable` and no test is made for it: the reason names every difference. A
cell whose test cannot be computed (our mean or standard error is not a finite number) is `not
testable` and, like those, left out of Holm's family, so no other cell's adjusted p-value depends on it.
Every string from the table file or from run records is escaped for the Markdown or LaTeX it lands in.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ganbench.metrics.published import PublishedCell, PublishedTable
from ganbench.metrics.validity import FLAGS, LEGEND, SYMBOLS
from ganbench.report.stats import holm, welch
from ganbench.report.tables import LATEX, MARKDOWN, _Markup, latex_text

DEFAULT_ALPHA = 0.05
NOT_PROOFREAD = (
    "The published numbers have not yet been proofread against the paper: "
    "check them before quoting a verdict."
)
CONSISTENT, HIGHER, LOWER = "consistent", "higher", "lower"
NOT_COMPARABLE, MISSING, NOT_TESTABLE = "not comparable", "missing", "not testable"
COLUMNS = [
    "dataset", "metric", "method", "label",
    "ours_mean", "ours_se", "ours_n",
    "published_mean", "published_spread", "published_spread_kind", "published_n",
    "difference", "t", "df", "p", "p_holm", "verdict", "reason", "flags",
]  # fmt: skip


def protocol_differences(configs: Sequence[dict], settings: dict) -> list[str]:
    """'train.steps = 10000 (published 400000)' for every published setting some job does not share."""
    differences = []
    for path, published in settings.items():
        values = {json.dumps(_lookup(config, path)) for config in configs}
        ours = [json.loads(v) for v in sorted(values)]
        if not all(_same(value, published) for value in ours):
            shown = ", ".join("unset" if v is None else str(v) for v in ours)
            differences.append(f"{path} = {shown} (published {published})")
    return differences


def reproduce(frame: pd.DataFrame, table: PublishedTable, alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """One row per published cell: ours, the paper's, Welch's test, Holm-adjusted p and a verdict.

    Holm's family is the cells whose test was made (not those not comparable, missing or not
    testable), in a fixed order, so each adjusted p-value depends on the tested cells alone.
    """
    if frame.empty:  # a folder without records: every cell is missing
        frame = pd.DataFrame(columns=["method", "dataset", "metric", "status", "value", "config"])
    rows = [_cell_row(frame, table, cell) for cell in table.cells]
    tested = [i for i, row in enumerate(rows) if row["verdict"] is None]
    for i, adjusted in zip(tested, holm([rows[i]["p"] for i in tested]), strict=True):
        row = rows[i]
        row["p_holm"] = adjusted
        row["verdict"] = CONSISTENT if adjusted >= alpha else (HIGHER if row["difference"] > 0 else LOWER)
    return pd.DataFrame(rows, columns=COLUMNS)


def _cell_row(frame: pd.DataFrame, table: PublishedTable, cell: PublishedCell) -> dict:
    row = {
        "dataset": cell.dataset, "metric": cell.metric, "method": cell.method, "label": cell.label,
        "ours_mean": math.nan, "ours_se": math.nan, "ours_n": 0,
        "published_mean": cell.mean, "published_spread": cell.spread,
        "published_spread_kind": table.spread_kind, "published_n": table.n,
        "difference": math.nan, "t": math.nan, "df": math.nan, "p": math.nan, "p_holm": math.nan,
        "verdict": None, "reason": "", "flags": "",
    }  # fmt: skip
    jobs = frame[
        (frame.method == cell.method) & (frame.dataset == cell.dataset) & (frame.metric == cell.metric)
    ]
    finished = jobs[jobs.status == "ok"]
    ok = finished["value"].astype(float).dropna()  # NaN: the metric is n/a for that job
    if "flags" in finished:  # convergence flags of our seeds (validity.FLAGS, old ones included)
        seen = {f for flags in finished["flags"].fillna("") for f in str(flags).split(";") if f}
        row["flags"] = ";".join(f for f in FLAGS if f in seen)
    if ok.empty:
        reason = "no job of this cell finished ok" if finished.empty else "the metric is n/a for every job"
        row["verdict"], row["reason"] = MISSING, reason
        return row
    n = len(ok)
    with np.errstate(over="ignore", invalid="ignore"):  # a stored 1e308 overflows: the cell is not testable
        mean, se = float(ok.mean()), float(ok.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    row.update(ours_mean=mean, ours_se=se, ours_n=n, difference=mean - cell.mean)
    reasons = protocol_differences([json.loads(c) for c in jobs["config"]], table.settings(cell.dataset))
    if n < table.n:
        reasons.append(f"{n} seeds finished ok (published {table.n} runs)")
    if reasons:
        row["verdict"], row["reason"] = NOT_COMPARABLE, "; ".join(reasons)
        return row
    published_se = table.standard_error(cell)
    t, df, p = welch(row["ours_mean"], se, n, cell.mean, published_se, table.n)
    if math.isnan(p):  # an infinite or overflowing value of ours (the table file's are bounded)
        row["verdict"] = NOT_TESTABLE
        row["reason"] = "our mean or standard error is not a finite number, or too large for Welch's test"
        return row
    row["t"], row["df"], row["p"] = t, df, p
    return row


def _lookup(config: dict, path: str) -> object:
    value: object = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _same(ours: object, published: object) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ours, published))
    if numbers:
        return math.isclose(float(ours), float(published), rel_tol=1e-9)  # type: ignore[arg-type]
    return ours == published


def _heading(table: PublishedTable, result: pd.DataFrame, alpha: float, text: Callable[[str], str]) -> str:
    """The heading: the source (its strings written by `text`), the spreads, the test and alpha."""
    kind = "standard error" if table.spread_kind == "standard-error" else "standard deviation"
    tested = int(result["p_holm"].notna().sum())
    return (
        f"Ours beside {text(table.source.citation())} (`{table.name}`). Ours: mean ± standard error over "
        f"the seeds that finished ok; published: mean ± {kind} over {table.n} runs. Welch's t test "
        f"per cell, p-values Holm-corrected across the {tested} comparable cells, alpha = {alpha:g}: "
        f"a verdict says whether ours is consistent with, higher or lower than the published value."
        + ("" if table.source.proofread else f" {NOT_PROOFREAD}")
    )


def _display(result: pd.DataFrame, number_format: str, markup: _Markup) -> pd.DataFrame:
    """The comparison's cells as `markup` writes them: every string from the table file or the records,
    and every number (a format may print '%' or a fill character), escaped by `markup.text`."""
    text = markup.text

    def fmt(value: float, spec: str = number_format) -> str:
        return markup.missing if pd.isna(value) else text(format(value, spec))

    def pair(mean: float, spread: float, n: int, flags: str = "") -> str:
        if pd.isna(mean):
            return markup.missing
        shown = "".join(markup.flags[f] for f in flags.split(";") if f in markup.flags)
        return f"{fmt(mean)}{markup.pm}{fmt(spread)} (n={n})" + (f" {shown}" if shown else "")

    rows = list(result.itertuples())
    return pd.DataFrame(
        {
            "dataset": [text(d) for d in result["dataset"]],
            "metric": [text(m) for m in result["metric"]],
            "method": [text(f"{r.label} ({r.method})") for r in rows],
            "ours": [pair(r.ours_mean, r.ours_se, r.ours_n, r.flags) for r in rows],
            "published": [pair(r.published_mean, r.published_spread, r.published_n) for r in rows],
            "difference": [fmt(v, _signed(number_format)) for v in result["difference"]],
            "t": [fmt(v, ".3g") for v in result["t"]],
            "p (Holm)": [fmt(v, ".2g") for v in result["p_holm"]],
            "verdict": result["verdict"],
        }
    )


def _signed(spec: str) -> str:
    """The format spec `spec` with a '+' sign: after its fill and alignment ('$>9.1%' -> '$>+9.1%'), in
    place of any sign it has."""
    match = re.fullmatch(r"(.?[<>=^])?[-+ ]?(.*)", spec, re.DOTALL)
    return f"{match[1] or ''}+{match[2]}" if match else spec


def _footer(result: pd.DataFrame, text: Callable[[str], str]) -> list[str]:
    """The verdict counts, then each reason a cell was not compared, once, with the cells it applies to
    (a reason quotes the table file's and the records' settings: written by `text`)."""
    counts = result["verdict"].value_counts()
    order = [CONSISTENT, HIGHER, LOWER, NOT_COMPARABLE, MISSING]
    order += [NOT_TESTABLE] if counts.get(NOT_TESTABLE, 0) else []
    lines = ["Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in order) + "."]
    present = {f for flags in result["flags"] for f in str(flags).split(";") if f}
    lines += [f"{SYMBOLS[f]} {f} (some of our seeds): {LEGEND[f]}." for f in FLAGS if f in present]
    reasons = result[result["reason"] != ""]
    if len(reasons) == len(result) and reasons["reason"].nunique() == 1:
        return [*lines, f"Every cell is {result['verdict'].iloc[0]}: {text(reasons['reason'].iloc[0])}."]
    for reason, cells in reasons.groupby("reason", sort=False):
        where = ", ".join(
            dict.fromkeys(f"{m} on {d}" for m, d in zip(cells.method, cells.dataset, strict=True))
        )
        lines.append(f"- {cells['verdict'].iloc[0]} ({len(cells)} cells: {text(where)}): {text(reason)}")
    return lines


def reproduce_markdown(
    result: pd.DataFrame, table: PublishedTable, alpha: float = DEFAULT_ALPHA, number_format: str = ".3g"
) -> str:
    """The comparison as Markdown: a heading that states the test, the table, and the verdict counts
    with the reason for every cell not compared."""
    body = _display(result, number_format, MARKDOWN).to_markdown(index=False, disable_numparse=True)
    heading, footer = _heading(table, result, alpha, MARKDOWN.text), _footer(result, MARKDOWN.text)
    return "\n\n".join([heading, body, "\n".join(footer)]) + "\n"


def reproduce_latex(
    result: pd.DataFrame, table: PublishedTable, alpha: float = DEFAULT_ALPHA, number_format: str = ".3g"
) -> str:
    """The comparison as a booktabs LaTeX tabular, the heading and reasons as comments above and below
    (escaped as text, so that no line break in a string can end a comment)."""
    shown = _display(result, number_format, LATEX)
    latex = shown.style.hide(axis="index").to_latex(hrules=True, column_format="lll" + "c" * 6)
    lines = [_heading(table, result, alpha, str), *_footer(result, str)]
    comments = [f"% {latex_text(line)}" for line in lines]
    return "\n".join(comments[:1]) + "\n" + latex + "\n".join(comments[1:]) + "\n"
