"""The convergence flags of each method x dataset x settings, gathered from both sides' jobs."""

from __future__ import annotations

from ganbench.metrics.validity import FLAGS
from ganbench.report.compare.sides import Group, Key, Side, registry_rank, settings_id
from ganbench.report.compare.verdict import FlaggedSeeds


def flagged_seeds(base: dict[Key, Side], cand: dict[Key, Side]) -> tuple[FlaggedSeeds, ...]:
    """Per method x dataset x settings with a flagged job on either side (in registry order): each
    side's ok jobs and, per flag, its flagged jobs, gathered over the group's rows (its metrics)."""

    def gather(sides: dict[Key, Side]) -> tuple[dict[Group, dict], dict[Group, dict]]:
        jobs: dict[Group, dict[str, None]] = {}
        flags: dict[Group, dict[str, dict[str, None]]] = {}
        for key, side in sides.items():
            group = (key[0], key[1], key[3])
            jobs.setdefault(group, {}).update(dict.fromkeys(side.jobs))
            for job, flag in side.flagged:
                flags.setdefault(group, {}).setdefault(flag, {})[job] = None
        return jobs, flags

    def in_order(flags: dict[str, dict[str, None]]) -> dict[str, tuple[str, ...]]:
        return {flag: tuple(flags[flag]) for flag in sorted(flags, key=_flag_rank)}

    (b_jobs, b_flags), (c_jobs, c_flags) = gather(base), gather(cand)
    groups = sorted(b_flags.keys() | c_flags.keys(), key=lambda g: registry_rank((g[0], g[1], "", g[2])))
    return tuple(
        FlaggedSeeds(
            method,
            dataset,
            settings_id(settings),
            len(b_jobs.get((method, dataset, settings), {})),
            len(c_jobs.get((method, dataset, settings), {})),
            in_order(b_flags.get((method, dataset, settings), {})),
            in_order(c_flags.get((method, dataset, settings), {})),
        )
        for method, dataset, settings in groups
    )


def _flag_rank(flag: str) -> tuple[int, str]:
    """The FLAGS order (new flags, then older runs' ones); a flag unknown to this version after, by name."""
    return (FLAGS.index(flag), "") if flag in FLAGS else (len(FLAGS), flag)
