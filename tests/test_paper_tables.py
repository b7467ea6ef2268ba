"""Paper tables: bold by Welch's test, decimals from the spread, display names, LaTeX that fits a page."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from ganbench.metrics import METRICS
from ganbench.report.tables import (
    PLAIN,
    TEXT_WIDTH_PT,
    column_decimals,
    estimated_width,
    fixed,
    format_cells,
    latex_text,
    paper_table,
    summarize,
    summary_latex,
    summary_markdown,
)

GOLDEN = ROOT / "tests" / "data" / "golden"


def _row(method: str, dataset: str, metric: str, mean: float, std: float, n: int, **extra) -> dict:
    """A summary row as `summarize` writes it; the direction from the metric's registry entry."""
    higher = METRICS.get(metric).higher_is_better if metric in METRICS.names() else False
    row = {
        "method": method, "dataset": dataset, "settings": "", "metric": metric, "unit": "",
        "higher_is_better": higher, "mean": mean, "std": std if n > 1 else math.nan,
        "se": std / math.sqrt(n) if n > 1 else math.nan, "n": n, "jobs": n,
        "ci_low": math.nan, "ci_high": math.nan, "flags": "",
    }  # fmt: skip
    return {**row, **extra}


def _cells(markdown: str) -> list[list[str]]:
    """The body of a Markdown table, row by row, each cell stripped of its padding."""
    rows = [line for line in markdown.splitlines()[2:] if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _lines(latex: str) -> list[str]:
    """The body rows of the LaTeX tabulars (between \\midrule and \\bottomrule)."""
    return [line for block in re.findall(r"\\midrule\n(.*?)\\bottomrule", latex, flags=re.S)
            for line in block.splitlines()]  # fmt: skip


def test_means_equal_at_the_shown_precision_are_both_best() -> None:
    # W1 (lower is better): 0.018000000000000002 and 0.018 are the same number as shown. The std 0.001
    # gives 4 decimals: both show 0.0180. GAN has one seed, so no test can speak for it: only the tie
    # makes it bold. WGAN-GP's single seed at 0.0185 is no tie and cannot be tested: not bold.
    summary = pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.018000000000000002, math.nan, 1),
            _row("wgan", "ring-8", "w1", 0.018, 0.001, 3),
            _row("wgan-gp", "ring-8", "w1", 0.0185, math.nan, 1),
        ]
    )
    assert _cells(summary_markdown(summary)) == [
        ["GAN", "**0.0180**"],
        ["WGAN", "**0.0180 ± 0.0010**"],
        ["WGAN-GP", "0.0185"],
    ]
    # A forced format shows both as 0.018: still a tie.
    assert _lines(summary_latex(summary, ".3g")) == [
        r"GAN & \textbf{0.018} \\",
        r"WGAN & \textbf{0.018 $\pm$ 0.001} \\",
        r"WGAN-GP & 0.0185 \\",
    ]


def test_bold_is_the_best_and_every_mean_welch_cannot_tell_from_it() -> None:
    # Modes (higher is better), 3 seeds each. GAN 8, 7, 6: mean 7, std 1, se 1/sqrt(3) = 0.577.
    # GAN-NS 7, 6, 5: mean 6, std 1. Welch: t = 1 / sqrt(1/3 + 1/3) = 1.22, df = (2/3)^2 / (2 (1/3)^2 / 2)
    # = 4, two-sided p = 0.288 >= 0.05: not significantly worse, bold.
    # WGAN 3.1, 3.0, 2.9: mean 3, std 0.1, se 0.0577. t = 4 / sqrt(1/3 + 0.01/3) = 6.89,
    # df = (0.3367)^2 / ((1/3)^2 / 2 + (0.01/3)^2 / 2) = 2.04, p = 0.0194 < 0.05: worse, not bold.
    # WGAN-GP has no ok seed: the missing mark, never bold. Decimals: smallest std 0.1 -> 2.
    frame = pd.DataFrame(
        [
            {"key": f"{method}__ring-8__seed{seed}", "method": method, "dataset": "ring-8",
             "metric": "modes-covered", "value": value, "unit": "modes", "higher_is_better": True,
             "status": "ok" if value == value else "failed"}
            for method, values in [("gan", [8, 7, 6]), ("gan-ns", [7, 6, 5]), ("wgan", [3.1, 3.0, 2.9]),
                                   ("wgan-gp", [math.nan])]
            for seed, value in enumerate(values)
        ]
    )  # fmt: skip
    summary = summarize(frame)
    assert _cells(summary_markdown(summary)) == [
        ["GAN", "**7.00 ± 1.00**"],
        ["GAN-NS", "**6.00 ± 1.00**"],
        ["WGAN", "3.00 ± 0.10"],
        ["WGAN-GP", "— (0/1)"],
    ]
    assert _lines(summary_latex(summary)) == [
        r"GAN & \textbf{7.00 $\pm$ 1.00} \\",
        r"GAN-NS & \textbf{6.00 $\pm$ 1.00} \\",
        r"WGAN & 3.00 $\pm$ 0.10 \\",
        r"WGAN-GP & -- (0/1) \\",
    ]
    legend = summary_markdown(summary)
    assert (
        "**Bold**, per dataset and metric: the best mean (↑ higher is better, ↓ lower is better) and "
        "every mean not significantly different from it (Welch's t test over seeds, two-sided, α = 0.05; "
        "means equal as shown are ties, and a cell or best of one seed is bold only on a tie)."
    ) in legend
    assert (
        "Confidence intervals in summary.csv: 95% percentile bootstrap over seeds (10,000 resamples)."
        in legend
    )


def test_the_best_of_one_seed_makes_only_ties_bold() -> None:
    # The best (higher) has one seed: GAN-NS, close below with 3 seeds, cannot be tested against it.
    summary = pd.DataFrame(
        [
            _row("gan", "ring-8", "modes-covered", 7.5, math.nan, 1),
            _row("gan-ns", "ring-8", "modes-covered", 7, 1, 3),
        ]
    )
    assert _cells(summary_markdown(summary)) == [["GAN", "**7.5**"], ["GAN-NS", "7.0 ± 1.0"]]


def test_decimals_follow_the_smallest_std_of_each_column() -> None:
    # Column 1: stds 3.79 and 1; the smallest, 1, has its second significant digit at the first decimal.
    # Column 2: std 80.3 -> units: 6370.4 -> 6370, 80.3 -> 80. Column 3: std 803 -> tens (decimals -1).
    # Column 4: one seed each, no std: 3 significant digits of the largest |mean|, 1.4912 -> 2 decimals.
    # Bold (lower is better but for precision): FID 17.3 against 19.0, Welch p = 0.52, both; FID∞ and KID
    # t = -35.5, df = 3.8, p = 6e-6, the best only; precision: one seed each, the best only.
    summary = pd.DataFrame(
        [
            _row("gan", "mnist", "fid", 17.3, 3.79, 3),
            _row("gan", "mnist", "fid-inf", 6370.4, 80.3, 3),
            _row("gan", "mnist", "kid", 63704, 803, 3),
            _row("gan", "mnist", "precision", 0.94231, math.nan, 1),
            _row("wgan", "mnist", "fid", 19, 1, 3),
            _row("wgan", "mnist", "fid-inf", 9000, 100, 3),
            _row("wgan", "mnist", "kid", 90000, 1000, 3),
            _row("wgan", "mnist", "precision", 1.4912, math.nan, 1),
        ]
    )
    markdown, latex = summary_markdown(summary), summary_latex(summary)
    assert _cells(markdown) == [
        ["GAN", "**17.3 ± 3.8**", "**6370 ± 80**", "**63700 ± 800**", "0.94"],
        ["WGAN", "**19.0 ± 1.0**", "9000 ± 100", "90000 ± 1000", "**1.49**"],
    ]
    # The same numbers in LaTeX. As is, the table is estimated at 348 pt (> 345): it is transposed.
    assert _lines(latex) == [
        r"FID $\downarrow$ & \textbf{17.3 $\pm$ 3.8} & \textbf{19.0 $\pm$ 1.0} \\",
        r"FID$\infty$ $\downarrow$ & \textbf{6370 $\pm$ 80} & 9000 $\pm$ 100 \\",
        r"KID $\downarrow$ & \textbf{63700 $\pm$ 800} & 90000 $\pm$ 1000 \\",
        r"Precision $\uparrow$ & 0.94 & \textbf{1.49} \\",
    ]
    assert "rounded, per dataset and metric, to the second significant digit of the smallest std" in markdown
    # A forced format formats every number with it, and the legend says nothing of decimals.
    forced = summary_markdown(summary, ".3g")
    assert "| **17.3 ± 3.79** " in forced and "| **6.37e+03 ± 80.3** " in forced
    assert "second significant digit" not in forced


def test_the_place_is_read_after_rounding_to_two_digits() -> None:
    # The float std of 0.10, 0.11, 0.12 is 0.009999999999999995 (log10 just below -2): as 0.010 its
    # second significant digit is the third decimal. 0.0996 rounds to 0.10: two decimals.
    stds = pd.Series([0.10, 0.11, 0.12]).std()
    assert stds < 0.01 and column_decimals(pd.Series([0.11]), pd.Series([stds])) == 3
    assert column_decimals(pd.Series([1.0]), pd.Series([0.0996])) == 2
    # Without spread: three significant digits of the largest |mean|; 999.6 rounds to 1.00e3 (tens).
    assert column_decimals(pd.Series([-999.6, 5.0]), pd.Series([0.0, math.nan])) == -1
    assert column_decimals(pd.Series([0.0]), pd.Series([0.0])) == 0
    assert column_decimals(pd.Series([1.0]), pd.Series([1e-9])) == 6, "at most six decimals"


def test_negative_numbers_and_rounding() -> None:
    assert [fixed(0.0133, 3), fixed(6372.4, 0), fixed(6372.4, -1), fixed(63704, -2)] == [
        "0.013",
        "6372",
        "6370",
        "63700",
    ]
    assert fixed(-0.001, 2) == "0.00", "no negative zero"
    summary = pd.DataFrame([_row("gan", "ring-8", "w1", -0.031, 0.2, 3)])
    assert _cells(summary_markdown(summary)) == [["GAN", "**-0.03 ± 0.20**"]]
    assert _lines(summary_latex(summary)) == [r"GAN & \textbf{$-$0.03 $\pm$ 0.20} \\"]


def test_display_names_and_latex_escaping() -> None:
    assert latex_text("a_b%c&d#e$f{g}h~i^j\\k") == (
        r"a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )
    assert latex_text("FID∞ ± ↑↓") == r"FID$\infty$ $\pm$ $\uparrow$$\downarrow$"
    # Registered names get their titles; a plugin's slug (not registered here) stays, escaped.
    summary = pd.DataFrame(
        [
            _row("wgan-gp", "mnist", "fid-inf", 12.0, 1.0, 3),
            _row("wgan-gp", "my_data", "precision-lenet", 0.5, 0.1, 3),
            _row("my_plugin", "mnist", "fid-inf", 15.0, 1.0, 3),
            _row("my_plugin", "my_data", "precision-lenet", 0.7, 0.1, 3),
        ]
    )
    markdown, latex = summary_markdown(summary), summary_latex(summary)
    assert [c.strip() for c in markdown.splitlines()[0].split("|")[1:-1]] == [
        "Method",
        "MNIST: FID∞ ↓",
        "my_data: Precision (LeNet) ↑",
    ]
    assert _cells(markdown) == [
        ["WGAN-GP", "**12.0 ± 1.0**", "**0.50 ± 0.10**"],  # 0.5 against 0.7: t = 2.45, df = 4, p = 0.07
        ["my_plugin", "15.0 ± 1.0", "**0.70 ± 0.10**"],
    ]
    assert r" & MNIST & my\_data \\" in latex
    assert r"Method & FID$\infty$ $\downarrow$ & Precision (LeNet) $\uparrow$ \\" in latex
    assert r"my\_plugin & 15.0 $\pm$ 1.0 & \textbf{0.70 $\pm$ 0.10} \\" in latex
    assert "wgan-gp" not in latex and "fid-inf" not in latex
    # Settings labels are escaped too.
    sweep = pd.DataFrame([_row("wgan", "ring-8", "w1", 0.1, 0.01, 3, settings="n_critic=5")])
    assert _lines(summary_latex(sweep)) == [r"WGAN & n\_critic=5 & \textbf{0.100 $\pm$ 0.010} \\"]


def test_a_cmidrule_under_each_dataset_group() -> None:
    summary = pd.DataFrame(
        [
            _row(method, dataset, metric, 7.0, 1.0, 3)
            for method in ("gan", "wgan")
            for dataset in ("ring-8", "grid-25")
            for metric in ("modes-covered", "w1")
        ]
    )
    lines = summary_latex(summary).splitlines()
    top = lines.index(r"\toprule")
    assert lines[top + 1 : top + 4] == [
        r" & \multicolumn{2}{c}{Ring-8} & \multicolumn{2}{c}{Grid-25} \\",
        r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}",
        r"Method & Modes $\uparrow$ & W1 $\downarrow$ & Modes $\uparrow$ & W1 $\downarrow$ \\",
    ]


def _grid(methods, datasets, metrics, settings=("",)) -> pd.DataFrame:
    """Every method x settings x dataset x metric, each 'x.0 ± 1.0' over 3 seeds (9 characters)."""
    return pd.DataFrame(
        [
            _row(method, dataset, metric, 5.0 + i % 4, 1.0, 3, settings=label)
            for i, method in enumerate(methods)
            for label in settings
            for dataset in datasets
            for metric in metrics
        ]
    )


METHODS4 = ("gan", "gan-ns", "wgan", "wgan-gp")
RING_METRICS = ("modes-covered", "high-quality-fraction", "reverse-kl", "w1")


def test_a_wide_table_is_split_per_dataset() -> None:
    # Estimated at 6 pt a character and 12 pt a column: the method column ("WGAN-GP", 7 characters)
    # 54 pt; per dataset Modes ↑ / Reverse KL ↓ / W1 ↓ under cells of 9 characters: 9, 12 and 9
    # characters, 3 x 12 pt: 216 pt. The whole table 54 + 3 x 216 = 702 pt > 345 pt; one dataset
    # 54 + 216 = 270 pt fits.
    summary = _grid(METHODS4, ("ring-8", "grid-25", "my-spiral"), ("modes-covered", "reverse-kl", "w1"))
    latex = summary_latex(summary)
    assert latex.count(r"\begin{tabular}{lccc}") == 3 and r"\resizebox" not in latex
    assert (
        "% One tabular per dataset: the whole table (about 702 pt) is wider than the text (345 pt)." in latex
    )
    assert "\\end{tabular}\n\n\\medskip\n% Grid-25\n\\noindent\n\\begin{tabular}" in latex
    assert [line for line in latex.splitlines() if line in ("% Ring-8", "% Grid-25", "% my-spiral")] == [
        "% Ring-8",
        "% Grid-25",
        "% my-spiral",
    ]
    # Markdown has no page: one table.
    assert summary_markdown(summary).splitlines()[0].count("|") == 1 + 1 + 9


def test_a_table_too_wide_for_one_dataset_is_transposed_then_scaled() -> None:
    # Two methods, six metrics on one dataset: 48 + (9+13+12+9+9+9) x 6 + 6 x 12 = 486 pt as is;
    # transposed, the metric column ("HQ fraction ↑", 13) 90 pt and two method columns of 66 pt: 222 pt.
    metrics = (*RING_METRICS, "fid", "fid-inf")
    latex = summary_latex(_grid(("gan", "wgan"), ("ring-8",), metrics))
    assert "% Ring-8 (transposed: metrics as rows)" in latex and r"\resizebox" not in latex
    assert r"Metric & GAN & WGAN \\" in latex and r"FID$\infty$ $\downarrow$ & " in latex
    assert r" & \multicolumn{2}{c}{Ring-8} \\" + "\n" + r"\cmidrule(lr){2-3}" in latex
    # Eight methods: 90 + 8 x 66 = 618 pt transposed, 486 pt as is: the narrower, scaled.
    methods = ("gan", "gan-ns", "wgan", "wgan-gp", "dcgan", "pacgan2", "pacgan3", "pacgan4")
    latex = summary_latex(_grid(methods, ("ring-8",), metrics))
    assert latex.splitlines()[:2] == [
        r"% A table written by ganbench report; needs \usepackage{booktabs}.",
        r"% \resizebox needs \usepackage{graphicx}.",
    ]
    assert (
        "% Ring-8 (scaled to the line width)\n\\noindent\n"
        "\\resizebox{\\linewidth}{!}{%\n\\begin{tabular}{lcccccc}" in latex
    )
    assert "\\end{tabular}%\n}\n" in latex


def test_settings_get_a_column_only_in_a_sweep() -> None:
    sweep = _grid(("gan", "wgan"), ("ring-8",), ("modes-covered",), settings=("steps=500", "steps=1000"))
    markdown, latex = summary_markdown(sweep), summary_latex(sweep)
    assert markdown.splitlines()[0] == "| Method   | Settings   | Ring-8: Modes ↑   |"
    assert [row[:2] for row in _cells(markdown)] == [
        ["GAN", "steps=500"],
        ["GAN", "steps=1000"],
        ["WGAN", "steps=500"],
        ["WGAN", "steps=1000"],
    ]
    assert r"\begin{tabular}{llc}" in latex and r"Method & Settings & Modes $\uparrow$ \\" in latex
    assert r"GAN & steps=1000 & \textbf{5.0 $\pm$ 1.0} \\" in latex
    assert r"\cmidrule(lr){3-3}" in latex
    plain = _grid(("gan", "wgan"), ("ring-8",), ("modes-covered",))
    assert "Settings" not in summary_markdown(plain) and "Settings" not in summary_latex(plain)
    assert r"\begin{tabular}{lc}" in summary_latex(plain)


# What the pdflatex test compiles: every layout (one tabular, split, transposed, scaled, a sweep).
LAYOUTS = {
    "one": pd.DataFrame(
        [_row(m, "ring-8", k, 0.2, 0.0707, 3) for m in ("gan", "my_plugin") for k in ("w1", "fid-inf")]
        + [_row("wgan", "ring-8", "w1", 0.3, 0.01, 2, jobs=3, flags="undertrained;still-improving")]
    ),
    "split": _grid(METHODS4, ("ring-8", "grid-25", "my-spiral"), ("modes-covered", "reverse-kl", "w1")),
    "transposed": _grid(("gan", "wgan"), ("ring-8",), (*RING_METRICS, "fid", "fid-inf")),
    "scaled": _grid(METHODS4 * 2, ("ring-8",), (*RING_METRICS, "fid", "fid-inf")),
    "sweep": _grid(METHODS4, ("ring-8",), RING_METRICS[:3], settings=("lr=0.001,steps=10", "n_critic=5")),
    "four-metrics": _grid(METHODS4, ("ring-8", "grid-25"), RING_METRICS),
}


def test_every_layout_compiles_without_an_overfull_line(tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("no LaTeX engine (pdflatex) installed")
    inputs, measures = [], []
    for name, summary in [*LAYOUTS.items(), ("golden", None)]:
        latex = (
            (GOLDEN / "summary.tex").read_text(encoding="utf-8")
            if summary is None
            else summary_latex(summary)
        )
        (tmp_path / f"{name}.tex").write_text(latex, encoding="utf-8")
        inputs.append(f"\\begin{{table}}[p]\n\\centering\n\\input{{{name}}}\n\\end{{table}}")
        # ... and in running text, where a paragraph's indent would push a full-width table over.
        inputs.append(f"\\input{{{name}}}\\par")
        if latex.count(r"\begin{tabular}") == 1 and r"\resizebox" not in latex:  # one box: measure it
            measures.append(f"\\sbox0{{\\input{{{name}}}}}\\typeout{{WIDTH {name} \\the\\wd0}}")
    document = "\n".join(
        [r"\documentclass[10pt]{article}", r"\usepackage{booktabs,graphicx}", r"\begin{document}",
         r"\typeout{TEXTWIDTH \the\textwidth}", *measures, *inputs, r"\end{document}"]
    )  # fmt: skip
    (tmp_path / "paper.tex").write_text(document, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp_path / "paper.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert "Overfull \\hbox" not in log, log
    assert f"TEXTWIDTH {TEXT_WIDTH_PT:.1f}pt" in log, "the stated text width is the article class's"
    # A table judged to fit is no wider than estimated: PT_PER_CHAR overestimates printed characters.
    measured = {name: float(width) for name, width in re.findall(r"WIDTH (\S+) ([0-9.]+)pt", log)}
    assert set(measured) == {"one", "transposed", "golden"}
    for name, width in measured.items() - {("golden", measured["golden"])}:
        cells = format_cells(LAYOUTS[name])
        estimate = estimated_width(paper_table(cells, PLAIN, transpose=name == "transposed"))
        assert width <= estimate <= TEXT_WIDTH_PT, (name, width, estimate)
