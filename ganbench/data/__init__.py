"""Datasets: importing this package registers every built-in dataset."""

from ganbench.data import mixtures  # noqa: F401  (registers ring-8, grid-25)
from ganbench.data.base import DATASETS, Dataset, DatasetSpec

__all__ = ["DATASETS", "Dataset", "DatasetSpec"]
