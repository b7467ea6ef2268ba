"""Datasets: importing this package registers every built-in dataset."""

from ganbench.data import dirac, images, mixtures, stacked_mnist  # noqa: F401  (registers dirac, mnist, ..., grid-25, stacked-mnist)
from ganbench.data.base import DATASETS, Dataset, DatasetSpec

__all__ = ["DATASETS", "Dataset", "DatasetSpec"]
