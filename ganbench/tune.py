"""Tuning at an equal budget: a suite's `[tune]` table, the random search it draws, and the choice.

Lucic et al. 2018 ("Are GANs Created Equal?") compare GANs at an equal tuning budget: every method
gets the same number of hyperparameter configurations from a declared search space, settings are
chosen on seeds that are not reported, and only then are methods compared on fresh seeds. Here every
method gets `configurations` settings: the suite's own for it (its paper's, or its `[method.NAME]`
table) and `configurations - 1` drawn from its `[tune.space.NAME]` (log-uniform or uniform ranges,
or lists to choose from) as a Latin hypercube, so that a few draws still cover the space; all of
them train `seeds` tuning seeds on every dataset at the suite's budget. The rule `select` ranks
configurations by the mean of each metric over datasets and tuning seeds, in order (the next metric
breaks ties), each in its own direction (`on-modes`, the share of jobs not flagged off-modes,
counts as a metric, higher better); a configuration with a diverged or failed job ranks below every
complete one. Configurations whose settings differ only in per-member values (step sizes, betas,
penalty weights) train as one stacked model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ganbench.config import at_least, at_most, build, check_field, valid_keys
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.metrics.validity import OFF_MODES
from ganbench.models import METHODS, Hyperparameters
from ganbench.models.base import identity
from ganbench.registry import suggest

MAX_CONFIGURATIONS = 256
# Drawn numbers keep two significant digits (1.2e-3, not 1.2345e-3): a setting a person can read,
# write into a suite and label a job with; a finer step changes nothing a search of 8-32 could see.
DIGITS = 2
RangeKind = Literal["log_uniform", "uniform", "choice"]
# A rule entry besides the metrics: the share of a configuration's jobs whose samples reach the modes
# (not flagged off-modes, ganbench.metrics.validity). Modes covered and reverse KL count stray samples
# of a generator whose samples lie off the mixture, so such a configuration can look best on them.
ON_MODES = "on-modes"
TUNING_FILE, TUNING_TABLE = "tuning.json", "tuning.md"


@dataclass(frozen=True)
class Range:
    """Where a setting's values are drawn from: a log-uniform or uniform interval, or a list."""

    kind: RangeKind
    values: tuple[Any, ...]  # (low, high) for intervals; the choices for a list

    def draw(self, rng: random.Random, stratum: int = 0, strata: int = 1) -> Any:
        """A value from stratum `stratum` of `strata` equal parts of the range (a list's values are
        dealt in turn: stratum k takes value k mod len), at random within it."""
        if self.kind == "choice":
            return self.values[stratum % len(self.values)] if strata > 1 else rng.choice(self.values)
        low, high = self.values
        share = (stratum + rng.random()) / strata
        if self.kind == "log_uniform":
            value = math.exp(math.log(low) + share * (math.log(high) - math.log(low)))
        else:
            value = low + share * (high - low)
        return float(f"{value:.{DIGITS}g}")

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(str(v) for v in self.values)
        return f"{self.kind.replace('_', '-')} in [{self.values[0]:g}, {self.values[1]:g}]"


@dataclass(frozen=True)
class _TuneTop:
    """`[tune]`'s own keys (the space is `[tune.space.METHOD]`)."""

    configurations: int = field(default=8, metadata=at_least(1) | at_most(MAX_CONFIGURATIONS))
    seeds: int = field(default=2, metadata=at_least(1) | at_most(100))
    first_seed: int = field(default=1000, metadata=at_least(0) | at_most(1_000_000))
    draw_seed: int = field(default=0, metadata=at_least(0))


@dataclass(frozen=True)
class TuneSettings:
    """A validated `[tune]` table: the equal budget, the tuning seeds, the rule and the space."""

    configurations: int
    seeds: int
    first_seed: int
    select: tuple[str, ...]
    space: Mapping[str, Mapping[str, Range]]  # method -> setting -> range
    draw_seed: int = 0

    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)


def parse_tune(
    table: Mapping[str, Any], methods: tuple[str, ...], metrics: tuple[str, ...], where: str
) -> TuneSettings:
    """Validate `[tune]`: every error names the key."""
    if not isinstance(table, dict):
        raise GanbenchError(f"{where} must be a table")
    keys = sorted({f.name for f in dataclasses.fields(_TuneTop)} | {"select", "space"})
    for key in table:
        if key not in keys:
            raise GanbenchError(f"{where}: unknown key '{key}'{suggest(key, keys)}; {valid_keys(keys)}")
    top = build(_TuneTop, {k: v for k, v in table.items() if k not in ("select", "space")}, where)
    select = table.get("select")
    if not isinstance(select, list) or not select or not all(isinstance(s, str) for s in select):
        raise GanbenchError(
            f"{where}.select must be a non-empty list of metric names (or '{ON_MODES}'), in order of priority"
        )
    for name in select:
        if name == ON_MODES:
            continue
        METRICS.get(name)
        if name not in metrics:
            raise GanbenchError(f"{where}.select: metric '{name}' is not one the suite computes")
    space_table = table.get("space", {})
    if not isinstance(space_table, dict):
        raise GanbenchError(f"{where}.space must be a table of [tune.space.METHOD] tables")
    space = {}
    for method, settings in space_table.items():
        METHODS.get(method)
        if method not in methods:
            raise GanbenchError(f"{where}.space.{method}: the suite does not run method '{method}'")
        if not isinstance(settings, dict):
            raise GanbenchError(f"{where}.space.{method} must be a table of settings")
        space[method] = {
            name: _parse_range(value, f"{where}.space.{method}.{name}", name)
            for name, value in settings.items()
        }
    missing = [m for m in methods if m not in space]
    if top.configurations > 1 and missing:
        raise GanbenchError(
            f"{where}: no [tune.space.{missing[0]}]: every method spends the same budget of "
            f"{top.configurations} configurations, so each needs a space to draw them from"
        )
    return TuneSettings(top.configurations, top.seeds, top.first_seed, tuple(select), space, top.draw_seed)


def _parse_range(value: Any, where: str, name: str) -> Range:
    fields = [f.name for f in dataclasses.fields(Hyperparameters)]
    if name not in fields or name == "architecture":
        tunable = [f for f in fields if f != "architecture"]
        raise GanbenchError(
            f"{where}: unknown setting '{name}'{suggest(name, tunable)}; {valid_keys(tunable)}"
        )
    if isinstance(value, list):
        if not value:
            raise GanbenchError(f"{where}: a list of values to choose from must not be empty")
        checked = tuple(check_field(where, v, Hyperparameters, name) for v in value)
        if len(set(checked)) != len(checked):
            raise GanbenchError(f"{where} lists a value twice")
        return Range("choice", checked)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, bounds),) = value.items()
        if kind in ("log_uniform", "uniform") and isinstance(bounds, list) and len(bounds) == 2:
            if isinstance(getattr(Hyperparameters(), name), int):
                raise GanbenchError(f"{where}: '{name}' is a whole number: give a list of values")
            low, high = (check_field(where, float(b), Hyperparameters, name) for b in bounds)
            if not low < high or (kind == "log_uniform" and low <= 0):
                raise GanbenchError(
                    f"{where}: {kind} needs 0 < low < high"
                    if kind == "log_uniform"
                    else f"{where}: uniform needs low < high"
                )
            return Range(kind, (low, high))
    raise GanbenchError(
        f"{where}: give a list of values, {{log_uniform = [low, high]}} or {{uniform = [low, high]}}"
    )


def configurations(base: Hyperparameters, method: str, tune: TuneSettings) -> tuple[Hyperparameters, ...]:
    """The method's `tune.configurations` settings: `base` (the suite's own) first, then distinct draws
    from its space (its own random stream, so adding a method leaves the others' draws as they were).

    The draws are a Latin hypercube (McKay et al. 1979): each setting's range is cut into as many equal
    parts as there are draws (log-equal for log-uniform ranges; a list's values dealt in turn), each
    part is drawn once, and the parts are paired across settings at random. Eight plain random draws
    can all land in one corner (a step size never above 5e-4 in a range up to 3e-3); these cannot, so
    every method's search covers its space alike. A draw equal to an earlier one is drawn again at
    random.
    """
    space = tune.space.get(method, {})
    rng = random.Random(f"{tune.draw_seed}:{method}")
    n = tune.configurations - 1
    order = {name: rng.sample(range(n), n) for name in space}
    found = [base]
    for i in range(n):
        candidate = dataclasses.replace(base, **{k: r.draw(rng, order[k][i], n) for k, r in space.items()})
        if candidate not in found:
            found.append(candidate)
    for _ in range(100 * tune.configurations):
        if len(found) == tune.configurations:
            break
        candidate = dataclasses.replace(base, **{name: r.draw(rng) for name, r in space.items()})
        if candidate not in found:
            found.append(candidate)
    if len(found) < tune.configurations:
        raise GanbenchError(
            f"tune.space.{method} holds only {len(found)} distinct settings (with the suite's own); "
            f"tune.configurations asks for {tune.configurations}: widen the space or ask for fewer"
        )
    return tuple(found)


def check_seeds(tune: TuneSettings, first_seed: int, seeds: int, where: str) -> None:
    """Tuning seeds must be apart from the reported ones: settings chosen on a seed would flatter it."""
    reported = range(first_seed, first_seed + seeds)
    shared = sorted(set(tune.seed_range()) & set(reported))
    if shared:
        raise GanbenchError(
            f"{where}: tuning seeds {tune.first_seed}-{tune.seed_range()[-1]} overlap the reported seeds "
            f"{first_seed}-{reported[-1]} (shared: {shared[0]}{'...' if len(shared) > 1 else ''}); "
            "move tune.first_seed or --first-seed"
        )


@dataclass
class Scored:
    """One configuration of a method with its scores on the tuning seeds."""

    index: int  # 1 is the suite's own setting
    hyperparameters: Hyperparameters
    means: dict[str, float]  # metric -> mean over datasets and tuning seeds
    stds: dict[str, float]
    complete: bool  # every job ok (none diverged or failed)
    jobs: int
    flags: int = 0  # jobs with convergence flags

    def changes(self, base: Hyperparameters) -> dict[str, Any]:
        """The settings in which it differs from `base`."""
        own, other = dataclasses.asdict(self.hyperparameters), dataclasses.asdict(base)
        return {k: v for k, v in own.items() if other[k] != v}


def rank_key(scored: Scored, select: tuple[str, ...], better_high: Mapping[str, bool]) -> tuple:
    """Sort key, best first: complete configurations first, then each metric of the rule in turn
    (its mean, in its direction; a missing mean ranks last), then the configuration's index."""
    key: list[Any] = [not scored.complete]
    for name in select:
        value = scored.means.get(name, math.nan)
        if math.isnan(value):
            key += [1, 0.0]
        else:
            key += [0, -value if better_high[name] else value]
    return (*key, scored.index)


def score_configurations(
    records: list[Any], tried: tuple[Hyperparameters, ...], select: tuple[str, ...]
) -> list[Scored]:
    """Each configuration's means and spreads over its records (run.records.Record of one method)."""
    # Records by their settings, read once: not once per configuration (256 x 100,000 at the bounds).
    by_settings: dict[tuple[tuple[str, Any], ...], list[Any]] = {}
    for record in records:
        key = _settings_key(identity(record.config.get("hyperparameters", {})))
        if key is not None:
            by_settings.setdefault(key, []).append(record)
    scored = []
    for index, hp in enumerate(tried, start=1):
        own = by_settings.get(_settings_key(identity(hp)), [])
        means, stds = {}, {}
        for name in select:
            if name == ON_MODES:
                values = [0.0 if OFF_MODES in r.flags else 1.0 for r in own if r.status == "ok"]
            else:
                values = [r.metrics[name].value for r in own if r.status == "ok" and name in r.metrics]
            values = [v for v in values if v is not None and math.isfinite(v)]
            means[name] = sum(values) / len(values) if values else math.nan
            spread = (
                sum((v - means[name]) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
            )
            stds[name] = math.sqrt(spread)
        complete = bool(own) and all(r.status == "ok" for r in own)
        flagged = sum(1 for r in own if r.flags)
        scored.append(Scored(index, hp, means, stds, complete, len(own), flagged))
    return scored


def _settings_key(settings: Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """A key equal for equal settings (as dicts compare), or None where a value is not hashable (a list
    in a damaged record: no configuration, all of whose values are scalars, equals it)."""
    key = tuple(sorted(settings.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _higher_is_better(name: str) -> bool:
    """A rule entry's direction: `on-modes` (a share of jobs on the modes) or the metric's own."""
    return name == ON_MODES or METRICS.get(name).higher_is_better


def choose(scored: list[Scored], select: tuple[str, ...]) -> list[Scored]:
    """The configurations ranked by the rule, best first."""
    better_high = {name: _higher_is_better(name) for name in select}
    return sorted(scored, key=lambda s: rank_key(s, select, better_high))


@dataclass(frozen=True)
class Selection:
    """Every method's scored configurations, ranked, with what the search was."""

    suite: str
    tune: TuneSettings
    reported_seeds: range
    ranked: Mapping[str, list[Scored]]  # method -> configurations, best first
    base: Mapping[str, Hyperparameters]  # method -> the suite's own setting (configuration 1)
    folder: str

    def chosen(self, method: str) -> Hyperparameters:
        return self.ranked[method][0].hyperparameters

    def to_json(self) -> dict[str, Any]:
        tune = self.tune
        return {
            "suite": self.suite,
            "folder": self.folder,
            "rule": list(tune.select),
            "configurations": tune.configurations,
            "tuning_seeds": list(tune.seed_range()),
            "reported_seeds": list(self.reported_seeds),
            "draw_seed": tune.draw_seed,
            "space": {m: {k: r.describe() for k, r in s.items()} for m, s in tune.space.items()},
            "methods": {
                method: {
                    "chosen": ranked[0].index,
                    "configurations": [
                        {
                            "index": s.index,
                            "rank": rank,
                            "changes": s.changes(self.base[method]),
                            "hyperparameters": dataclasses.asdict(s.hyperparameters),
                            "means": s.means,
                            "stds": s.stds,
                            "complete": s.complete,
                            "jobs": s.jobs,
                            "flagged_jobs": s.flags,
                        }
                        for rank, s in enumerate(ranked, start=1)
                    ],
                }
                for method, ranked in self.ranked.items()
            },
        }


def search_suite(suite: Any) -> Any:
    """The jobs of a suite's tuning search: each method at each of its configurations, on the tuning
    seeds (a `ganbench.suite.Suite` without `[tune]`, so the driver runs it like any other)."""
    tune = suite.tune
    if tune is None:
        raise GanbenchError(f"suite '{suite.name}' has no [tune] table: nothing to search")
    tried = {m: configurations(suite.hyperparameters(m), m, tune) for m in suite.methods}
    return dataclasses.replace(
        suite, seeds=tune.seeds, first_seed=tune.first_seed, configurations=tried, tune=None
    )


def select(records: list[Any], suite: Any, search: Any, folder: Path) -> Selection:
    """Rank every method's configurations from the records of `search` (`search_suite(suite)`)."""
    tune = suite.tune
    ranked, base = {}, {}
    for method in search.methods:
        tried = search.configurations[method]
        own = [r for r in records if r.method == method and r.kind == "train"]
        ranked[method] = choose(score_configurations(own, tried, tune.select), tune.select)
        base[method] = tried[0]
    reported = range(suite.first_seed, suite.first_seed + suite.seeds)
    return Selection(suite.name, tune, reported, ranked, base, str(folder))


def _settings_text(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in changes.items()) or "the suite's own"


def markdown(selection: Selection) -> str:
    """Per method: every configuration tried, its scores (mean ± std over datasets and tuning seeds)
    and which one the rule chose."""
    rule = ", then ".join(
        f"{'highest' if _higher_is_better(n) else 'lowest'} mean {n}" for n in selection.tune.select
    )
    tune = selection.tune
    lines = [
        f"# Tuning search: {selection.suite}",
        "",
        f"{tune.configurations} configurations per method (1 = the suite's own setting), tuning seeds "
        f"{tune.first_seed}-{tune.seed_range()[-1]} on every dataset, apart from the reported seeds "
        f"{selection.reported_seeds[0]}-{selection.reported_seeds[-1]}. Rule: {rule}; a configuration "
        "with a diverged or failed job ranks last.",
    ]
    for method, ranked in selection.ranked.items():
        space = tune.space.get(method, {})
        lines += ["", f"## {METHODS.get(method).title}", ""]
        if space:
            lines.append("Space: " + "; ".join(f"{k} {r.describe()}" for k, r in space.items()) + ".")
            lines.append("")
        header = ["rank", "configuration", "settings", *tune.select, "jobs ok", "flagged"]
        lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for rank, s in enumerate(ranked, start=1):
            name = f"**{s.index} (chosen)**" if rank == 1 else str(s.index)
            scores = [
                "n/a" if math.isnan(s.means[n]) else f"{s.means[n]:.3g} ± {s.stds[n]:.2g}"
                for n in tune.select
            ]
            ok = f"{s.jobs if s.complete else 'not all'} of {s.jobs}"
            lines.append(
                "| "
                + " | ".join(
                    [
                        str(rank),
                        name,
                        _settings_text(s.changes(selection.base[method])),
                        *scores,
                        ok,
                        str(s.flags),
                    ]
                )
                + " |"
            )
    return "\n".join(lines) + "\n"


def write(selection: Selection, folder: Path) -> None:
    """`tuning.json` (everything, for machines) and `tuning.md` (the tables, for people) in the run folder."""
    (folder / TUNING_FILE).write_text(json.dumps(selection.to_json(), indent=2) + "\n", encoding="utf-8")
    (folder / TUNING_TABLE).write_text(markdown(selection), encoding="utf-8")


def write_suite(selection: Selection, source: Path, target: Path, name: str | None = None) -> Path:
    """The searched suite as a plain suite whose `[method.NAME]` tables hold the chosen settings, its
    provenance in a header comment; `[tune]` is left out, so running it reports at its own seeds."""
    import tomli_w

    data = tomllib.loads(source.read_text(encoding="utf-8"))
    data.pop("tune", None)
    data["name"] = name or target.stem
    # The search's own description says "search"; the written suite reports chosen settings.
    data["description"] = (
        f"{', '.join(selection.ranked)} on {', '.join(data.get('datasets', []))} at the settings "
        f"chosen by `ganbench tune` from {source.name}"
    )
    methods = {}
    for method in selection.ranked:
        defaults = dataclasses.asdict(METHODS.get(method).defaults)
        chosen = dataclasses.asdict(selection.chosen(method))
        changed = {k: v for k, v in chosen.items() if defaults[k] != v}
        if changed:
            methods[method] = changed
    if methods:
        data["method"] = methods
    else:
        data.pop("method", None)
    tune = selection.tune
    header = [
        f"# Written by `ganbench tune` from {source.name}: each method's setting is the best of its "
        f"{tune.configurations} configurations",
        f"# on tuning seeds {tune.first_seed}-{tune.seed_range()[-1]} (rule: {', then '.join(tune.select)}); "
        f"the search's records are in {selection.folder}",
        f"# ({TUNING_TABLE} there lists every configuration and its scores). Methods without a [method] "
        "table keep their papers' settings.",
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(header) + "\n" + tomli_w.dumps(data), encoding="utf-8")
    return target
