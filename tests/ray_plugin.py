"""A GANBENCH_PLUGINS module for the Ray tests: methods that raise or kill their worker process."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ganbench.models import METHODS, Method
from ganbench.models.base import Objective
from ganbench.models.objectives import GAN, gan_discriminator_loss


def _raising(d_fake: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("boom in a worker")


def _exiting(times: int):
    """A generator loss that kills its process on the first `times` attempts (counted in a file:
    one line per attempt, written at the attempt's first call)."""
    started = False  # per process: a retried attempt runs in a fresh worker process

    def loss(d_fake: torch.Tensor) -> torch.Tensor:
        nonlocal started
        if not started:
            started = True
            counter = Path(os.environ["GANBENCH_TEST_EXIT_DIR"]) / f"attempts-{times}"
            with counter.open("a") as handle:
                handle.write("attempt\n")
            if len(counter.read_text().splitlines()) <= times:
                os._exit(1)  # a worker dying mid-job, as an OOM kill or a lost node would
        return GAN.generator_loss(d_fake)

    return loss


DEFAULTS = METHODS.get("gan").defaults
METHODS.add(
    "test-raise", Method("test-raise", "raises", Objective(gan_discriminator_loss, _raising), DEFAULTS)
)
METHODS.add(
    "test-exit-once",
    Method("test-exit-once", "dies once", Objective(gan_discriminator_loss, _exiting(1)), DEFAULTS),
)
METHODS.add(
    "test-exit-always",
    Method("test-exit-always", "always dies", Objective(gan_discriminator_loss, _exiting(99)), DEFAULTS),
)
