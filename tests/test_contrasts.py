"""The line under the summary table: the pairwise contrasts significant after Holm's correction."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ganbench.report.stats import Contrast, holm, significant_contrasts, welch
from ganbench.report.tables import (
    LATEX,
    contrast_line,
    format_cells,
    summarize,
    summary_latex,
    summary_markdown,
    table_contrasts,
)

RULE = "every two rows of a column with ≥ 2 seeds each, Welch's t test, two-sided"


def _frame(
    values: dict[tuple[str, str], list[float]], dataset: str = "ring-8", **settings: str
) -> pd.DataFrame:
    """Hand-made records: per (method, metric) its seeds' values (NaN: a failed seed); `settings` gives
    a method's settings label (a sweep's row)."""
    return pd.DataFrame(
        [
            {"key": f"{method}__{dataset}__seed{seed}", "method": method, "dataset": dataset,
             "settings": settings.get(method.replace("-", "_"), ""), "metric": metric, "value": value,
             "unit": "distance", "higher_is_better": False, "status": "ok" if value == value else "failed"}
            for (method, metric), seeds in values.items()
            for seed, value in enumerate(seeds)
        ]
    )  # fmt: skip


def test_holm_on_hand_made_p_values() -> None:
    # Sorted: 0.01 x 4 = 0.04; 0.03 x 3 = 0.09; 0.04 x 2 = 0.08, kept monotone: 0.09; 0.5 x 1 = 0.5.
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    contrasts = [
        Contrast("Ring-8 W1 ↓", "GAN", f"M{i}", 1.0, 2.0, p) for i, p in enumerate([0.01, 0.04, 0.03, 0.5])
    ]
    # Only the first is below alpha 0.05 after the correction (0.04 < 0.05; the others 0.09, 0.09, 0.5),
    # though three were below it uncorrected.
    (only,) = significant_contrasts(contrasts, alpha=0.05)
    assert (only.b, only.p, only.p_holm) == ("M0", 0.01, pytest.approx(0.04))
    assert significant_contrasts(contrasts, alpha=0.1) == [
        Contrast("Ring-8 W1 ↓", "GAN", f"M{i}", 1.0, 2.0, p, pytest.approx(adjusted))
        for i, p, adjusted in ((0, 0.01, 0.04), (1, 0.04, 0.09), (2, 0.03, 0.09))
    ]


def test_the_line_names_the_direction_and_formats_p() -> None:
    # p 0.0001, 0.01, 0.03, 0.5 over 4 contrasts: Holm 0.0004, 0.03, 0.06, 0.5. Listed: the first two,
    # grouped by column in the given order; "A > B" where A's mean is larger, whichever way is better.
    # 0.0004 < 0.001: "p < 0.001"; 0.03 to two significant digits: "0.030".
    contrasts = [
        Contrast("Ring-8 W1 ↓", "GAN", "WGAN", 0.3, 0.1, 0.0001),
        Contrast("Ring-8 W1 ↓", "GAN", "GAN-NS", 0.1, 0.2, 0.01),
        Contrast("Grid-25 Modes (of 25) ↑", "PacGAN2", "GAN", 20.0, 15.0, 0.03),
        Contrast("Grid-25 Modes (of 25) ↑", "GAN-NS", "GAN", 18.0, 15.0, 0.5),
    ]
    assert contrast_line(contrasts) == (
        f"Significant after Holm (α = 0.05, 4 contrasts: {RULE}; Holm-adjusted p; A > B: A's mean is "
        "larger): Ring-8 W1 ↓: GAN > WGAN (p < 0.001), GAN < GAN-NS (p = 0.030)."
    )
    # At alpha 0.1 the grid's 0.06 joins, after the ring's column: "p = 0.060".
    assert contrast_line(contrasts, alpha=0.1).endswith(
        "Ring-8 W1 ↓: GAN > WGAN (p < 0.001), GAN < GAN-NS (p = 0.030); "
        "Grid-25 Modes (of 25) ↑: PacGAN2 > GAN (p = 0.060)."
    )
    # In LaTeX: the same words, escaped.
    assert contrast_line(contrasts[:1], markup=LATEX) == (
        r"Significant after Holm ($\alpha$ = 0.05, 1 contrast: every two rows of a column with $\geq$ 2 "
        r"seeds each, Welch's t test, two-sided; Holm-adjusted p; A \textgreater{} B: A's mean is larger): "
        r"Ring-8 W1 $\downarrow$: GAN \textgreater{} WGAN (p \textless{} 0.001)."
    )


def test_no_significant_contrast_and_nothing_testable() -> None:
    # 0.2 and 0.5 over 2 contrasts: Holm 0.4 and 0.5, none below 0.05.
    contrasts = [
        Contrast("Ring-8 W1 ↓", "GAN", "WGAN", 0.3, 0.1, 0.2),
        Contrast("Ring-8 W1 ↓", "GAN", "X", 0, 1, 0.5),
    ]
    assert (
        contrast_line(contrasts)
        == f"No pairwise difference is significant after Holm (α = 0.05, 2 contrasts: {RULE})."
    )
    assert contrast_line([]) == ""
    # A table of one seed per cell tests nothing: no line at all.
    one_seed = summarize(_frame({("gan", "w1"): [0.1], ("wgan", "w1"): [0.3], ("gan-ns", "w1"): [0.2]}))
    assert table_contrasts(format_cells(one_seed)) == []
    assert "Holm" not in summary_markdown(one_seed) and "Holm" not in summary_latex(one_seed)


# Two seeds each, std sqrt(2) each (values m - 1, m + 1), so that Welch's test has a closed form: se = 1
# per cell, t = d / sqrt(2) for means d apart, df = (1 + 1)^2 / (1 + 1) = 2, and for 2 degrees of
# freedom the two-sided p = 1 - t / sqrt(2 + t^2) = 1 - d / sqrt(4 + d^2).
TINY = {
    # W1: means 2, 1002, 22.
    ("gan", "w1"): [1.0, 3.0],
    ("gan-ns", "w1"): [1001.0, 1003.0],
    ("wgan", "w1"): [21.0, 23.0],
    # Reverse KL: means 2, 4, 6.
    ("gan", "reverse-kl"): [1.0, 3.0],
    ("gan-ns", "reverse-kl"): [3.0, 5.0],
    ("wgan", "reverse-kl"): [5.0, 7.0],
}


def test_the_line_of_a_tiny_table_from_records() -> None:
    # Six contrasts (3 pairs x 2 columns), in table order, p = 1 - d / sqrt(4 + d^2):
    #   W1  GAN-GAN-NS  d = 1000: 2.0e-6     Reverse KL  GAN-GAN-NS   d = 2: 1 - 2/sqrt(8) = 0.293
    #   W1  GAN-WGAN    d = 20:   0.00496                GAN-WGAN     d = 4: 1 - 4/sqrt(20) = 0.106
    #   W1  GAN-NS-WGAN d = 980:  2.1e-6                 GAN-NS-WGAN  d = 2: 0.293
    # Holm, sorted: 2.0e-6 x 6 = 1.2e-5; 2.1e-6 x 5 = 1.0e-5, kept monotone 1.2e-5; 0.00496 x 4 = 0.0198;
    # 0.106 x 3 = 0.317; 0.293 x 2 = 0.586; 0.293 x 1, kept 0.586. Below 0.05: the three W1 contrasts.
    summary = summarize(_frame(TINY))
    cells = format_cells(summary)
    contrasts = table_contrasts(cells)
    d = [1000, 20, 980, 2, 4, 2]
    assert [c.p for c in contrasts] == pytest.approx([1 - x / math.sqrt(4 + x * x) for x in d], rel=1e-6)
    assert [(c.column, c.a, c.b) for c in contrasts] == [
        ("Ring-8 W1 ↓", "GAN", "GAN-NS"),
        ("Ring-8 W1 ↓", "GAN", "WGAN"),
        ("Ring-8 W1 ↓", "GAN-NS", "WGAN"),
        ("Ring-8 Reverse KL ↓", "GAN", "GAN-NS"),
        ("Ring-8 Reverse KL ↓", "GAN", "WGAN"),
        ("Ring-8 Reverse KL ↓", "GAN-NS", "WGAN"),
    ]
    line = (
        f"Significant after Holm (α = 0.05, 6 contrasts: {RULE}; Holm-adjusted p; A > B: A's mean is "
        "larger): Ring-8 W1 ↓: GAN < GAN-NS (p < 0.001), GAN < WGAN (p = 0.020), GAN-NS > WGAN (p < 0.001)."
    )
    markdown = summary_markdown(summary)
    assert f"\n\n{line}\n" in markdown and markdown.endswith(f"{line}\n")
    latex = summary_latex(summary)
    assert (
        "GAN \\textless{} GAN-NS (p \\textless{} 0.001), GAN \\textless{} WGAN (p = 0.020), "
        "GAN-NS \\textgreater{} WGAN (p \\textless{} 0.001).\\par\n}\n\\end{table}\n"
    ) in latex
    assert latex.index("Confidence intervals in summary.csv") < latex.index("Significant after Holm")


def test_one_seed_and_na_cells_are_left_out_of_the_family() -> None:
    # WGAN-GP has one seed and WGAN none that finished (a failed seed): only GAN against GAN-NS on W1
    # is a contrast, one in the family (p = 0.293 as above: d = 2). Reverse KL has one testable row:
    # no contrast.
    summary = summarize(
        _frame(
            {
                ("gan", "w1"): [1.0, 3.0], ("gan-ns", "w1"): [3.0, 5.0], ("wgan", "w1"): [math.nan, math.nan],
                ("wgan-gp", "w1"): [9.0], ("gan", "reverse-kl"): [1.0, 3.0], ("gan-ns", "reverse-kl"): [2.0],
            }
        )
    )  # fmt: skip
    (contrast,) = table_contrasts(format_cells(summary))
    assert (contrast.column, contrast.a, contrast.b) == ("Ring-8 W1 ↓", "GAN", "GAN-NS")
    assert contrast.p == pytest.approx(1 - 2 / math.sqrt(8))
    assert f"No pairwise difference is significant after Holm (α = 0.05, 1 contrast: {RULE})." in (
        summary_markdown(summary)
    )


def test_sweep_rows_are_named_as_shown_and_ties_are_no_difference() -> None:
    # Rows with settings labels are named by method and settings. Seeds that agree (std 0) at 0.9 and
    # at a float-noise neighbour of it: a tie as shown (0.900 both), p = 1, not a difference, where the
    # test alone gives p = 0.
    noise = 0.9 + 1e-16 * 4
    summary = summarize(
        _frame({("gan", "w1"): [0.9, 0.9], ("wgan", "w1"): [noise, noise]}, gan="lr=0.001", wgan="n_critic=5")
    )
    assert welch(0.9, 0.0, 2, noise, 0.0, 2)[2] == 0.0
    (contrast,) = table_contrasts(format_cells(summary))
    assert (contrast.a, contrast.b, contrast.p) == ("GAN lr=0.001", "WGAN n_critic=5", 1.0)
