"""Suite files of either kind: a training suite (ganbench.suite) or a throughput one (ganbench.throughput)."""

from __future__ import annotations

from ganbench.suite import Suite, is_throughput, parse_suite, read_suite
from ganbench.throughput.spec import ThroughputSuite, parse_throughput_suite
from ganbench.tune import search_suite


def load_any(name_or_path: str) -> Suite | ThroughputSuite:
    """Read and validate a suite of either kind, by the file's `kind`; errors name the file and the key."""
    path, data = read_suite(name_or_path)
    if is_throughput(data):
        return parse_throughput_suite(data, str(path))
    return parse_suite(data, str(path), default_name=path.stem)


def validate(name_or_path: str) -> str:
    """`ganbench validate`: the line that says a suite file is valid, what it runs and its [tune] search."""
    suite = load_any(name_or_path)
    search = ""
    if isinstance(suite, Suite) and suite.tune is not None:
        tried = search_suite(suite)
        seeds = suite.tune.seed_range()
        search = f"; its [tune] search: {len(tried.jobs())} jobs ({tried.shape()} {seeds[0]}-{seeds[-1]})"
    return f"ok: {name_or_path}: suite '{suite.name}', {len(suite.jobs())} jobs ({suite.shape()}){search}"
