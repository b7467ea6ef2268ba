"""Hostile reports: malformed or escaping published tables, values beyond float64, a full disk."""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy import stats
from typer.testing import CliRunner

from ganbench.cli import EXIT_BAD_INPUT, app
from ganbench.metrics.published import load_published
from ganbench.report import build_report, figures
from ganbench.report.reproduce import NOT_TESTABLE, reproduce
from ganbench.report.stats import holm, welch
from ganbench.report.tables import latex_text, markdown_text

GOLDEN = ROOT / "tests" / "data" / "golden" / "run"

# A small valid table beside the golden run (gan and wgan on ring-8, 3 seeds, 1,000 steps unset).
TABLE = """
name = "hostile"
description = "a table for tests"

[source]
authors = "Ada Lovelace, Charles Babbage"
year = 2018
title = "On engines"
venue = "Somewhere 2018"
table = "Table 1"
location = "Section 3"
url = "https://example.org"
proofread = false

[spread]
kind = "standard-error"
n = 2

[protocol]
"dataset_params.std" = 0.01

[scale]
modes-covered = 1.0

[[rows]]
label = "GAN"
method = "gan"
dataset = "ring-8"
modes-covered = [7.0, 0.5]
w1 = [0.2, 0.05]

[[rows]]
label = "WGAN"
method = "wgan"
dataset = "ring-8"
w1 = [0.1, 0.05]
"""


def _invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, list(args))
    # An uncaught exception (a traceback) is never an answer; typer.Exit is a SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _one_error_line(result) -> str:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _run(tmp_path: Path) -> Path:
    """A copy of the golden run, which a test may change."""
    run = tmp_path / "run"
    shutil.copytree(GOLDEN, run)
    return run


def _edit(run: Path, key: str, change) -> None:
    path = run / "jobs" / f"{key}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ table files refused


def _sub(old: str, new: str):
    def change(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)

    return change


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_sub('authors = "Ada Lovelace, Charles Babbage"', 'authors = ""'), "source.authors"),
        (_sub('authors = "Ada Lovelace, Charles Babbage"', 'authors = ", Lovelace"'), "source.authors"),
        (_sub('title = "On engines"', 'title = "  "'), "source.title"),
        (_sub('url = "https://example.org"', 'url = ""'), "source.url"),
        (_sub('venue = "Somewhere 2018"', 'venue = "a\\nb"'), "source.venue"),
        (_sub('table = "Table 1"', 'table = "Table\\u202e 1"'), "source.table"),
        (_sub('location = "Section 3"', 'location = "Section\\t3"'), "source.location"),
        (_sub("year = 2018", "year = 99999"), "source.year"),
        (_sub('description = "a table for tests"', 'description = ""'), "description"),
        (_sub('label = "GAN"', 'label = ""'), "rows[0].label"),
        (_sub('label = "GAN"', 'label = "GAN\\n\\\\input{/etc/passwd}"'), "rows[0].label"),
        (_sub("w1 = [0.2, 0.05]", "w1 = [1e308, 1e308]"), "rows[0].w1"),
        (_sub("w1 = [0.2, 0.05]", "w1 = [1e101, 0.05]"), "rows[0].w1"),
        (_sub("w1 = [0.2, 0.05]", "w1 = [0.2, inf]"), "rows[0].w1"),
        (_sub("w1 = [0.2, 0.05]", "w1 = [nan, 0.05]"), "rows[0].w1"),
        (_sub("w1 = [0.2, 0.05]", "w1 = [0.2, -0.05]"), "rows[0].w1"),
        (_sub("modes-covered = 1.0", "w1 = inf"), "scale.w1"),
        (_sub("modes-covered = 1.0", "w1 = nan"), "scale.w1"),
        (_sub("modes-covered = 1.0", "w1 = 0"), "scale.w1"),
        (_sub("modes-covered = 1.0", "modes-covered = 1e100"), "rows[0].modes-covered"),  # 7e100, once scaled
        (_sub("modes-covered = 1.0", "w2 = 1.0"), "scale: unknown metric 'w2'"),
        (_sub("n = 2", "n = 1000000"), "spread.n"),
        (_sub('"dataset_params.std" = 0.01', '"dataset_params.std" = inf'), "protocol.dataset_params.std"),
        (_sub('"dataset_params.std" = 0.01', '"eval.note" = "a\\nb"'), "protocol.eval.note"),
        (_sub('"dataset_params.std" = 0.01', "train.steps = 10"), "protocol.train"),
        (
            _sub("[scale]", '[protocol.datasets.ring-9]\n"train.steps" = 1\n\n[scale]'),
            "unknown dataset 'ring-9'",
        ),
        (_sub('name = "hostile"', 'name = "hostile"\nrowz = 1'), "unknown key 'rowz'"),
        (_sub("w1 = [0.1, 0.05]", '"w1\\nw2" = [0.1, 0.05]'), "rows[1]: unknown metric 'w1?w2'"),
    ],
)
def test_hostile_table_files_are_one_line_naming_file_and_key(
    cli: CliRunner, tmp_path: Path, change, named: str
) -> None:
    run = _run(tmp_path)
    table = _table(tmp_path, change(TABLE))
    line = _one_error_line(_invoke(cli, "report", str(run), "--against", str(table)))
    assert str(table) in line and named in line
    assert not list(run.glob("against-*")), "nothing is written before the check"


def test_the_valid_table_of_these_tests_loads(tmp_path: Path) -> None:
    table = load_published(str(_table(tmp_path, TABLE)))
    assert table.source.citation() == 'Lovelace et al. 2018, "On engines", Somewhere 2018, Table 1'


def test_a_table_path_with_a_line_break_is_named_on_one_line(cli: CliRunner, tmp_path: Path) -> None:
    run = _run(tmp_path)
    folder = tmp_path / "a\nb"
    folder.mkdir()
    table = folder / "table.toml"
    table.write_text(TABLE.replace('label = "GAN"', 'label = ""'), encoding="utf-8")
    line = _one_error_line(_invoke(cli, "report", str(run), "--against", str(table)))
    assert "a?b" in line and "rows[0].label" in line


# ------------------------------------------------------------------------ Welch and Holm, finite only


def test_welch_never_overflows_and_says_nan_where_it_cannot_test() -> None:
    # Standard errors of 1e308: the variances overflow float64 (an OverflowError before); in units of
    # the larger one, t = (1 - 0) / sqrt(1 + 1e-616 ~ 0) = 1 with 9 degrees of freedom.
    t, df, p = welch(1e308, 1e308, 10, 0.0, 1.0, 10)
    assert (t, df, p) == pytest.approx((1.0, 9.0, 2 * stats.t.sf(1.0, 9)))
    for args in [
        (1e308, 1.0, 10, -1e308, 1.0, 10),  # the difference of the means overflows
        (math.inf, 1.0, 10, 0.0, 1.0, 10),
        (0.0, math.nan, 10, 0.0, 1.0, 10),
        (0.0, 1.0, 1, 0.0, 1.0, 10),  # one value: no spread to test
    ]:
        assert all(math.isnan(v) for v in welch(*args)), args


def test_holm_leaves_nan_out_of_the_family_whatever_the_order() -> None:
    # The family is 0.01, 0.03, 0.04 (m = 3): 0.03, 0.06, 0.06 as by hand in test_published.
    p_values = [0.01, 0.03, math.nan, 0.04]
    for order in itertools.permutations(range(4)):
        adjusted = holm([p_values[i] for i in order])
        by_input = dict(zip(order, adjusted, strict=True))
        assert math.isnan(by_input[2])
        assert [by_input[i] for i in (0, 1, 3)] == pytest.approx([0.03, 0.06, 0.06])


def _records(values: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    config = json.dumps({"dataset_params": {"std": 0.01}})
    return pd.DataFrame(
        [
            {"method": method, "dataset": dataset, "metric": metric, "status": "ok", "value": value,
             "key": f"{method}__{dataset}__seed{seed}", "config": config}
            for (method, dataset, metric), seeds in values.items()
            for seed, value in enumerate(seeds)
        ]
    )  # fmt: skip


def _w1_table(tmp_path: Path, methods: list[str]):
    """TABLE's head with one w1 row per method on ring-8, published 0.1 ± 0.05, in the order given."""
    rows = "".join(
        f'[[rows]]\nlabel = "{m}"\nmethod = "{m}"\ndataset = "ring-8"\nw1 = [0.1, 0.05]\n' for m in methods
    )
    return load_published(str(_table(tmp_path, TABLE.split("[[rows]]")[0] + rows)))


def test_an_untestable_cell_is_left_out_of_holm(tmp_path: Path) -> None:
    # gan's seeds 1e308 and -1e308 have mean 0 but a standard error beyond float64: Welch's test cannot
    # be made. The cell is `not testable`, and the other cells' Holm p-values are those of a table
    # without it (a family of two: the smaller p doubled), whatever the order of the rows.
    values = {
        ("gan", "ring-8", "w1"): [1e308, -1e308],
        ("wgan", "ring-8", "w1"): [0.35, 0.25],  # mean 0.3, standard error 0.05: t = 2.83
        ("gan-ns", "ring-8", "w1"): [0.25, 0.15],  # mean 0.2: t = 1.41
    }
    frame = _records(values)
    result = reproduce(frame, _w1_table(tmp_path, ["gan", "wgan", "gan-ns"])).set_index("method")
    assert result.loc["gan", "verdict"] == NOT_TESTABLE and math.isnan(result.loc["gan", "p_holm"])
    assert "not a finite number" in result.loc["gan", "reason"]
    tested = result.loc[["wgan", "gan-ns"]]
    assert list(tested["p_holm"]) == pytest.approx(holm(list(tested["p"])))
    assert tested["p_holm"].min() == pytest.approx(2 * tested["p"].min())
    for order in (["gan-ns", "wgan", "gan"], ["wgan", "gan", "gan-ns"], ["wgan", "gan-ns"]):
        again = reproduce(frame, _w1_table(tmp_path, order)).set_index("method")
        assert list(again.loc[["wgan", "gan-ns"], "p_holm"]) == pytest.approx(list(tested["p_holm"])), order


# ------------------------------------------------------------------------------------------ escaping

LATEX_HOSTILE = r"\input{/etc/passwd} $x$ & 50% #1 a_b ^ ~"
MARKDOWN_HOSTILE = "a | b `c` <b>bold</b> *d*"


def _pipes(line: str) -> int:
    """The column breaks of a Markdown table row: its `|` not escaped by a backslash."""
    return len(re.findall(r"(?<!\\)\|", line))


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def _no_latex_code(tex: str) -> None:
    """No `\\input` command: a table file's or a record's string cannot run one when compiled."""
    assert r"\input" not in tex


def test_escaping_helpers_by_hand() -> None:
    assert latex_text("a\\b{c}$&%#_^~\nd") == (
        r"a\textbackslash{}b\{c\}\$\&\%\#\_\textasciicircum{}\textasciitilde{} d"
    )
    escaped = markdown_text("a|b\nc`d`*e* <i>x</i> p < 0.001 \\")
    assert escaped == r"a\|b c\`d\`\*e\* &lt;i>x&lt;/i> p < 0.001 \\"


def test_table_file_strings_are_escaped_in_tex_and_markdown(cli: CliRunner, tmp_path: Path) -> None:
    run = _run(tmp_path)
    text = TABLE.replace('label = "GAN"', f"label = '{LATEX_HOSTILE} {MARKDOWN_HOSTILE}'")
    text = text.replace('title = "On engines"', f"title = '{LATEX_HOSTILE} {MARKDOWN_HOSTILE}'")
    result = _invoke(cli, "report", str(run), "--against", str(_table(tmp_path, text)))
    assert result.exit_code == 0, result.output
    tex = (run / "against-hostile.tex").read_text()
    assert (
        r"\textbackslash{}input\{/etc/passwd\} \$x\$ \& 50\% \#1 a\_b \textasciicircum{} \textasciitilde{}"
        in tex
    )
    _no_latex_code(tex)
    markdown = (run / "against-hostile.md").read_text()
    rows = _table_rows(markdown)
    assert len(rows) == 5 and len({_pipes(row) for row in rows}) == 1  # header, rule, 3 cells
    assert r"a \| b \`c\` &lt;b>bold&lt;/b> \*d\*" in rows[2]
    heading = markdown.splitlines()[0]
    assert "<b>" not in heading and r"\|" in heading


def test_a_number_format_with_a_fill_and_percent_is_escaped(cli: CliRunner, tmp_path: Path) -> None:
    # '$>9.1%': a '$' fill and a '%' sign in every number; the difference column's '+' goes after the
    # fill and alignment (before, '+$>9.1%' was an invalid format: a traceback).
    run = _run(tmp_path)
    args = ["report", str(run), "--against", str(_table(tmp_path, TABLE)), "--number-format", "$>9.1%"]
    result = _invoke(cli, *args)
    assert result.exit_code == 0, result.output
    tex = (run / "against-hostile.tex").read_text()
    assert r"\$\$\$700.0\% $\pm$ \$\$\$\$57.7\% (n=3)" in tex and r"\$\$\$\$+0.0\%" in tex
    assert "$$$700.0% ± $$$$57.7% (n=3)" in (run / "against-hostile.md").read_text()


def test_record_strings_are_escaped_in_the_against_reasons(cli: CliRunner, tmp_path: Path) -> None:
    # A protocol the run does not follow: the reason quotes the records' value, a line break and all.
    run = _run(tmp_path)
    for seed in range(3):
        _edit(run, f"gan__ring-8__seed{seed}", lambda d: d["config"].update(suite="x |\n\\input{z}\n| y"))
    text = TABLE.replace('"dataset_params.std" = 0.01', '"suite" = "golden"')
    result = _invoke(cli, "report", str(run), "--against", str(_table(tmp_path, text)))
    assert result.exit_code == 0, result.output
    tex = (run / "against-hostile.tex").read_text()
    _no_latex_code(tex)
    assert all(line.startswith(("%", "\\")) or "&" in line for line in tex.splitlines()), tex
    markdown = (run / "against-hostile.md").read_text()
    assert r"suite = x \| \\input{z} \| y (published golden)" in markdown
    assert not any(line.startswith(("\\input", "| y")) for line in markdown.splitlines())


def _rename_method(run: Path, old: str, new: str) -> None:
    """The jobs of method `old` as if run by a method called `new` (a plugin's name, say)."""
    for path in sorted((run / "jobs").glob(f"{old}__*.json")):
        data = json.loads(path.read_text())
        data["key"] = data["key"].replace(f"{old}__", f"{new}__", 1)
        data["method"] = data["config"]["method"] = new
        (run / "jobs" / f"{data['key']}.json").write_text(json.dumps(data))
        path.unlink()
    plan = json.loads((run / "plan.json").read_text())
    renamed = [new + k.removeprefix(old) if k.startswith(f"{old}__") else k for k in plan]
    (run / "plan.json").write_text(json.dumps(renamed))


def test_record_strings_are_escaped_in_the_report_tables_and_figures(cli: CliRunner, tmp_path: Path) -> None:
    # A method name (no white space, slash or underscore: the key's form) with a column break, LaTeX
    # specials and an unbalanced math span for matplotlib; a failed job's reason with line breaks.
    run = _run(tmp_path)
    _rename_method(run, "gan", "g|n$^$%")
    _edit(run, "wgan__ring-8__seed2", lambda d: d.update(reason="boom\n| injected | row |\n# heading"))
    result = _invoke(cli, "report", str(run), "--number-format", ".1%")
    assert result.exit_code == 0, result.output
    markdown = (run / "summary.md").read_text()
    rows = _table_rows(markdown)
    assert len({_pipes(row) for row in rows}) == 1 and rows[3].startswith(r"| g\|n$^$% ")
    assert "- wgan__ring-8__seed2: failed: boom \\| injected \\| row \\| # heading" in markdown
    assert not any(line.startswith(("# heading", "| injected")) for line in markdown.splitlines())
    tex = (run / "summary.tex").read_text()
    assert r"g\textbar{}n\$\textasciicircum{}\$\%" in tex
    assert r"700.0\% $\pm$ 100.0\%" in tex  # the number format's '%' is no comment
    assert (run / "figures" / "metric-w1.pdf").stat().st_size > 5_000


# ------------------------------------------------------------------------- values beyond float64


@pytest.mark.e2e
def test_a_stored_1e308_is_left_out_of_the_figures_and_shown_in_the_table(
    cli: CliRunner, tmp_path: Path
) -> None:
    # Every W1 of 1e308: three sum beyond float64, and an axis around them overflowed matplotlib's tick
    # arithmetic (exit 1, a traceback). The figure leaves them out and says so; the table shows them.
    run = _run(tmp_path)
    ok_jobs = [
        *(f"gan__ring-8__seed{seed}" for seed in range(3)),
        "wgan__ring-8__seed0",
        "wgan__ring-8__seed1",
    ]
    for key in ok_jobs:
        _edit(run, key, lambda d: d["metrics"]["w1"].update(value=1e308))
    result = _invoke(cli, "report", str(run))
    assert result.exit_code == 0, result.output
    markdown = (run / "summary.md").read_text()
    assert "| GAN      | **7.0 ± 1.0**            | **1.00e+308 ± 0** " in markdown
    for ext in ("png", "pdf"):
        assert (run / "figures" / f"metric-w1.{ext}").stat().st_size > 5_000
    report = build_report([run], tmp_path / "again")
    fig = figures.make_metric_figure(report.records, report.summary, "w1")
    caption = " ".join(" ".join(t.get_text() for t in fig.texts).split())
    assert "Values infinite or beyond ±1e+100 are left out (the tables show them)." in caption


def test_curves_beyond_float64_are_left_out_with_a_note() -> None:
    losses = pd.DataFrame(
        {"key": "gan__ring-8__seed0", "method": "gan", "dataset": "ring-8", "seed": 0, "step": [5, 10, 15],
         "d_loss": [1.3, 1e308, -1e308], "g_loss": [0.7, 0.8, np.inf]}
    )  # fmt: skip
    fig = figures.make_loss_figure(losses)
    fig.canvas.draw()  # drawing is where the axis arithmetic overflowed
    caption = " ".join(" ".join(t.get_text() for t in fig.texts).split())
    assert "left out" in caption
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert all(np.nanmax(np.abs(line.get_ydata())) <= 1.3 for line in lines if len(line.get_ydata()))


# ------------------------------------------------------------------------------------- a full disk


class _FullDisk:
    """A file handle on a disk that fills up part-way through a PDF."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        if bytes(data[:5]) == b"%PDF-":
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.handle.write(data)

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


@pytest.mark.e2e
def test_a_full_disk_while_writing_figures_is_one_line_and_leaves_the_old_files(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path)
    assert _invoke(cli, "report", str(run)).exit_code == 0
    folder = run / "figures"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert "metric-w1.pdf" in before
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real(fd, mode, *args, **kwargs)
        return _FullDisk(handle) if "w" in mode and "b" in mode else handle

    monkeypatch.setattr(os, "fdopen", fdopen)
    line = _one_error_line(_invoke(cli, "report", str(run)))
    assert "No space left on device" in line
    after = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert after.keys() == before.keys()  # no partial or temporary file
    assert all(after[name] == before[name] for name in after if name.endswith(".pdf"))
    # A fresh folder: no figure PDF at all, rather than a truncated one.
    fresh = tmp_path / "fresh"
    line = _one_error_line(_invoke(cli, "report", str(run), "--out", str(fresh)))
    assert not list((fresh / "figures").glob("*.pdf")) and not list((fresh / "figures").glob(".*"))
