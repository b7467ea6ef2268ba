"""Datasets: importing this package registers every built-in dataset."""

from ganbench.data import images, mixtures  # noqa: F401  (registers mnist, ..., ring-8, grid-25)
from ganbench.data.base import DATASETS, Dataset, DatasetSpec

__all__ = ["DATASETS", "Dataset", "DatasetSpec"]
