"""Everything a user can name in a suite or on the command line, with one-line descriptions."""

from __future__ import annotations

from ganbench import plugins
from ganbench.app.suites import load_any
from ganbench.data import DATASETS
from ganbench.metrics import METRICS
from ganbench.metrics.published import load_published, published_names
from ganbench.models import ARCHITECTURES, METHODS
from ganbench.run.executors import EXECUTORS
from ganbench.suite import find_suite, suite_names


def catalog() -> dict[str, list[tuple[str, str]]]:
    """Methods, architectures, datasets, metrics (with direction and unit), executors, shipped suites
    and published tables."""
    plugins.load()
    metrics = []
    for name in METRICS:
        metric = METRICS.get(name)
        direction = "higher is better" if metric.higher_is_better else "lower is better"
        details = ", ".join(filter(None, [metric.unit, direction]))  # unitless scores (FID) have no unit
        metrics.append((name, f"{metric.description} [{details}]"))
    suites = []
    for name in suite_names():
        suite = load_any(str(find_suite(name)))
        suites.append((name, suite.description))
    return {
        "methods": [(n, METHODS.get(n).description) for n in METHODS],
        "architectures": [(n, ARCHITECTURES.get(n).description) for n in ARCHITECTURES],
        "datasets": [(n, DATASETS.get(n).description) for n in DATASETS],
        "metrics": metrics,
        "executors": [(n, EXECUTORS.get(n).description) for n in EXECUTORS],
        "suites": suites,
        "published tables (ganbench report RUN --against NAME)": [
            (n, load_published(n).description) for n in published_names()
        ],
    }
