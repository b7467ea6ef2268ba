"""The dataset registry: what a dataset is, what it offers beyond samples, and how suites name and
parametrize it.

A dataset offers more than `sample` only through the capabilities it declares (`capabilities`, a
class attribute): metrics name the capabilities they need, suites pairing a metric with a dataset
that does not declare one are refused at load, and ganbench's own code (tracking, convergence flags)
asks the declaration, never the dataset's class. A capability names the attributes it promises
(`provides`), and its typed accessor (`KNOWN_MODES.of(dataset)`) hands the dataset back typed as
that promise, or None where the dataset does not declare it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

import torch
from torch import Tensor, nn

from ganbench.errors import GanbenchError
from ganbench.registry import Registry

Modality = Literal["points", "images"]

View = TypeVar("View")


@dataclass(frozen=True)
class Capability(Generic[View]):
    """Something a dataset offers beyond `sample`: a name for messages and suites ("known-modes"),
    what it is in words ("a Gaussian mixture with known modes") and the attributes a dataset that
    declares it must have (`provides`). `View` is the protocol those attributes make up."""

    name: str
    description: str
    provides: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name

    def offered_by(self, dataset: object) -> bool:
        """Whether `dataset` declares this capability (its `capabilities`; none declared: none offered)."""
        return self in declared(dataset)

    def of(self, dataset: object) -> View | None:
        """`dataset` typed as what this capability provides, or None where it does not declare it."""
        return cast(View, dataset) if self.offered_by(dataset) else None

    def missing(self, dataset: object) -> list[str]:
        """The attributes this capability promises that `dataset` lacks (a broken declaration)."""
        return [name for name in self.provides if not hasattr(dataset, name)]


class Dataset(Protocol):
    """A source of true samples that training and evaluation draw from, and what else it offers."""

    modality: Modality
    # The capabilities it declares (IMAGE_SOURCE, KNOWN_MODES, ...); a dataset without it offers none.
    capabilities: frozenset[Capability[Any]]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw `n` samples using only `generator` for randomness (reproducible streams)."""
        ...


class ImageSource(Protocol):
    """IMAGE_SOURCE: real images to compare generated ones against (FID, KID, precision/recall)."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        ...

    def reference(self, n: int) -> Tensor:
        """A fixed set of `n` real images, uint8 (n, C, H, W): the same for every call, so that its
        features can be cached."""
        ...


class Mixture(Protocol):
    """KNOWN_MODES: an equal-weight mixture of isotropic Gaussians whose centers are the modes."""

    # float64 (n_modes, dim): the modes, in the samples' space (any dimension).
    centers: Tensor
    # Each component's standard deviation: samples within 3 std of a center are of high quality.
    std: float

    @property
    def n_modes(self) -> int: ...


class Tracker(Protocol):
    """TRACKS: training curves of the dataset's own, measured with tracking's W1 every K steps."""

    def track(self, generated: Tensor, critic: nn.Module) -> dict[str, float]:
        """Curve name -> value for the generated samples (n, d) and the current critic."""
        ...


IMAGE_SOURCE: Capability[ImageSource] = Capability(
    "image-source", "real images to compare against", ("image_shape", "reference")
)
KNOWN_MODES: Capability[Mixture] = Capability(
    "known-modes", "a Gaussian mixture with known modes", ("centers", "std", "n_modes")
)
# No attribute: a promise about the distribution (density and coverage need k-NN radii above 0).
CONTINUOUS: Capability[Any] = Capability("continuous", "true samples that are never all one point")
TRACKS: Capability[Tracker] = Capability("tracks", "training curves of its own", ("track",))
# No attribute: the Dirac-GAN's point mass at 0 (ganbench.data.dirac), whose equilibrium is (0, 0).
DIRAC_EQUILIBRIUM: Capability[Any] = Capability(
    "dirac-equilibrium", "the Dirac-GAN's point mass at 0, whose equilibrium is theta = psi = 0"
)
CAPABILITIES: tuple[Capability[Any], ...] = (IMAGE_SOURCE, KNOWN_MODES, CONTINUOUS, TRACKS, DIRAC_EQUILIBRIUM)
"""The built-in capabilities; a plugin may define its own the same way (a `Capability` its metrics need)."""


def declared(dataset: object) -> frozenset[Capability[Any]]:
    """The capabilities `dataset` declares (its `capabilities`; none where it has no such attribute)."""
    return frozenset(getattr(dataset, "capabilities", ()))


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its parameters (a frozen dataclass with defaults) and a builder.

    `capabilities` repeats what the built dataset declares, for datasets whose building is costly
    (images: it loads the data): suites are then checked against it without building the dataset.
    None: a suite whose metrics need a capability builds the dataset to ask its declaration.
    """

    name: str
    description: str
    modality: Modality
    params: type
    build: Callable[[Any], Dataset]
    display_name: str = ""  # how tables and figures name it ("Ring-8"); the slug where empty
    capabilities: frozenset[Capability[Any]] | None = None

    @property
    def title(self) -> str:
        """The display name, or the slug when the dataset declares none."""
        return self.display_name or self.name

    def offered(self, params: Any) -> frozenset[Capability[Any]]:
        """The capabilities the dataset declares: `capabilities` where the spec gives them, else those
        of the dataset built with `params`, each checked for the attributes it promises (a declaration
        without them is refused in one line)."""
        if self.capabilities is not None:
            return self.capabilities
        built = self.build(params)
        offered = declared(built)
        for capability in sorted(offered, key=lambda c: c.name):
            if missing := capability.missing(built):
                raise GanbenchError(
                    f"dataset '{self.name}' declares capability '{capability.name}' but has no "
                    + ", ".join(f"'{name}'" for name in missing)
                )
        return offered


DATASETS: Registry[DatasetSpec] = Registry("dataset")
