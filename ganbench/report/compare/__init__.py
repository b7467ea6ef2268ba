"""`ganbench compare BASELINE CANDIDATE`: load two runs, judge each row against noise, render the verdict."""

from ganbench.report.compare.criteria import CORRECTIONS, FAIL_IF, Judging, Threshold, parse_fail_if
from ganbench.report.compare.judge import compare, compare_runs
from ganbench.report.compare.load import REQUIRED_COLUMNS, load_rows
from ganbench.report.compare.render import to_json, to_markdown
from ganbench.report.compare.sides import UNMATCHED_CONFIG_KEYS, row_settings, settings_id
from ganbench.report.compare.significance import DEFAULT_ALPHA, EXACT_MAX_N, smallest_p_value
from ganbench.report.compare.verdict import (
    EXIT_OK,
    EXIT_REGRESSED,
    JUDGEMENTS,
    FlaggedSeeds,
    Judgement,
    RowVerdict,
    Verdict,
)

__all__ = [
    "CORRECTIONS",
    "DEFAULT_ALPHA",
    "EXACT_MAX_N",
    "EXIT_OK",
    "EXIT_REGRESSED",
    "FAIL_IF",
    "JUDGEMENTS",
    "REQUIRED_COLUMNS",
    "UNMATCHED_CONFIG_KEYS",
    "FlaggedSeeds",
    "Judgement",
    "Judging",
    "RowVerdict",
    "Threshold",
    "Verdict",
    "compare",
    "compare_runs",
    "load_rows",
    "parse_fail_if",
    "row_settings",
    "settings_id",
    "smallest_p_value",
    "to_json",
    "to_markdown",
]
