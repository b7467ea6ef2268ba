"""Datasets: importing this package registers every built-in dataset."""

from ganbench.data import dirac, images, mixtures, stacked_mnist  # noqa: F401  (registers dirac, mnist, ..., grid-25, stacked-mnist)
from ganbench.data.base import (
    CAPABILITIES,
    CONTINUOUS,
    DATASETS,
    DIRAC_EQUILIBRIUM,
    IMAGE_SOURCE,
    KNOWN_MODES,
    TRACKS,
    Capability,
    Dataset,
    DatasetSpec,
    ImageSource,
    Mixture,
    Tracker,
)

__all__ = [
    "CAPABILITIES",
    "CONTINUOUS",
    "DATASETS",
    "DIRAC_EQUILIBRIUM",
    "IMAGE_SOURCE",
    "KNOWN_MODES",
    "TRACKS",
    "Capability",
    "Dataset",
    "DatasetSpec",
    "ImageSource",
    "Mixture",
    "Tracker",
]
