"""Every upper bound ganbench enforces, defined once: suites, `eval`, kept generators, checkpoints, tables.

Each bound is far above any published protocol, so a value beyond it is a typo or a hostile file,
refused with one line before anything is created rather than dying mid-run (docs/pages/reference/exit-codes.md
holds the table of them).
"""

from __future__ import annotations

# Network and batch sizes (training and throughput suites, kept generators' settings alike).
MAX_BATCH = 65_536
MAX_LATENT_DIM = 4_096
MAX_WIDTH = 16_384
MAX_DEPTH = 64
MAX_PACK = 64  # PacGAN's packing degree; the paper packs at most 4
MAX_N_CRITIC = 100

# Budgets.
MAX_STEPS = 10_000_000  # 25x PacGAN's 400,000, the longest protocol here; loss logs grow with steps
MAX_SAMPLES = 1_000_000  # 20x the 50,000 samples of the standard FID protocol; `eval --samples` files too
MAX_SEEDS = 1_000  # `run --seeds`, `eval --seeds`, a suite's `seeds`
MAX_FIRST_SEED = 1_000_000
MAX_JOBS = 100_000  # methods x datasets x seeds (x sweep points)
# No tensor of samples may exceed this (images x channels x side^2 x 4 bytes): 32 GiB.
MAX_TENSOR_BYTES = 32 * 2**30

# Images: memory grows with the side squared; 1024 is the largest side GAN benchmarks use (FFHQ,
# CelebA-HQ). An image file is refused from its header, before it is decoded, when it claims more
# pixels than this: 4x a 1024^2 image, so a photo a `folder` dataset crops and resizes still loads.
MAX_IMAGE_SIZE = 1024
MAX_IMAGE_PIXELS = 4 * 1024 * 1024

# Mixture scales: squared distances stay inside float32.
MAX_SCALE = 1e6

# Published tables: a printed mean or spread beyond this is a typo (and squaring it overflows float64
# in Welch's test, whose variances are spread^2 x runs).
MAX_PUBLISHED_VALUE = 1e100

# Figures: matplotlib's tick and layout arithmetic overflows float64 on an axis that reaches 1e308 (a
# stored metric value of 1e308 crashed `report`); a value beyond this, in magnitude, is left out of the
# figures with a note in the caption (the tables still show it). Its square stays finite, so the
# standard-deviation bands of values within it do too.
MAX_PLOTTED_VALUE = 1e100
