"""Published tables as data, and a run set beside one: Welch's t per cell, Holm across the table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.metrics.published import load_published, published_names
from ganbench.report.reproduce import (
    CONSISTENT,
    HIGHER,
    LOWER,
    MISSING,
    NOT_COMPARABLE,
    reproduce,
    reproduce_latex,
    reproduce_markdown,
)
from ganbench.report.stats import holm, welch

PUBLISHED = Path(__file__).parents[1] / "ganbench" / "metrics" / "published"


def test_pacgan_2d_numbers_are_the_papers():
    """Lin et al. 2018 (PacGAN, arXiv:1712.04086), Table 1: modes (of 8 / of 25), high-quality
    samples (%), reverse KL, mean ± standard error over 10 trials, for the 2-D ring | 2-D grid."""
    paper = {
        "gan-ns": [(6.3, 0.5), (98.2, 0.2), (0.45, 0.09), (17.3, 0.8), (94.8, 0.7), (0.70, 0.07)],
        "pacgan2": [(7.9, 0.1), (95.6, 2.0), (0.07, 0.03), (23.8, 0.7), (91.3, 0.8), (0.13, 0.04)],
        "pacgan3": [(7.8, 0.1), (97.7, 0.3), (0.10, 0.02), (24.6, 0.4), (94.2, 0.4), (0.06, 0.02)],
        "pacgan4": [(7.8, 0.1), (95.9, 1.4), (0.07, 0.02), (24.8, 0.2), (93.6, 0.6), (0.04, 0.01)],
    }
    table = load_published("pacgan-2d")
    assert (table.spread_kind, table.n, table.source.table) == ("standard-error", 10, "Table 1")
    printed = {(c.method, c.dataset, c.metric): c.printed for c in table.cells}
    metrics = ["modes-covered", "high-quality-fraction", "reverse-kl"]
    expected = {
        (method, dataset, metric): values[3 * d + i]
        for method, values in paper.items()
        for d, dataset in enumerate(["ring-8", "grid-25"])
        for i, metric in enumerate(metrics)
    }
    assert printed == expected
    # The paper prints percent; ganbench's fraction is the same number / 100.
    gan_ring_hq = next(c for c in table.cells if c.key() == ("gan-ns", "ring-8", "high-quality-fraction"))
    assert (gan_ring_hq.mean, gan_ring_hq.spread) == pytest.approx((0.982, 0.002))
    assert table.settings("ring-8")["train.steps"] == 400_000  # 400 epochs x 100,000 points / batch 100
    assert table.settings("grid-25")["dataset_params.std"] == 0.05


def test_pacgan_stacked_mnist_numbers_are_the_papers():
    """Lin et al. 2018, Table 2 (Stacked MNIST, VEEGAN's setting): modes of 1,000 and KL, mean ±
    standard error over 10 trials: PacDCGAN2 1000.0 ± 0.0, 0.06 ± 1.0e-2; PacDCGAN3 1000.0 ± 0.0,
    0.06 ± 1.0e-2; PacDCGAN4 1000.0 ± 0.0, 0.07 ± 1.9e-2."""
    table = load_published("pacgan-stacked-mnist")
    printed = {(c.method, c.metric): c.printed for c in table.cells}
    assert printed == {
        ("pacgan2", "stacked-modes"): (1000.0, 0.0),
        ("pacgan2", "stacked-kl"): (0.06, 0.01),
        ("pacgan3", "stacked-modes"): (1000.0, 0.0),
        ("pacgan3", "stacked-kl"): (0.06, 0.01),
        ("pacgan4", "stacked-modes"): (1000.0, 0.0),
        ("pacgan4", "stacked-kl"): (0.07, 0.019),
    }
    assert {c.dataset for c in table.cells} == {"stacked-mnist"}
    assert table.settings("stacked-mnist")["train.steps"] == 100_000  # 50 epochs x 128,000 / 64


def test_every_shipped_table_loads():
    assert published_names() == ["pacgan-2d", "pacgan-stacked-mnist"]
    for name in published_names():
        table = load_published(name)
        assert table.name == name and table.cells


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "table.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = (PUBLISHED / "pacgan-2d.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('kind = "standard-error"', 'kind = "iqr"'), "spread.kind must be one of"),
        (lambda t: t.replace("n = 10\n", "n = 1\n"), "spread.n must be >= 2"),
        (lambda t: t.replace("[spread]", "[spreads]"), "needs a [spread] table"),
        (
            lambda t: t.replace("modes-covered = [6.3, 0.5]", "modes-covered = [6.3]"),
            "must be [mean, spread]",
        ),
        (lambda t: t.replace("modes-covered = [6.3, 0.5]", 'modes-covered = ["6.3", 0.5]'), "[mean, spread]"),
        (lambda t: t.replace("modes-covered = [6.3, 0.5]", "modes-covered = [6.3, -0.5]"), "spread >= 0"),
        (lambda t: t.replace("modes-covered = [6.3, 0.5]", "modes-covred = [6.3, 0.5]"), "unknown metric"),
        (lambda t: t.replace('method = "pacgan2"', 'method = "gan-ns"', 1), "more than one row"),
        (lambda t: t.replace('method = "pacgan4"', 'method = "pacgan9"', 1), "unknown method"),
        (lambda t: t.replace('name = "pacgan-2d"', 'name = "../x"'), "name must be"),
        (lambda t: t.replace("year = 2018", 'year = "2018"'), "source.year must be an integer"),
        (lambda t: t.replace("proofread = false", 'proofread = "no"'), "proofread must be true or false"),
        (lambda t: t + "\n[[rows\n", "not a readable TOML file"),
    ],
)
def test_malformed_tables_are_one_line_errors(tmp_path, change, message):
    with pytest.raises(GanbenchError, match=message.replace("[", r"\[")) as err:
        load_published(_write(tmp_path, change(GOOD)))
    assert "\n" not in str(err.value)


def test_unknown_table_name_suggests():
    with pytest.raises(GanbenchError, match="did you mean 'pacgan-2d'"):
        load_published("pacgan-2")


# Hand-made cells. `_seeds(mean, se, n)` makes n seed values with exactly that mean and standard
# error: alternating mean ± a has sample std a sqrt(n / (n - 1)), so a = se sqrt(n - 1).
def _seeds(mean: float, se: float, n: int = 10) -> list[float]:
    a = se * math.sqrt(n - 1)
    return [mean + a * (1 if i % 2 == 0 else -1) for i in range(n)]


def _frame(table, values: dict[tuple[str, str, str], list[float]], steps: int = 400_000) -> pd.DataFrame:
    """A records frame whose jobs follow the table's protocol (but for `steps`)."""
    rows = []
    for (method, dataset, metric), seeds in values.items():
        config: dict = {}
        for path, value in table.settings(dataset).items():
            head, key = path.split(".")
            config.setdefault(head, {})[key] = value
        config["train"]["steps"] = steps
        for seed, value in enumerate(seeds):
            rows.append(
                {"method": method, "dataset": dataset, "metric": metric, "status": "ok", "value": value,
                 "key": f"{method}__{dataset}__seed{seed}", "config": json.dumps(config)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _one_cell_table(tmp_path, cells: list[tuple[str, float, float]]):
    """A table of ring-8 rows with one metric (reverse-kl), published mean ± standard error, n = 10."""
    head, _, _ = GOOD.partition("[[rows]]")
    rows = "".join(
        f'[[rows]]\nlabel = "{m}"\nmethod = "{m}"\ndataset = "ring-8"\nreverse-kl = [{mean}, {se}]\n'
        for m, mean, se in cells
    )
    return load_published(_write(tmp_path, head + rows))


def test_equal_means_are_consistent(tmp_path):
    table = _one_cell_table(tmp_path, [("gan-ns", 0.45, 0.09)])
    result = reproduce(_frame(table, {("gan-ns", "ring-8", "reverse-kl"): _seeds(0.45, 0.09)}), table)
    (row,) = result.itertuples()
    assert (row.verdict, row.t, row.p_holm) == (CONSISTENT, pytest.approx(0.0, abs=1e-9), pytest.approx(1.0))
    assert (row.ours_mean, row.ours_se, row.ours_n) == (pytest.approx(0.45), pytest.approx(0.09), 10)


def test_five_standard_errors_apart_is_flagged(tmp_path):
    # Both standard errors 0.01, so the difference's is sqrt(0.01² + 0.01²) = 0.01414; five of them
    # is 0.0707. Welch: t = 5, df = (2 se²)² / (2 se⁴ / 9) = 18, two-sided p = 2 (1 - F_t18(5)) ≈ 9.3e-5.
    table = _one_cell_table(tmp_path, [("gan-ns", 0.40, 0.01)])
    ours = 0.40 + 5 * math.sqrt(2) * 0.01
    (row,) = reproduce(
        _frame(table, {("gan-ns", "ring-8", "reverse-kl"): _seeds(ours, 0.01)}), table
    ).itertuples()
    assert row.t == pytest.approx(5.0) and row.df == pytest.approx(18.0)
    assert row.p == pytest.approx(2 * stats.t.sf(5.0, 18)) and row.p < 1e-4
    assert row.verdict == HIGHER
    (low,) = reproduce(
        _frame(table, {("gan-ns", "ring-8", "reverse-kl"): _seeds(0.40 - 0.0707, 0.01)}), table
    ).itertuples()
    assert low.verdict == LOWER


def test_holm_by_hand():
    # Sorted p: 0.01, 0.03, 0.04 (m = 3) -> 3 x 0.01 = 0.03; max(0.03, 2 x 0.03) = 0.06;
    # max(0.06, 1 x 0.04) = 0.06. At alpha 0.05 only the first stays significant.
    assert holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # 2 x 0.5 capped at 1; 0.9 raised to 1 (monotone)
    assert holm([]) == []


def test_holm_turns_a_borderline_cell_consistent(tmp_path):
    # One cell with t = 2.4 (df 18): two-sided p = 0.0274 < 0.05, "higher" on its own. Beside two
    # cells that agree with the paper (t = 0.5, p = 0.62; t = 0, p = 1), Holm multiplies the
    # smallest p by 3: 0.082 >= 0.05, so the same cell is "consistent" in the three-cell table.
    se = 0.01
    borderline = 0.40 + 2.4 * math.sqrt(2) * se
    alone = _one_cell_table(tmp_path, [("gan-ns", 0.40, se)])
    (row,) = reproduce(
        _frame(alone, {("gan-ns", "ring-8", "reverse-kl"): _seeds(borderline, se)}), alone
    ).itertuples()
    assert row.p == pytest.approx(2 * stats.t.sf(2.4, 18)) and row.p < 0.05
    assert row.verdict == HIGHER
    three = _one_cell_table(tmp_path, [("gan-ns", 0.40, se), ("pacgan2", 0.10, se), ("pacgan3", 0.10, se)])
    values = {
        ("gan-ns", "ring-8", "reverse-kl"): _seeds(borderline, se),
        ("pacgan2", "ring-8", "reverse-kl"): _seeds(0.10 + 0.5 * math.sqrt(2) * se, se),
        ("pacgan3", "ring-8", "reverse-kl"): _seeds(0.10, se),
    }
    result = reproduce(_frame(three, values), three).set_index("method")
    assert result.loc["gan-ns", "p"] == pytest.approx(row.p)
    assert result.loc["gan-ns", "p_holm"] == pytest.approx(3 * row.p)
    assert list(result["verdict"]) == [CONSISTENT] * 3


def test_welch_matches_scipy_on_raw_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.3, 10), rng.normal(1.2, 0.6, 7)
    se = [x.std(ddof=1) / math.sqrt(len(x)) for x in (a, b)]
    t, df, p = welch(a.mean(), se[0], 10, b.mean(), se[1], 7)
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert (t, p) == pytest.approx((expected.statistic, expected.pvalue))
    va, vb = se[0] ** 2, se[1] ** 2  # Welch-Satterthwaite
    assert df == pytest.approx((va + vb) ** 2 / (va**2 / 9 + vb**2 / 6))
    assert welch(1000.0, 0.0, 10, 1000.0, 0.0, 10)[2] == 1.0  # no spread, same value
    assert welch(999.0, 0.0, 10, 1000.0, 0.0, 10)[2] == 0.0


def test_other_settings_or_fewer_seeds_are_not_compared(tmp_path):
    table = _one_cell_table(tmp_path, [("gan-ns", 0.45, 0.09), ("pacgan2", 0.07, 0.03)])
    short = _frame(table, {("gan-ns", "ring-8", "reverse-kl"): _seeds(0.45, 0.09)}, steps=10_000)
    few = _frame(table, {("pacgan2", "ring-8", "reverse-kl"): _seeds(0.07, 0.03, n=3)})
    result = reproduce(pd.concat([short, few]), table).set_index("method")
    assert list(result["verdict"]) == [NOT_COMPARABLE, NOT_COMPARABLE]
    assert result.loc["gan-ns", "reason"] == "train.steps = 10000 (published 400000)"
    assert result.loc["pacgan2", "reason"] == "3 seeds finished ok (published 10 runs)"
    assert result["p"].isna().all() and result["p_holm"].isna().all()  # no test is made
    markdown = reproduce_markdown(result.reset_index(), table)
    assert "0 consistent, 0 higher, 0 lower, 2 not comparable, 0 missing" in markdown
    assert "- not comparable (1 cells: gan-ns on ring-8): train.steps = 10000 (published 400000)" in markdown


def test_missing_cells_and_every_cell_one_reason(tmp_path):
    table = load_published("pacgan-2d")
    values = {(c.method, c.dataset, c.metric): _seeds(c.mean, max(c.spread, 1e-3)) for c in table.cells}
    result = reproduce(_frame(table, values, steps=1000), table)
    assert set(result["verdict"]) == {NOT_COMPARABLE}
    markdown = reproduce_markdown(result, table)
    assert "Every cell is not comparable: train.steps = 1000 (published 400000)." in markdown
    assert "have not yet been proofread against the paper" in markdown  # until someone checks the PDF
    empty = reproduce(_frame(table, {}), table)
    assert set(empty["verdict"]) == {MISSING} and len(empty) == 24
    latex = reproduce_latex(result, table)
    assert r"\toprule" in latex and r"$\pm$" in latex and "±" not in latex.split("\n", 1)[1]


@pytest.mark.e2e
def test_cli_report_against_a_run(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["run", "--suite", "mode-collapse-pacgan", "--methods", "gan-ns", "--seeds", "2", "--steps", "2"]
    ran = runner.invoke(app, [*args, "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    result = runner.invoke(app, ["report", str(out), "--against", "pacgan-2d"])
    assert result.exit_code == 0, result.output
    assert "train.steps = 2 (published 400000); 2 seeds finished ok (published 10 runs)" in result.output
    assert "0 consistent, 0 higher, 0 lower, 6 not comparable, 18 missing" in result.output
    csv = pd.read_csv(out / "against-pacgan-2d.csv")
    assert len(csv) == 24 and (out / "against-pacgan-2d.tex").exists()
    bad = runner.invoke(app, ["report", str(out), "--against", "pacgan-3d"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "unknown published table" in bad.output
    listed = runner.invoke(app, ["list"])
    assert "pacgan-2d" in listed.output and "pacgan-stacked-mnist" in listed.output


def test_the_pacgan_suite_follows_the_published_protocol():
    """At its default length, every job of mode-collapse-pacgan is comparable with Table 1."""
    from ganbench.report.reproduce import protocol_differences
    from ganbench.suite import load_suite

    table = load_published("pacgan-2d")
    suite = load_suite("mode-collapse-pacgan")
    assert suite.seeds == table.n
    assert {(j.method, j.dataset) for j in suite.jobs()} == {(c.method, c.dataset) for c in table.cells}
    for job in suite.jobs():
        assert protocol_differences([job.config()], table.settings(job.dataset)) == [], job.key


def test_flagged_seeds_are_marked_beside_our_numbers(tmp_path):
    table = _one_cell_table(tmp_path, [("gan-ns", 0.45, 0.09)])
    frame = _frame(table, {("gan-ns", "ring-8", "reverse-kl"): _seeds(0.45, 0.09)}, steps=1000)
    frame["flags"] = ["off-modes"] + [""] * 9  # one seed of ten
    result = reproduce(frame, table)
    assert result["flags"].tolist() == ["off-modes"]
    markdown = reproduce_markdown(result, table)
    assert "0.45 ± 0.09 (n=10) †" in markdown and "† off-modes (some of our seeds)" in markdown
    assert r"(n=10) $^\dagger$" in reproduce_latex(result, table)
    # A run made before off-modes/not-converged: its stored flags, with their own marks and legend.
    frame["flags"] = ["undertrained;still-improving"] + [""] * 9
    result = reproduce(frame, table)
    markdown = reproduce_markdown(result, table)
    assert "0.45 ± 0.09 (n=10) §¶" in markdown and "§ undertrained (some of our seeds)" in markdown
    assert "¶ still-improving (some of our seeds): still improving over the last 20%" in markdown
    assert r"(n=10) $^\S$$^\P$" in reproduce_latex(result, table)
