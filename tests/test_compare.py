"""`ganbench compare`: tolerances, the significance test, direction, matching, output and exit codes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.records.record import MetricResult, Record, spec_of
from ganbench.records.store import RunStore
from ganbench.report.compare import (
    DEFAULT_ALPHA,
    Judging,
    RowVerdict,
    Threshold,
    Verdict,
    compare,
    compare_runs,
    load_rows,
    parse_fail_if,
    smallest_p_value,
    to_json,
    to_markdown,
)
from ganbench.report.records import records_frame

MC, HQ, KL, W1 = "modes-covered", "high-quality-fraction", "reverse-kl", "w1"


def record(
    method: str,
    seed: int,
    values: dict[str, float],
    *,
    dataset: str = "ring-8",
    steps: int = 100,
    status: str = "ok",
    hyperparameters: dict[str, Any] | None = None,
) -> Record:
    """A job record as the worker makes it, with the metrics' specs as registered today."""
    config = {
        "suite": "tiny",
        "method": method,
        "dataset": dataset,
        "seed": seed,
        "hyperparameters": hyperparameters or {"lr": 0.001, "gp_lambda": 0.0},
        "train": {"steps": steps, "batch_size": 32},
        "eval": {"samples": 500},
        "metrics": list(values),
    }
    specs = {m: spec_of(METRICS.get(m)) for m in values}
    return Record(
        kind="train",
        key=f"{method}__{dataset}__seed{seed}",
        method=method,
        cell=dataset,
        seed=seed,
        config=config,
        metric_specs=specs,
        status=status,
        diverged_step=7 if status == "diverged" else None,
        reason="loss is nan" if status == "diverged" else None,
        train_seconds=1.0,
        eval_seconds=0.5,
        wall_seconds=1.5,
        metrics={} if status != "ok" else {m: MetricResult(v, specs[m]) for m, v in values.items()},
    )


def seeds(method: str, metric: str, values: list[float], first_seed: int = 0, **kw: Any) -> list[Record]:
    """One record per value, seeds first_seed, first_seed + 1, ..."""
    return [record(method, first_seed + i, {metric: v}, **kw) for i, v in enumerate(values)]


def write_run(folder: Path, records: list[Record]) -> Path:
    """A run folder holding these records under jobs/ (as the driver writes them)."""
    store = RunStore(folder)
    for rec in records:
        store.save(rec, None)
    return folder


def write_csv(path: Path, records: list[Record]) -> Path:
    """records.csv as the report writes it."""
    path.write_text(records_frame(records).to_csv(index=False), encoding="utf-8")
    return path


def judge(baseline: list[Record], candidate: list[Record], **kw: Any) -> Verdict:
    return compare(records_frame(baseline), records_frame(candidate), Judging(**kw))


def only(verdict: Verdict) -> RowVerdict:
    (row,) = verdict.rows
    return row


# --- the rule ---


def test_improvement_beyond_tolerance_and_significant() -> None:
    # modes covered 5, 6, 7 (mean 6) -> 8, 8, 8 (mean 8): change +2 > abs_tol 1 mode; every candidate
    # value beats every baseline value, so the exact two-sided p is 2 / C(6, 3) = 0.1 <= alpha 0.1.
    row = only(judge(seeds("gan", MC, [5, 6, 7]), seeds("gan", MC, [8, 8, 8])))
    assert (row.baseline_mean, row.candidate_mean, row.change) == (6.0, 8.0, 2.0)
    assert row.rel_change == pytest.approx(2 / 6)
    assert (row.n_baseline, row.n_candidate) == (3, 3)
    assert row.p_value == pytest.approx(0.1)
    assert row.verdict == "improved"


def test_regression_beyond_tolerance_lower_is_better() -> None:
    # w1 (lower is better) 0.10, 0.11, 0.12 (mean 0.11) -> 0.20, 0.21, 0.22 (mean 0.21): change +0.10 >
    # max(abs 0.01, rel 0.05 x 0.11 = 0.0055); full separation, p = 0.1: regressed.
    verdict = judge(seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.20, 0.21, 0.22]))
    row = only(verdict)
    assert row.baseline_mean == pytest.approx(0.11) and row.candidate_mean == pytest.approx(0.21)
    assert row.change == pytest.approx(0.10) and row.rel_change == pytest.approx(0.10 / 0.11)
    assert row.p_value == pytest.approx(0.1)
    assert row.verdict == "regressed"
    assert verdict.regressed == (row,) and verdict.exit_code == 1


def test_lower_w1_is_an_improvement() -> None:
    # w1 0.10, 0.11, 0.12 (mean 0.11) -> 0.05, 0.06, 0.07 (mean 0.06): change -0.05, beyond 0.01.
    row = only(judge(seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.05, 0.06, 0.07])))
    assert row.change == pytest.approx(-0.05)
    assert row.verdict == "improved"


def _flip(records: list[Record]) -> list[Record]:
    """The records with w1's stored direction flipped (as a folder made by another registry would be)."""
    flipped = {W1: dataclasses.replace(spec_of(METRICS.get(W1)), higher_is_better=True)}
    return [
        dataclasses.replace(
            r, metric_specs=flipped, metrics={W1: dataclasses.replace(r.metrics[W1], spec=flipped[W1])}
        )
        for r in records
    ]


def test_direction_comes_from_the_run_folder_not_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cand = seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.05, 0.06, 0.07])
    assert only(judge(base, cand)).verdict == "improved"
    # The records say higher is better: a drop is then a regression, whatever the registry says now.
    assert only(judge(_flip(base), _flip(cand))).verdict == "regressed"
    baseline, candidate = write_run(tmp_path / "b", _flip(base)), write_run(tmp_path / "c", _flip(cand))
    monkeypatch.delitem(METRICS._entries, W1)  # the metric's plugin is not loaded today
    assert only(compare_runs(baseline, candidate)).verdict == "regressed"


def test_beyond_tolerance_but_not_significant_is_unchanged() -> None:
    # reverse KL 0.1, 0.5, 0.3 (mean 0.3) -> 0.2, 0.6, 0.7 (mean 0.5): change +0.2 > max(0.02, 0.1 x 0.3).
    # Pooled ranks: 0.1 b, 0.2 c, 0.3 b, 0.5 b, 0.6 c, 0.7 c -> candidate ranks 2 + 5 + 6 = 13,
    # U = 13 - 6 = 7; P(U >= 7) = 4/20 under the null, two-sided p = 0.4 > 0.1: unchanged.
    row = only(judge(seeds("gan", KL, [0.1, 0.5, 0.3]), seeds("gan", KL, [0.2, 0.6, 0.7])))
    assert row.change == pytest.approx(0.2)
    assert row.p_value == pytest.approx(0.4)
    assert row.verdict == "unchanged"
    assert "not significant (p 0.4 > alpha 0.1)" in row.note


def test_within_tolerance_is_unchanged_even_when_significant() -> None:
    # modes covered 8, 8, 8 -> 7, 7, 7: change -1 is not more than abs_tol 1 mode, although p = 0.1.
    row = only(judge(seeds("gan", MC, [8, 8, 8]), seeds("gan", MC, [7, 7, 7])))
    assert (row.change, row.p_value, row.verdict) == (-1.0, pytest.approx(0.1), "unchanged")
    # high-quality fraction 0.90, 0.91, 0.92 -> 0.92, 0.93, 0.94: change 0.02 (0.020000000000000018 in
    # floats) equals abs_tol 0.02: within it.
    row = only(judge(seeds("gan", HQ, [0.90, 0.91, 0.92]), seeds("gan", HQ, [0.92, 0.93, 0.94])))
    assert row.change == pytest.approx(0.02) and row.verdict == "unchanged"


def test_tolerance_overrides_apply_to_every_metric() -> None:
    # The same -1 mode as above is a regression at abs_tol 0.5 (and rel_tol 0: 0.5 > 0 x 8).
    row = only(judge(seeds("gan", MC, [8, 8, 8]), seeds("gan", MC, [7, 7, 7]), rel_tol=0.0, abs_tol=0.5))
    assert row.verdict == "regressed"
    # w1 0.10 -> 0.11 (+0.01 = 10%): within rel_tol 0.2 (0.02) when abs_tol is overridden to 0.
    row = only(judge(seeds("gan", W1, [0.10]), seeds("gan", W1, [0.11]), rel_tol=0.2, abs_tol=0.0))
    assert row.verdict == "unchanged"


def test_single_values_are_judged_by_the_tolerance_alone() -> None:
    # w1 0.1 -> 0.2 on one seed each: change +0.1 > 0.01, no test possible (p None): regressed.
    row = only(judge(seeds("gan", W1, [0.1]), seeds("gan", W1, [0.2])))
    assert (row.n_baseline, row.n_candidate, row.p_value) == (1, 1, None)
    assert row.change == pytest.approx(0.1) and row.verdict == "regressed"
    assert "tolerance alone" in row.note
    # 3 baseline seeds vs 1 candidate seed: still the tolerance alone.
    row = only(judge(seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.2])))
    assert row.p_value is None and row.verdict == "regressed"


def test_alpha_default_is_reachable_at_three_seeds_and_small_samples_are_flagged() -> None:
    assert DEFAULT_ALPHA == 0.1
    assert smallest_p_value(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3) = 2 / 20
    assert smallest_p_value(4, 4) == pytest.approx(2 / 70)
    assert smallest_p_value(2, 2) == pytest.approx(1 / 3)  # 2 / C(4, 2) = 2 / 6
    base, cand = seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.20, 0.21, 0.22])
    # At alpha 0.05, 3 vs 3 seeds can never reach it: unchanged, said in the note and a warning.
    verdict = judge(base, cand, alpha=0.05)
    row = only(verdict)
    assert row.verdict == "unchanged" and row.p_value == pytest.approx(0.1)
    assert "3 vs 3 values cannot reach alpha 0.05 (smallest possible p 0.1)" in row.note
    assert verdict.untestable == (row,) and "Warning: 1 rows have too few values" in to_markdown(verdict)
    # 2 vs 2 at the default alpha: likewise.
    verdict = judge(base[:2], cand[:2])
    assert only(verdict).verdict == "unchanged" and len(verdict.untestable) == 1
    # 4 vs 4 at alpha 0.05: full separation gives p = 2/70 = 0.029 < 0.05: regressed.
    row = only(
        judge(
            seeds("gan", W1, [0.10, 0.11, 0.12, 0.13]), seeds("gan", W1, [0.2, 0.21, 0.22, 0.23]), alpha=0.05
        )
    )
    assert row.p_value == pytest.approx(2 / 70) and row.verdict == "regressed"


def test_missing_rows_fail_unless_allowed_and_new_rows_never_do() -> None:
    # wgan only in the baseline; gan unchanged (identical values: change 0, p 1).
    base = seeds("gan", W1, [0.1, 0.2, 0.3]) + seeds("wgan", W1, [0.4, 0.5, 0.6])
    verdict = judge(base, seeds("gan", W1, [0.1, 0.2, 0.3]))
    gan, wgan = verdict.rows
    assert (gan.method, gan.change, gan.p_value, gan.verdict) == ("gan", 0.0, 1.0, "unchanged")
    assert (wgan.method, wgan.verdict, wgan.n_baseline, wgan.n_candidate) == ("wgan", "missing", 3, 0)
    assert wgan.baseline_mean == pytest.approx(0.5) and wgan.candidate_mean is None and wgan.change is None
    assert wgan.note == "only in the baseline"
    assert verdict.exit_code == 1 and verdict.failing == (wgan,)
    assert verdict.summary == "FAIL: 0 regressed, 1 missing, 0 improved, 1 unchanged"
    allowed = judge(base, seeds("gan", W1, [0.1, 0.2, 0.3]), allow_missing=True)
    assert (
        allowed.exit_code == 0
        and allowed.summary == "PASS: 0 regressed, 1 missing (allowed), 0 improved, 1 unchanged"
    )
    # A row of the candidate only (a method added) is new, and passes.
    grown = judge(seeds("gan", W1, [0.1, 0.2, 0.3]), base)
    assert [r.verdict for r in grown.rows] == ["unchanged", "new"] and grown.exit_code == 0
    assert grown.summary == "PASS: 0 regressed, 0 missing, 0 improved, 1 new, 1 unchanged"


def test_rows_at_other_settings_fail_and_every_differing_setting_is_listed_once() -> None:
    # The broken pull request: WGAN-GP's penalty removed and its learning rate raised, on two datasets
    # and two metrics. Every one of its rows is at other settings in the candidate: missing, failing.
    good, bad = {"lr": 0.0001, "gp_lambda": 10.0}, {"lr": 0.01, "gp_lambda": 0.0}
    base, cand = [], []
    for dataset in ("ring-8", "grid-25"):
        for metric in (MC, W1):
            base += seeds("gan", metric, [1, 2, 3], dataset=dataset)
            cand += seeds("gan", metric, [1, 2, 3], dataset=dataset)
            base += seeds("wgan-gp", metric, [1, 2, 3], dataset=dataset, hyperparameters=good)
            cand += seeds("wgan-gp", metric, [1, 2, 3], dataset=dataset, hyperparameters=bad)
    verdict = judge(base, cand)
    assert verdict.counts == {"regressed": 0, "missing": 4, "improved": 0, "new": 4, "unchanged": 4}
    assert verdict.exit_code == 1
    assert verdict.differing == {
        "wgan-gp": ("hyperparameters.gp_lambda: 10.0 != 0.0", "hyperparameters.lr: 0.0001 != 0.01")
    }
    markdown = to_markdown(verdict)
    assert markdown.count("hyperparameters.gp_lambda: 10.0 != 0.0") == 1, "listed once, not per row"
    assert "- wgan-gp: hyperparameters.gp_lambda: 10.0 != 0.0; hyperparameters.lr: 0.0001 != 0.01" in markdown
    assert judge(base, cand, allow_missing=True).exit_code == 0


def test_matching_respects_settings_not_seeds() -> None:
    # Different seeds (0-2 vs 10-12) and a different list of metrics still match: same settings.
    base = [record("gan", s, {W1: 0.1, MC: 8}) for s in range(3)]
    cand = seeds("gan", W1, [0.1, 0.1, 0.1], first_seed=10)
    covered, w1 = judge(base, cand).rows
    assert (covered.metric, covered.verdict, w1.metric, w1.verdict) == (MC, "missing", W1, "unchanged")
    assert covered.settings_id == w1.settings_id
    # Different training budgets do not match: nothing in common is an error naming the difference.
    with pytest.raises(GanbenchError, match=r"no rows in common .*train\.steps: 100 != 200"):
        judge(seeds("gan", W1, [0.1, 0.2]), seeds("gan", W1, [0.1, 0.2], steps=200))
    # ... and next to a matching row, a candidate row of other settings is new (the baseline lacks it).
    cand = seeds("gan", W1, [0.1, 0.2, 0.3]) + seeds("gan", W1, [0.5, 0.6, 0.7], first_seed=3, steps=200)
    verdict = judge(seeds("gan", W1, [0.1, 0.2, 0.3]), cand)
    assert [r.verdict for r in verdict.rows] == ["unchanged", "new"] and verdict.exit_code == 0
    other = verdict.rows[1]
    assert other.candidate_mean == pytest.approx(0.6) and other.settings_id != verdict.rows[0].settings_id
    assert "the other run has it at other settings" in other.note
    assert verdict.differing == {}, "no baseline row went missing: nothing to explain"


def test_only_ok_values_are_compared() -> None:
    # Candidate seed 2 diverged: its row is judged on seeds 0 and 1 (w1 0.1, 0.1; 2 values), noted.
    cand = seeds("gan", W1, [0.1, 0.1]) + [record("gan", 2, {W1: 0.0}, status="diverged")]
    row = only(judge(seeds("gan", W1, [0.1, 0.1, 0.1]), cand))
    assert (row.n_baseline, row.n_candidate, row.candidate_mean) == (3, 2, pytest.approx(0.1))
    assert "candidate: gan__ring-8__seed2 diverged (not compared)" in row.note
    # Every candidate job diverged: nothing to compare, and that is a regression, not a pass.
    cand = [record("gan", s, {W1: 0.0}, status="diverged") for s in range(3)]
    verdict = judge(seeds("gan", W1, [0.1, 0.1, 0.1]), cand)
    row = only(verdict)
    assert (row.verdict, row.n_candidate, row.candidate_mean) == ("regressed", 0, None)
    assert "no candidate job finished ok" in row.note and verdict.exit_code == 1


def test_rows_come_in_registry_order_and_markdown_lists_failures_first() -> None:
    base = (
        seeds("wgan", W1, [0.10, 0.11, 0.12])  # -> 0.20.. regressed
        + seeds("gan", MC, [5, 6, 7])  # -> 8, 8, 8 improved
        + seeds("gan", W1, [0.1, 0.1, 0.1])  # -> same, unchanged
        + seeds("gan", KL, [0.1, 0.1, 0.1])  # only in the baseline, missing
    )
    cand = (
        seeds("wgan", W1, [0.20, 0.21, 0.22])
        + seeds("gan", MC, [8, 8, 8])
        + seeds("gan", W1, [0.1, 0.1, 0.1])
    )
    verdict = judge(base, cand)
    assert [(r.method, r.metric, r.verdict) for r in verdict.rows] == [
        ("gan", MC, "improved"),
        ("gan", KL, "missing"),
        ("gan", W1, "unchanged"),
        ("wgan", W1, "regressed"),
    ]
    markdown = to_markdown(verdict)
    assert (
        markdown.splitlines()[0]
        == "**ganbench compare**: FAIL: 1 regressed, 1 missing, 1 improved, 1 unchanged"
    )
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.rsplit("|", 2)[-2].strip() for line in table] == [
        "regressed",
        "missing",
        "improved",
        "unchanged",
    ]
    assert "| method | dataset | metric | baseline | candidate | change | p | verdict |" in markdown
    assert "| gan | ring-8 | modes-covered | 6 (n=3) | 8 (n=3) | +2 (+33.3%) | 0.1 | improved |" in markdown
    assert "| wgan | ring-8 | w1 | 0.11 (n=3) | 0.21 (n=3) | +0.1 (+90.9%) | 0.1 | regressed |" in markdown
    assert "| gan | ring-8 | reverse-kl | 0.1 (n=3) | — | — | — | missing |" in markdown
    payload = json.loads(to_json(verdict))
    assert payload["summary"] == {"improved": 1, "unchanged": 1, "regressed": 1, "missing": 1, "new": 0}
    assert payload["exit_code"] == 1 and payload["alpha"] == 0.1
    wgan = payload["rows"][-1]
    assert (wgan["method"], wgan["verdict"], wgan["n_baseline"]) == ("wgan", "regressed", 3)
    assert wgan["change"] == pytest.approx(0.1) and payload["rows"][1]["candidate_mean"] is None


def test_bad_thresholds_are_refused() -> None:
    base = records_frame(seeds("gan", W1, [0.1]))
    for kw in ({"alpha": 0.0}, {"alpha": 1.5}, {"rel_tol": -0.1}, {"abs_tol": float("nan")}):
        with pytest.raises(GanbenchError):
            compare(base, base, Judging(**kw))


def test_registered_metrics_declare_their_tolerances() -> None:
    declared = {name: (METRICS.get(name).rel_tol, METRICS.get(name).abs_tol) for name in (MC, HQ, KL, W1)}
    assert declared == {MC: (0.0, 1.0), HQ: (0.0, 0.02), KL: (0.1, 0.02), W1: (0.05, 0.01)}


@pytest.mark.parametrize("tolerances", [{"rel_tol": -0.1}, {"abs_tol": -1.0}, {"rel_tol": float("nan")}])
def test_a_metric_with_a_negative_or_nan_tolerance_cannot_register(tolerances: dict[str, float]) -> None:
    from ganbench.metrics.base import register_metric

    with pytest.raises(ValueError, match="tolerances must be >= 0"):
        register_metric("bad-tolerance", "x", higher_is_better=True, unit="", modality="points", **tolerances)
    assert "bad-tolerance" not in METRICS


# --- input ---


def test_run_folder_and_records_csv_give_the_same_verdict(tmp_path: Path) -> None:
    base, cand = seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.20, 0.21, 0.22])
    from_folders = compare_runs(write_run(tmp_path / "a", base), write_run(tmp_path / "b", cand))
    from_csv = compare_runs(write_csv(tmp_path / "a.csv", base), write_csv(tmp_path / "b.csv", cand))
    assert from_folders == from_csv and only(from_csv).verdict == "regressed"
    assert len(load_rows(tmp_path / "a")) == len(load_rows(tmp_path / "a.csv")) == 3


def test_unusable_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GanbenchError, match="not found"):
        load_rows(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanbenchError, match="no job records"):
        load_rows(tmp_path / "empty")
    bad = tmp_path / "summary.csv"
    bad.write_text("method,dataset,metric,mean\ngan,ring-8,w1,0.1\n", encoding="utf-8")
    with pytest.raises(GanbenchError, match="incompatible schema: missing columns value, status, config"):
        load_rows(bad)
    (tmp_path / "blank.csv").write_text("", encoding="utf-8")
    with pytest.raises(GanbenchError, match="unreadable records file"):
        load_rows(tmp_path / "blank.csv")


# --- the command and its exit codes ---


def _cli(tmp_path: Path, base: list[Record], cand: list[Record], *args: str) -> Any:
    baseline, candidate = write_run(tmp_path / "baseline", base), write_run(tmp_path / "candidate", cand)
    return CliRunner().invoke(app, ["compare", str(baseline), str(candidate), *args])


def test_cli_exit_0_when_nothing_regressed(tmp_path: Path) -> None:
    result = _cli(tmp_path, seeds("gan", MC, [5, 6, 7]), seeds("gan", MC, [8, 8, 8]))
    assert result.exit_code == 0, result.output
    assert "PASS: 0 regressed, 0 missing, 1 improved, 0 unchanged" in result.output
    assert (
        result.output.rstrip().splitlines()[-1]
        == "ganbench compare: PASS: 0 regressed, 0 missing, 1 improved, 0 unchanged"
    )


def test_cli_exit_1_when_something_regressed(tmp_path: Path) -> None:
    result = _cli(tmp_path, seeds("gan", W1, [0.10, 0.11, 0.12]), seeds("gan", W1, [0.20, 0.21, 0.22]))
    assert result.exit_code == 1, result.output
    assert (
        "| gan | ring-8 | w1 | 0.11 (n=3) | 0.21 (n=3) | +0.1 (+90.9%) | 0.1 | regressed |" in result.output
    )


def test_cli_json_and_overrides(tmp_path: Path) -> None:
    # -1 mode is within the registered 1-mode tolerance but beyond --abs-tol 0.5.
    args = ("--json", "--abs-tol", "0.5", "--rel-tol", "0")
    result = _cli(tmp_path, seeds("gan", MC, [8, 8, 8]), seeds("gan", MC, [7, 7, 7]), *args)
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["abs_tol"] == 0.5 and payload["rows"][0]["verdict"] == "regressed"
    assert payload["rows"][0]["change"] == -1.0


def test_cli_exit_2_for_an_unreadable_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")])
    assert result.exit_code == 2 and "error: not found" in result.output
    folder = write_run(tmp_path / "broken", seeds("gan", W1, [0.1]))
    (folder / "jobs" / "gan__ring-8__seed0.json").write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["compare", str(folder), str(folder)])
    assert result.exit_code == 2 and "error: unreadable job record" in result.output
    assert "Traceback" not in result.output


def test_cli_exit_2_for_no_rows_in_common(tmp_path: Path) -> None:
    result = _cli(tmp_path, seeds("gan", W1, [0.1]), seeds("wgan", W1, [0.1]))
    assert result.exit_code == 2
    assert "error: no rows in common between baseline and candidate" in result.output
    assert "methods gan" in result.output and "methods wgan" in result.output


def test_cli_exit_2_for_an_incompatible_csv(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "records.csv", seeds("gan", W1, [0.1]))
    bad = tmp_path / "summary.csv"
    bad.write_text("method,dataset,metric,mean\ngan,ring-8,w1,0.1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["compare", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: incompatible schema: missing columns value, status, config in {bad} "
        "(expected records.csv as `ganbench run` or `ganbench report` writes it)"
    )


# --- --fail-if: a metric's own percentage threshold ---


def test_fail_if_parses_metric_sign_and_percent() -> None:
    assert parse_fail_if(["w1:+10%", "train-img-per-s:-5%"]) == {
        "w1": Threshold(1, 0.10),
        "train-img-per-s": Threshold(-1, 0.05),
    }
    for bad in ("w1:10%", "w1+10%", "w1:+10", "w1:+ten%", ":+1%"):
        with pytest.raises(GanbenchError, match="is not METRIC:\\+N% or METRIC:-N%"):
            parse_fail_if([bad])
    with pytest.raises(GanbenchError, match="given twice"):
        parse_fail_if(["w1:+1%", "w1:-1%"])


def test_fail_if_replaces_the_tolerance_and_sets_the_failing_direction() -> None:
    # W1 0.100 -> 0.115 (+15%; every candidate seed above every baseline seed: p = 0.1) is within
    # the metric's tolerance? No: 0.015 > max(0.01, 5% of 0.1). With w1:+20% it is within the bar.
    base = seeds("gan", W1, [0.099, 0.100, 0.101])
    up = seeds("gan", W1, [0.114, 0.115, 0.116])
    assert only(judge(base, up)).verdict == "regressed"
    assert only(judge(base, up, fail_if={"w1": Threshold(1, 0.20)})).verdict == "unchanged"
    assert only(judge(base, up, fail_if={"w1": Threshold(1, 0.10)})).verdict == "regressed"
    # -15%: an improvement for w1:+10% (the failing direction is up), a regression for w1:-10%.
    down = seeds("gan", W1, [0.084, 0.085, 0.086])
    assert only(judge(base, down, fail_if={"w1": Threshold(1, 0.10)})).verdict == "improved"
    assert only(judge(base, down, fail_if={"w1": Threshold(-1, 0.10)})).verdict == "regressed"
    # The significance test still applies: overlapping seeds are not a change, whatever the percentage.
    noisy = seeds("gan", W1, [0.05, 0.30, 0.09])
    assert only(judge(base, noisy, fail_if={"w1": Threshold(1, 0.10)})).verdict == "unchanged"
    with pytest.raises(GanbenchError, match="--fail-if: metric 'w2' is in neither run"):
        judge(base, up, fail_if={"w2": Threshold(1, 0.1)})


def test_cli_fail_if(tmp_path: Path) -> None:
    base, up = seeds("gan", W1, [0.099, 0.100, 0.101]), seeds("gan", W1, [0.114, 0.115, 0.116])
    assert _cli(tmp_path / "a", base, up, "--fail-if", "w1:+20%").exit_code == 0
    result = _cli(tmp_path / "b", base, up, "--fail-if", "w1:+10%")
    assert (
        result.exit_code == 1 and "--fail-if: a change beyond w1 +10% of the baseline mean" in result.output
    )
    result = _cli(tmp_path / "c", base, up, "--fail-if", "w1:10")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_holm_correction_needs_more_evidence_when_many_rows_are_judged() -> None:
    # Four rows, each 4 vs 4 seeds with every candidate value beyond every baseline value: raw p is
    # 2 / C(8, 4) = 2/70 = 0.0286 per row, so each row regresses at alpha 0.1 on its own. Holm
    # multiplies the smallest of 4 equal p-values by 4: 0.114 > 0.1, so none does.
    base = [r for m in ("gan", "wgan", "wgan-gp", "gan-ns") for r in seeds(m, W1, [0.10, 0.11, 0.12, 0.13])]
    cand = [r for m in ("gan", "wgan", "wgan-gp", "gan-ns") for r in seeds(m, W1, [0.50, 0.51, 0.52, 0.53])]
    plain = judge(base, cand)
    assert [row.verdict for row in plain.rows] == ["regressed"] * 4
    assert plain.rows[0].p_value == pytest.approx(2 / 70)
    corrected = judge(base, cand, correction="holm")
    assert corrected.family == 4
    assert [row.verdict for row in corrected.rows] == ["unchanged"] * 4
    assert [row.p_value for row in corrected.rows] == [pytest.approx(8 / 70)] * 4
    assert corrected.exit_code == 0
    # 8 vs 8 seeds reach 2 / C(16, 8) = 1.55e-4 a row: x 4 rows is 6.2e-4, far below 0.1.
    base8 = [
        r
        for m in ("gan", "wgan", "wgan-gp", "gan-ns")
        for r in seeds(m, W1, [0.1 + i / 100 for i in range(8)])
    ]
    cand8 = [
        r
        for m in ("gan", "wgan", "wgan-gp", "gan-ns")
        for r in seeds(m, W1, [0.5 + i / 100 for i in range(8)])
    ]
    strong = judge(base8, cand8, correction="holm")
    assert [row.verdict for row in strong.rows] == ["regressed"] * 4
    assert strong.rows[0].p_value == pytest.approx(4 * 2 / 12870)
    assert "Holm-adjusted over 4 rows" in to_markdown(strong)
    assert json.loads(to_json(strong))["correction"] == "holm"


def test_holm_says_when_the_family_is_too_large_to_reach_alpha() -> None:
    # 3 vs 3 seeds: the smallest p is 0.1; over 2 rows Holm makes it 0.2, which can never meet 0.1.
    base = seeds("gan", W1, [0.1, 0.11, 0.12]) + seeds("wgan", W1, [0.1, 0.11, 0.12])
    cand = seeds("gan", W1, [0.5, 0.51, 0.52]) + seeds("wgan", W1, [0.5, 0.51, 0.52])
    verdict = judge(base, cand, correction="holm")
    assert len(verdict.untestable) == 2
    assert "over 2 rows, Holm" in verdict.rows[0].note and "never judged changed" in verdict.rows[0].note
    with pytest.raises(GanbenchError, match="correction must be one of none, holm"):
        judge(base, cand, correction="bonferroni")


def test_cli_correction(tmp_path: Path) -> None:
    base = seeds("gan", W1, [0.10, 0.11, 0.12, 0.13]) + seeds("wgan", W1, [0.10, 0.11, 0.12, 0.13])
    cand = seeds("gan", W1, [0.50, 0.51, 0.52, 0.53]) + seeds("wgan", W1, [0.50, 0.51, 0.52, 0.53])
    assert _cli(tmp_path, base, cand).exit_code == 1  # raw p 0.0286 per row
    held = _cli(tmp_path, base, cand, "--correction", "holm")  # 2 x 0.0286 = 0.057 <= 0.1: still caught
    assert held.exit_code == 1 and "Holm-adjusted over 2 rows" in held.output


def test_a_metric_not_computable_on_both_sides_is_unchanged_not_missing() -> None:
    na = "n/a: FlopCounterMode cannot trace the gradient penalty"

    def flops(seed: int, value: float, note: str = "") -> Record:
        result = record("wgan-gp", seed, {W1: value})
        result.metrics[W1] = dataclasses.replace(result.metrics[W1], note=note)
        return result

    base = [flops(s, float("nan"), na) for s in range(3)]
    verdict = judge(base, [flops(s, float("nan"), na) for s in range(3)])
    assert only(verdict).verdict == "unchanged" and verdict.exit_code == 0
    assert "n/a on both sides: FlopCounterMode cannot trace the gradient penalty" in only(verdict).note
    # A value the baseline had and the candidate lost is a regression, not "not applicable".
    lost = judge([flops(s, 1.0) for s in range(3)], [flops(s, float("nan"), na) for s in range(3)])
    assert only(lost).verdict == "regressed"
    # NaN without the n/a note is a job that gave no value: nothing to compare on either side.
    assert only(judge([flops(0, float("nan"))], [flops(0, float("nan"))])).verdict == "missing"


# --- a summary a CI job can show: the ci suite's committed baseline ---

CI_BASELINE = Path(__file__).parents[1] / ".ci" / "baseline" / "ci"


def _flagged_keys(records: list[Record]) -> dict[str, list[str]]:
    """Per method, the keys of its flagged jobs."""
    found: dict[str, list[str]] = {}
    for rec in records:
        if rec.flags:
            found.setdefault(rec.method, []).append(rec.key)
    return found


def _assert_short_summary(output: str) -> None:
    lines = output.splitlines()
    assert len(output.encode("utf-8")) < 3000, f"{len(output.encode('utf-8'))} bytes"
    assert max(len(line) for line in lines) <= 200
    assert not any(line.startswith("Flagged seeds") for line in lines)


def _short_compare(args: list[str], exit_code: int) -> tuple[Result, list[str]]:
    """`ganbench compare ARGS`: its exit code checked, its output a short summary; the output's lines."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exit_code, result.output
    _assert_short_summary(result.output)
    return result, result.output.splitlines()


@pytest.mark.e2e
def test_the_ci_summary_counts_flagged_seeds_per_method_and_verbose_lists_them(tmp_path: Path) -> None:
    records = RunStore(CI_BASELINE).records()
    flagged = _flagged_keys(records)
    assert flagged, "the ci suite's jobs are flagged off-modes (docs/pages/ci/ci-suite.md): this test's case"
    args = ["compare", str(CI_BASELINE), str(CI_BASELINE), "--correction", "holm"]
    result, lines = _short_compare(args, 0)
    assert lines[0] == "**ganbench compare**: PASS: 0 regressed, 0 missing, 0 improved, 15 unchanged"
    for method, keys in flagged.items():
        n = sum(rec.method == method for rec in records)
        counts = f"{len(keys)} of {n} off-modes"
        assert f"- {method} ring-8: baseline {counts}; candidate {counts}" in lines
        assert not any(key in result.output for key in keys), "the short summary counts, never lists"
    verbose = CliRunner().invoke(app, [*args, "--verbose"])
    assert verbose.exit_code == 0
    for method, keys in flagged.items():
        assert f"- {method} ring-8, baseline, off-modes: {', '.join(keys)}" in verbose.output
        assert f"- {method} ring-8, candidate, off-modes: {', '.join(keys)}" in verbose.output
    # The JSON is data, not a summary: every flagged job, per side.
    payload = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).output)
    listed = {found["method"]: found["baseline"]["off-modes"] for found in payload["flagged"]}
    assert listed == flagged and all(row["note"] == "" for row in payload["rows"])


@pytest.mark.e2e
def test_a_regressed_ci_candidate_shows_the_verdict_and_its_rows_first(tmp_path: Path) -> None:
    # The baseline's records with WGAN's W1 tripled on every seed: a regression Holm's correction sees.
    records = RunStore(CI_BASELINE).records()
    candidate = []
    for rec in records:
        rec = dataclasses.replace(rec, metrics=dict(rec.metrics))
        if rec.method == "wgan":
            rec.metrics[W1] = dataclasses.replace(rec.metrics[W1], value=3 * rec.metrics[W1].value)
        candidate.append(rec)
    folder = write_run(tmp_path / "candidate", candidate)
    args = ["compare", str(CI_BASELINE), str(folder), "--correction", "holm"]
    _, lines = _short_compare(args, 1)
    assert lines[0] == "**ganbench compare**: FAIL: 1 regressed, 0 missing, 0 improved, 14 unchanged"
    assert lines[2].startswith("| method |") and lines[4].startswith("| wgan | ring-8 | w1 |")
    assert lines[4].endswith("| regressed |")
    assert lines[-1] == "ganbench compare: FAIL: 1 regressed, 0 missing, 0 improved, 14 unchanged"
    verbose = CliRunner().invoke(app, [*args, "--verbose"]).output
    assert all(key in verbose for keys in _flagged_keys(records).values() for key in keys)
