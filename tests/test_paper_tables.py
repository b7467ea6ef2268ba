"""Paper tables: bold by Welch's test, decimals from each cell's spread, display names, LaTeX that fits a
page and compiles as a table with its caption and notes."""

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
    cell_decimals,
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
    """A summary row as `summarize` writes it; the direction and unit from the metric's registry entry."""
    spec = METRICS.get(metric) if metric in METRICS.names() else None
    row = {
        "method": method, "dataset": dataset, "settings": "", "metric": metric,
        "unit": spec.unit if spec else "", "higher_is_better": spec.higher_is_better if spec else False,
        "mean": mean, "std": std if n > 1 else math.nan,
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
    # W1 (lower is better): 0.018000000000000002 and 0.018 are the same number as shown. WGAN's std 0.001
    # gives it 4 decimals, GAN's one seed 3 significant digits (4 decimals too): both show 0.0180. GAN
    # has one seed, so no test can speak for it: only the tie makes it bold. WGAN-GP's single seed at
    # 0.0185 is no tie and cannot be tested: not bold.
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
    # WGAN-GP has no ok seed: the missing mark, never bold. Decimals per cell: std 1 -> 1, std 0.1 -> 2.
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
        ["GAN", "**7.0 ± 1.0**"],
        ["GAN-NS", "**6.0 ± 1.0**"],
        ["WGAN", "3.00 ± 0.10"],
        ["WGAN-GP", "— (0/1)"],
    ]
    assert _lines(summary_latex(summary)) == [
        r"GAN & \textbf{7.0 $\pm$ 1.0} \\",
        r"GAN-NS & \textbf{6.0 $\pm$ 1.0} \\",
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
    # One seed: three significant digits, 7.50.
    assert _cells(summary_markdown(summary)) == [["GAN", "**7.50**"], ["GAN-NS", "7.0 ± 1.0"]]


def test_each_cell_is_rounded_to_its_own_std() -> None:
    # One column (W1) of three cells whose spreads differ by 10^5: each to the second significant digit
    # of its own std, 0.26285 -> 0.26 (2 decimals), 8.774299 -> 8.8 (1), 0.000014 -> 0.000014 (6), so
    # that the tight row does not print the others to six decimals. Bold: WGAN-GP's mean is the best;
    # Welch against GAN t = 2.28, df = 2.0, p = 0.15: bold; against WGAN t = 4.72, df = 2.0, p = 0.042:
    # not.
    summary = pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.34576, 0.26285, 3),
            _row("wgan", "ring-8", "w1", 23.888573, 8.774299, 3),
            _row("wgan-gp", "ring-8", "w1", 0.000026, 0.000014, 3),
        ]
    )
    markdown, latex = summary_markdown(summary), summary_latex(summary)
    assert _cells(markdown) == [
        ["GAN", "**0.35 ± 0.26**"],
        ["WGAN", "23.9 ± 8.8"],
        ["WGAN-GP", "**0.000026 ± 0.000014**"],
    ]
    assert _lines(latex) == [
        r"GAN & \textbf{0.35 $\pm$ 0.26} \\",
        r"WGAN & 23.9 $\pm$ 8.8 \\",
        r"WGAN-GP & \textbf{0.000026 $\pm$ 0.000014} \\",
    ]
    rule = "Each mean and std is rounded to the second significant digit of its own std"
    assert rule in markdown and rule in latex
    # A forced format formats every number with it, and the legend says nothing of decimals.
    forced = summary_markdown(summary, ".3g")
    assert "| **0.346 ± 0.263** " in forced and "| 23.9 ± 8.77 " in forced
    assert "second significant digit" not in forced


def test_decimals_of_large_spreads_and_of_cells_without_spread() -> None:
    # Per cell: std 3.79 -> 1 decimal (17.3 ± 3.8), std 1 -> 1 (19.0 ± 1.0), std 80.3 -> units
    # (6370.4 -> 6370 ± 80), std 100 -> tens (9000 ± 100), std 803 -> tens (63704 -> 63700 ± 800),
    # std 1000 -> hundreds (90000 ± 1000). Without spread, three significant digits of the mean: one
    # seed 0.94231 -> 0.942, 1.4912 -> 1.49; two seeds that agree, 8 and 8 (std 0) -> 8.00 ± 0.00; and 0
    # modes ± 0 -> 0 ± 0. Bold (lower is better but for precision and modes): FID 17.3 against 19.0,
    # Welch p = 0.52, both; FID∞ and KID t = -35.5, df = 3.8, p = 6e-6, the best only; precision: one
    # seed each, the best only; modes 8 against 0, no spread to test: the best only.
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
            _row("gan", "ring-8", "modes-covered", 8.0, 0.0, 2),
            _row("wgan", "ring-8", "modes-covered", 0.0, 0.0, 2),
        ]
    )
    markdown = summary_markdown(summary)
    assert _cells(markdown) == [
        ["GAN", "**17.3 ± 3.8**", "**6370 ± 80**", "**63700 ± 800**", "0.942", "**8.00 ± 0.00**"],
        ["WGAN", "**19.0 ± 1.0**", "9000 ± 100", "90000 ± 1000", "**1.49**", "0 ± 0"],
    ]
    # The same numbers in LaTeX, one tabular per dataset (the whole is wider than the page), MNIST's
    # transposed (as is about 348 pt > 345).
    assert _lines(summary_latex(summary)) == [
        r"FID $\downarrow$ & \textbf{17.3 $\pm$ 3.8} & \textbf{19.0 $\pm$ 1.0} \\",
        r"FID$\infty$ $\downarrow$ & \textbf{6370 $\pm$ 80} & 9000 $\pm$ 100 \\",
        r"KID $\downarrow$ & \textbf{63700 $\pm$ 800} & 90000 $\pm$ 1000 \\",
        r"Precision $\uparrow$ & 0.942 & \textbf{1.49} \\",
        r"GAN & \textbf{8.00 $\pm$ 0.00} \\",
        r"WGAN & 0 $\pm$ 0 \\",
    ]
    assert "a cell without spread (one seed, or seeds that agree) shows 3 significant digits" in markdown


def test_means_that_agree_at_the_coarser_rounding_are_ties() -> None:
    # W1, lower is better; the best is WGAN, 0.0186 (one seed: 3 significant digits, 4 decimals). GAN,
    # 0.019 ± 0.01, shows 3 decimals; at the coarser of the two roundings, 3 decimals, both means are
    # 0.019: a tie, bold (no test could speak: the best has one seed). WGAN-GP, also 0.019 but of one
    # seed, shows 4 decimals, and at 4 decimals 0.0190 is not 0.0186: not bold.
    summary = pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.019, 0.01, 3),
            _row("wgan", "ring-8", "w1", 0.0186, math.nan, 1),
            _row("wgan-gp", "ring-8", "w1", 0.019, math.nan, 1),
        ]
    )
    assert _cells(summary_markdown(summary)) == [
        ["GAN", "**0.019 ± 0.010**"],
        ["WGAN", "**0.0186**"],
        ["WGAN-GP", "0.0190"],
    ]


def test_the_place_is_read_after_rounding_to_two_digits() -> None:
    # The float std of 0.10, 0.11, 0.12 is 0.009999999999999995 (log10 just below -2): as 0.010 its
    # second significant digit is the third decimal. 0.0996 rounds to 0.10: two decimals.
    std = pd.Series([0.10, 0.11, 0.12]).std()
    assert std < 0.01 and cell_decimals(0.11, std) == 3
    assert cell_decimals(1.0, 0.0996) == 2
    # Without spread: three significant digits of the mean; 999.6 rounds to 1.00e3 (tens).
    assert cell_decimals(-999.6, 0.0) == -1
    assert cell_decimals(5.0, math.nan) == 2
    assert cell_decimals(0.0, 0.0) == 0
    assert cell_decimals(1.0, 1e-9) == 6, "at most six decimals"


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
            for dataset in ("mnist", "cifar10")
            for metric in ("fid", "kid")
        ]
    )
    lines = summary_latex(summary).splitlines()
    top = lines.index(r"\toprule")
    assert lines[top + 1 : top + 4] == [
        r" & \multicolumn{2}{c}{MNIST} & \multicolumn{2}{c}{CIFAR-10} \\",
        r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}",
        r"Method & FID $\downarrow$ & KID $\downarrow$ & FID $\downarrow$ & KID $\downarrow$ \\",
    ]


def test_a_count_of_modes_says_of_how_many() -> None:
    # The mixtures' modes from the dataset registry (8, 25), Stacked MNIST's from its metric's domain
    # (1,000); a dataset no registry knows from the domain the report derives from its records.
    summary = pd.DataFrame(
        [_row(m, "ring-8", "modes-covered", 7.0, 1.0, 3) for m in ("gan", "wgan")]
        + [_row(m, "grid-25", "modes-covered", 20.0, 1.0, 3) for m in ("gan", "wgan")]
        + [_row(m, "stacked-mnist", "stacked-modes", 990.0, 10.0, 3) for m in ("gan", "wgan")]
    )
    header = [c.strip() for c in summary_markdown(summary).splitlines()[0].split("|")[1:-1]]
    assert header == [
        "Method",
        "Ring-8: Modes (of 8) ↑",
        "Grid-25: Modes (of 25) ↑",
        "Stacked MNIST: Modes (of 1000) ↑",
    ]
    latex = summary_latex(summary)
    for modes in (8, 25, 1000):
        assert rf"Method & Modes (of {modes}) $\uparrow$ \\" in latex
    spiral = pd.DataFrame([_row("gan", "my-spiral", "modes-covered", 3.0, 1.0, 3)])
    assert "my-spiral: Modes ↑" in summary_markdown(spiral)
    assert "my-spiral: Modes (of 12) ↑" in summary_markdown(spiral, domain=lambda metric, data: (0.0, 12.0))


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
METHODS8 = ("gan", "gan-ns", "wgan", "wgan-gp", "dcgan", "pacgan2", "pacgan3", "pacgan4")
RING_METRICS = ("modes-covered", "high-quality-fraction", "reverse-kl", "w1")


def _uncommented(latex: str) -> str:
    """The LaTeX without its comment lines: what pdflatex sets."""
    return "\n".join(line for line in latex.splitlines() if not line.startswith("%"))


def test_the_latex_table_is_a_float_with_its_caption_and_notes() -> None:
    # The legend is set in the document, not left in % comments: a caption above the tabulars, and below
    # them a \footnotesize paragraph with what a cell is, the decimals, the bold rule, then one line per
    # flag and per n/a reason. Base LaTeX only (no threeparttable): the header names booktabs alone.
    summary = pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.2, 0.0707, 3, flags="off-modes"),
            _row("wgan", "ring-8", "w1", 0.3, 0.01, 2, jobs=3, flags="off-modes;not-converged"),
            _row("wgan-gp", "ring-8", "w1", math.nan, math.nan, 0, jobs=3, na_reason="no critic here"),
        ]
    )
    latex = summary_latex(summary)
    assert latex.splitlines()[:2] == [
        r"% A table written by ganbench report: a table float with its caption and notes; \input it in the "
        "body of a document.",
        r"% Needs \usepackage{booktabs} (rules).",
    ]
    text = _uncommented(latex)
    assert text.startswith(
        "\\begin{table}[tbp]\n\\centering\n\\caption{Ring-8: mean $\\pm$ std over the seeds"
    )
    assert text.endswith("}\n\\end{table}")
    notes = text.split("\\end{tabular}", 1)[1]
    assert notes.startswith("\n\\par\\medskip\n{\\footnotesize\\raggedright\nMean $\\pm$ std over the seeds")
    for sentence in (
        "Each mean and std is rounded to the second significant digit of its own std",
        "\\textbf{Bold}, per dataset and metric: the best mean ($\\uparrow$ higher is better",
        "Welch's t test over seeds, two-sided, $\\alpha$ = 0.05",
        "Confidence intervals in summary.csv: 95\\% percentile bootstrap",
        "\\par\n$^\\dagger$ off-modes: final high-quality fraction below 0.5",
        "\\par\n$^\\ddagger$ not-converged: for some seed a tracked curve (high-quality fraction",
        "\\par\n$^{1}$ n/a: no critic here.\\par",
    ):
        assert sentence in notes, sentence
    assert "n/a$^{1}$" in text.split("\\end{tabular}", 1)[0]


def test_a_wide_table_is_split_per_dataset() -> None:
    # Estimated at 6 pt a character and 12 pt a column: the method column ("WGAN-GP", 7 characters)
    # 54 pt; per dataset Modes (of 8) ↑ / Reverse KL ↓ / W1 ↓ under cells of 9 characters: 14, 12 and
    # 9 characters, 3 x 12 pt: 246 pt (Grid-25's "(of 25)" 252 pt; my-spiral, whose modes no registry
    # knows, "Modes ↑" 216 pt). The whole table 54 + 246 + 252 + 216 = 768 pt > 345 pt; each dataset
    # (at most 54 + 252 = 306 pt) fits: one tabular per dataset, one below the other, none scaled.
    summary = _grid(METHODS4, ("ring-8", "grid-25", "my-spiral"), ("modes-covered", "reverse-kl", "w1"))
    latex = summary_latex(summary)
    assert latex.count(r"\begin{tabular}{lccc}") == 3 and r"\resizebox" not in latex
    assert (
        "% One tabular per dataset: the whole table (about 768 pt) is wider than the text (345 pt)." in latex
    )
    assert "\\medskip\n\\begin{tabular}{@{}c@{}}\n% Ring-8\n\\begin{tabular}{lccc}" in latex
    assert "\\end{tabular} \\\\ \\addlinespace[\\bigskipamount]\n% Grid-25\n\\begin{tabular}" in latex
    assert [line for line in latex.splitlines() if line in ("% Ring-8", "% Grid-25", "% my-spiral")] == [
        "% Ring-8",
        "% Grid-25",
        "% my-spiral",
    ]
    assert r"\caption{Ring-8, Grid-25 and my-spiral: mean $\pm$ std" in latex
    # Markdown has no page: one table.
    assert summary_markdown(summary).splitlines()[0].count("|") == 1 + 1 + 9


def test_a_table_too_wide_for_one_dataset_is_transposed_then_scaled() -> None:
    # Two methods, six metrics on one dataset: 48 + (14+13+12+9+9+9) x 6 + 6 x 12 = 516 pt as is;
    # transposed, the metric column ("Modes (of 8) ↑", 14) 96 pt and two method columns of 66 pt: 228 pt.
    metrics = (*RING_METRICS, "fid", "fid-inf")
    latex = summary_latex(_grid(("gan", "wgan"), ("ring-8",), metrics))
    assert "% Ring-8 (transposed: metrics as rows)" in latex and r"\resizebox" not in latex
    assert r"Metric & GAN & WGAN \\" in latex and r"FID$\infty$ $\downarrow$ & " in latex
    assert r" & \multicolumn{2}{c}{Ring-8} \\" + "\n" + r"\cmidrule(lr){2-3}" in latex
    # Eight methods: 96 + 8 x 66 = 624 pt transposed, 54 + 468 = 522 pt as is: the narrower, scaled.
    latex = summary_latex(_grid(METHODS8, ("ring-8",), metrics))
    assert latex.splitlines()[:3] == [
        r"% A table written by ganbench report: a table float with its caption and notes; \input it in the "
        "body of a document.",
        r"% Needs \usepackage{booktabs} (rules) and \usepackage{graphicx} (\resizebox).",
        "% Scaled to the line width as one box (the widest part about 522 pt): every part by the same "
        "factor.",
    ]
    assert "\\resizebox{\\linewidth}{!}{%\n% Ring-8\n\\begin{tabular}{lcccccc}" in latex
    assert "\\end{tabular}%\n}\n\\par\\medskip\n{\\footnotesize" in latex


def test_all_parts_of_a_table_are_scaled_by_one_factor() -> None:
    # Ring-8 needs scaling (522 pt as is, 624 transposed), Grid-25 (one metric: 54 + 66 = 120 pt) fits.
    # Scaled apart, Grid-25 would be set at full size beside a shrunken Ring-8: one \resizebox holds the
    # two, stacked, so that both shrink by the factor that fits the widest.
    ring = _grid(METHODS8, ("ring-8",), (*RING_METRICS, "fid", "fid-inf"))
    grid = _grid(METHODS8, ("grid-25",), ("w1",))
    latex = summary_latex(pd.concat([ring, grid], ignore_index=True))
    assert latex.count(r"\resizebox{") == 1
    body = latex.split("\\resizebox{\\linewidth}{!}{%\n", 1)[1].split("%\n}\n", 1)[0]
    assert body.startswith("\\begin{tabular}{@{}c@{}}\n% Ring-8\n\\begin{tabular}{lcccccc}")
    assert "\\end{tabular} \\\\ \\addlinespace[\\bigskipamount]\n% Grid-25\n\\begin{tabular}{lc}" in body
    assert body.endswith("\\end{tabular}\n\\end{tabular}")


def test_settings_get_a_column_only_where_rows_differ() -> None:
    sweep = _grid(("gan", "wgan"), ("ring-8",), ("modes-covered",), settings=("steps=500", "steps=1000"))
    markdown, latex = summary_markdown(sweep), summary_latex(sweep)
    assert markdown.splitlines()[0] == "| Method   | Settings   | Ring-8: Modes (of 8) ↑   |"
    assert [row[:2] for row in _cells(markdown)] == [
        ["GAN", "steps=500"],
        ["GAN", "steps=1000"],
        ["WGAN", "steps=500"],
        ["WGAN", "steps=1000"],
    ]
    assert r"\begin{tabular}{llc}" in latex and r"Method & Settings & Modes (of 8) $\uparrow$ \\" in latex
    assert r"GAN & steps=1000 & \textbf{5.0 $\pm$ 1.0} \\" in latex
    assert r"\cmidrule(lr){3-3}" in latex
    note = "Settings: the settings in which the rows' jobs differ"
    assert note in markdown and note in latex and "source=run" not in markdown
    plain = _grid(("gan", "wgan"), ("ring-8",), ("modes-covered",))
    assert "Settings" not in summary_markdown(plain) and "Settings" not in summary_latex(plain)
    assert r"\begin{tabular}{lc}" in summary_latex(plain)
    # Rows of two protocols (a run beside `ganbench eval`'s rows): the legend says what source means.
    merged = pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.2, 0.1, 3, settings="steps=100,samples=500,source=run"),
            _row("mine", "ring-8", "w1", 0.3, 0.1, 3, settings="samples=2500,source=samples"),
        ]
    )
    assert "source=run: trained and scored by ganbench run" in summary_markdown(merged)


# What the pdflatex test compiles: every layout (one tabular, split, transposed, scaled, a sweep).
LAYOUTS = {
    "one": pd.DataFrame(
        [_row(m, "ring-8", k, 0.2, 0.0707, 3) for m in ("gan", "my_plugin") for k in ("w1", "fid-inf")]
        + [_row("wgan", "ring-8", "w1", 0.3, 0.01, 2, jobs=3, flags="off-modes;not-converged")]
    ),
    "split": _grid(METHODS4, ("ring-8", "grid-25", "my-spiral"), ("modes-covered", "reverse-kl", "w1")),
    "transposed": _grid(("gan", "wgan"), ("ring-8",), (*RING_METRICS, "fid", "fid-inf")),
    "scaled": _grid(METHODS8, ("ring-8",), (*RING_METRICS, "fid", "fid-inf")),
    "one-scale": pd.concat(
        [
            _grid(METHODS8, ("ring-8",), (*RING_METRICS, "fid", "fid-inf")),
            _grid(METHODS8, ("grid-25",), ("w1",)),
        ],
        ignore_index=True,
    ),
    "sweep": _grid(METHODS4, ("ring-8",), RING_METRICS[:3], settings=("lr=0.001,steps=10", "n_critic=5")),
    "four-metrics": _grid(METHODS4, ("ring-8", "grid-25"), RING_METRICS),
    "n/a": pd.DataFrame(
        [
            _row("gan", "ring-8", "w1", 0.2, 0.1, 3),
            _row("wgan", "ring-8", "w1", 0.2, 0.1, 0, na_reason="x & y, 50%"),
        ]
    ),
    # Every pair significant (std 0.01 over 3 seeds, means 0.2 apart: Welch p = 1.6e-5, x 3 after
    # Holm): the line of significant contrasts, with a name to escape, among the notes.
    "contrasts": pd.DataFrame(
        [
            _row(m, "ring-8", "w1", mean, 0.01, 3)
            for m, mean in (("gan", 0.1), ("wgan", 0.3), ("my_plugin", 0.5))
        ]
    ),
}


def _tabular_only(latex: str) -> str:
    """The outermost tabular of a table of one tabular: what its width is measured on."""
    return latex[latex.index("\\begin{tabular}") : latex.rindex("\\end{tabular}") + len("\\end{tabular}")]


def _compile(folder: Path, body: list[str]) -> str:
    """pdflatex on an article (10 pt, booktabs and graphicx) with `body`; the log, after a clean run."""
    document = "\n".join(
        [r"\documentclass[10pt]{article}", r"\usepackage{booktabs,graphicx}", r"\begin{document}", *body,
         r"\end{document}"]
    )  # fmt: skip
    (folder / "paper.tex").write_text(document, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (folder / "paper.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert not re.search(r"^! ", log, flags=re.M), log
    assert "Overfull \\hbox" not in log, log
    return log


def _pdf_text(folder: Path) -> str | None:
    """The text of folder/paper.pdf by pdftotext (poppler-utils), one space for any run of white space;
    None where pdftotext is not installed."""
    if shutil.which("pdftotext") is None:
        return None
    text = subprocess.run(
        ["pdftotext", "paper.pdf", "-"], cwd=folder, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return " ".join(text.split())


@pytest.mark.e2e
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
        stem = name.replace("/", "")
        (tmp_path / f"{stem}.tex").write_text(latex, encoding="utf-8")
        # Each file is a table float: \input in running text, each on a page of its own.
        inputs.append(f"\\input{{{stem}}}\n\\clearpage")
        if latex.count(r"\begin{tabular}") == 1 and r"\resizebox" not in latex:  # one box: measure it
            (tmp_path / f"{stem}-tabular.tex").write_text(_tabular_only(latex), encoding="utf-8")
            measures.append(f"\\sbox0{{\\input{{{stem}-tabular}}}}\\typeout{{WIDTH {name} \\the\\wd0}}")
    log = _compile(tmp_path, [r"\typeout{TEXTWIDTH \the\textwidth}", *measures, *inputs])
    assert f"TEXTWIDTH {TEXT_WIDTH_PT:.1f}pt" in log, "the stated text width is the article class's"
    # A table judged to fit is no wider than estimated: PT_PER_CHAR overestimates printed characters.
    measured = {name: float(width) for name, width in re.findall(r"WIDTH (\S+) ([0-9.]+)pt", log)}
    assert set(measured) == {"one", "transposed", "n/a", "contrasts", "golden"}
    for name, width in measured.items() - {("golden", measured["golden"])}:
        cells = format_cells(LAYOUTS[name])
        estimate = estimated_width(paper_table(cells, PLAIN, transpose=name == "transposed"))
        assert width <= estimate <= TEXT_WIDTH_PT, (name, width, estimate)
    # What the compiled pages say: every caption, and the notes below the tables, flags and n/a included.
    text = _pdf_text(tmp_path)
    if text is not None:
        assert text.count("Table ") >= len(LAYOUTS) + 1
        for shown in (
            "Table 1: Ring-8: mean ± std over the seeds that finished ok (n = 3 seeds per cell).",
            "Bold, per dataset and metric: the best mean (↑ higher is better, ↓ lower is better)",
            "† off-modes: final high-quality fraction below 0.5 for some seed",
            "‡ not-converged: for some seed a tracked curve (high-quality fraction, modes covered, W1; "
            "on images",
            "1 n/a: x & y, 50%.",
            "Modes (of 8) ↑",
            "Significant after Holm (α = 0.05, 3 contrasts: every two rows of a column with ≥ 2 seeds each",
            "Ring-8 W1 ↓: GAN < WGAN (p < 0.001), GAN < my",  # pdftotext reads my_plugin's _ as a space
        ):
            assert shown in text, shown


@pytest.mark.e2e
def test_a_report_s_summary_tex_compiles_with_its_caption_and_notes(tmp_path: Path) -> None:
    # A real summary.tex, as `ganbench report` writes it, \input in a minimal document.
    from ganbench.report import build_report

    build_report([GOLDEN / "run"], tmp_path / "report")
    latex = (tmp_path / "report" / "summary.tex").read_text(encoding="utf-8")
    text = _uncommented(latex)
    assert "\\caption{Ring-8: mean $\\pm$ std over the seeds that finished ok" in text
    assert "{\\footnotesize\\raggedright\nMean $\\pm$ std over the seeds that finished ok" in text
    assert "\\textbf{Bold}, per dataset and metric" in text
    # The golden run's two contrasts (GAN against WGAN on modes, p = 0.49, and on W1, p = 0.29; Holm:
    # 0.29 x 2 = 0.58, 0.49 kept at 0.58): none significant, said in the notes and under the Markdown.
    line = (
        "No pairwise difference is significant after Holm ({} = 0.05, 2 contrasts: every two rows of a column"
    )
    assert line.format("$\\alpha$") in text and "\\par\n}\n\\end{table}" in text
    assert line.format("α") in (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    if shutil.which("pdflatex") is None:
        pytest.skip("no LaTeX engine (pdflatex) installed")
    shutil.copy(tmp_path / "report" / "summary.tex", tmp_path / "summary.tex")
    _compile(tmp_path, [r"Some text before the table.", r"\input{summary}"])
    shown = _pdf_text(tmp_path)
    if shown is not None:
        assert "Table 1: Ring-8: mean ± std over the seeds that finished ok (n = 3 seeds per cell)." in shown
        assert "Method Modes (of 8) ↑ W1 ↓" in shown
        assert "Mean ± std over the seeds that finished ok (n = 3 seeds per cell; (n/N): only n of N" in shown
        assert "Bold, per dataset and metric" in shown and "95% percentile bootstrap" in shown
        assert line.format("α") + " with ≥ 2 seeds each, Welch’s t test, two-sided)." in shown
