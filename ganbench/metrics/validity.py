"""Convergence verdicts of 2-D jobs: mode-collapse metrics mean something only once samples reach modes.

A job is `undertrained` when its high-quality fraction is below UNDERTRAINED_HQ, and, where training
curves were tracked, `still-improving` when the high-quality fraction rose, or W1 fell, by more
than a stated tolerance over the last 20% of the tracked steps. Tables mark flagged cells,
`compare` lists them and `ganbench run` counts them in its last line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ganbench.metrics.wasserstein import exact_w1

# The tracked curves the verdict reads (ganbench.engine.tracking records them under these names).
HQ_CURVE = "high_quality_fraction"
W1_CURVE = "w1"

UNDERTRAINED = "undertrained"
STILL_IMPROVING = "still-improving"
FLAGS = (UNDERTRAINED, STILL_IMPROVING)
# Table marks and the legend line of each flag.
SYMBOLS = {UNDERTRAINED: "†", STILL_IMPROVING: "‡"}

# Below half of the samples within 3 std of a mode, most samples lie off the mixture: "modes
# covered" then counts stray samples and reverse KL measures the untrained spread, not which modes
# the generator learned. Trained GANs in the VEEGAN and PacGAN tables sit at 0.8 and above.
UNDERTRAINED_HQ = 0.5
# The window is the last 20% of the tracked steps; a rise of the high-quality fraction by more than
# 0.05 (5 points, about three times its binomial std at 1,000 tracking samples and HQ 0.9), or a
# fall of W1 by more than 10% of its value at the window's start *and* by more than W1's noise floor
# (the exact W1 between two independent true samples of the tracking size: near a converged ring,
# W1 itself is sampling noise, and a 10% "fall" of it means nothing), counts as still improving.
WINDOW = 0.2
HQ_RISE = 0.05
W1_FALL = 0.10

LEGEND = {
    UNDERTRAINED: f"high-quality fraction below {UNDERTRAINED_HQ} for some seed (mode metrics compare "
    "untrained generators there)",
    STILL_IMPROVING: f"still improving over the last {WINDOW:.0%} of tracked steps (high-quality "
    f"fraction up by more than {HQ_RISE}, or W1 down by more than {W1_FALL:.0%} and more than its "
    "sampling noise); train longer",
}


def _window_change(steps: Sequence[float], values: Sequence[float]) -> tuple[float, float] | None:
    """(value at the window's start, value at the end) over the last WINDOW of `steps`, or None."""
    if len(steps) < 2 or len(values) != len(steps):
        return None
    start_step = steps[-1] - WINDOW * (steps[-1] - steps[0])
    # The last tracked point at or before the window's start: the curve's value when the window opened.
    start = max(i for i, s in enumerate(steps) if s <= start_step)
    first, last = values[start], values[-1]
    if not (math.isfinite(first) and math.isfinite(last)) or start == len(steps) - 1:
        return None
    return first, last


def w1_noise_floor(first: np.ndarray, second: np.ndarray) -> float:
    """W1 between two independent true samples (n x d each): what W1 reads for a perfect generator."""
    return exact_w1(first, second).value


def verdict(
    high_quality_fraction: float, curves: Mapping[str, Sequence[float]], w1_floor: float = 0.0
) -> list[str]:
    """The flags of one 2-D job from its final high-quality fraction and its tracked curves;
    `w1_floor` is the tracked W1's noise floor (`w1_noise_floor` at the tracking size)."""
    flags = []
    if not high_quality_fraction >= UNDERTRAINED_HQ:
        flags.append(UNDERTRAINED)
    steps = curves.get("step", [])
    hq = _window_change(steps, curves.get(HQ_CURVE, []))
    w1 = _window_change(steps, curves.get(W1_CURVE, []))
    rising = hq is not None and hq[1] - hq[0] > HQ_RISE
    falling = w1 is not None and w1[0] - w1[1] > max(W1_FALL * w1[0], w1_floor)
    if rising or falling:
        flags.append(STILL_IMPROVING)
    return flags
