"""The 2-D Gaussian mixtures of the mode-collapse protocol (docs/pages/methods/mode-collapse.md).

ring-8: 8 centers at angles 2*pi*k/8, radius 1, std 0.01 (PacGAN code).
grid-25: centers {-4,-2,0,2,4}^2, std 0.05 (PacGAN and VEEGAN code).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganbench.data import DATASETS
from ganbench.data.mixtures import GaussianMixture, GridParams, RingParams, grid_centers, ring_centers


def build(name: str, **params: float) -> GaussianMixture:
    spec = DATASETS.get(name)
    dataset = spec.build(spec.params(**params))
    assert isinstance(dataset, GaussianMixture)
    return dataset


def distinct_rows(points: np.ndarray, tol: float = 1e-9) -> int:
    """Number of rows not within `tol` (Euclidean) of an earlier row."""
    count = 0
    for i in range(len(points)):
        if i == 0 or np.linalg.norm(points[:i] - points[i], axis=1).min() > tol:
            count += 1
    return count


def sorted_angles(centers: np.ndarray) -> np.ndarray:
    return np.sort(np.mod(np.arctan2(centers[:, 1], centers[:, 0]), 2 * math.pi))


# ---------------------------------------------------------------------------------------- ring-8


def test_ring8_has_eight_distinct_centers_on_the_unit_circle_45_degrees_apart() -> None:
    ring = build("ring-8")
    centers = ring.centers.numpy()
    assert centers.shape == (8, 2)
    assert ring.n_modes == 8
    assert distinct_rows(centers) == 8
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1.0, rtol=0, atol=1e-12)
    angles = sorted_angles(centers)
    np.testing.assert_allclose(np.diff(angles), math.pi / 4, rtol=0, atol=1e-12)
    # The first center is at angle 0 (k = 0), so the angles are exactly 2*pi*k/8.
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(8) / 8, rtol=0, atol=1e-12)
    assert ring.std == 0.01


def test_ring_centers_avoid_the_linspace_pitfall() -> None:
    # A common public "ring-8" uses linspace(0, 2*pi, 8): it includes both 0 and 2*pi, so the
    # first and last centers coincide and only 7 modes are distinct (and they are 2*pi/7 apart).
    bad_angles = np.linspace(0, 2 * math.pi, 8)
    bad = np.stack([np.cos(bad_angles), np.sin(bad_angles)], axis=1)
    assert distinct_rows(bad) == 7

    ours = ring_centers(8, 1.0).numpy()
    assert distinct_rows(ours) == 8
    assert not np.allclose(ours, bad)


def test_ring_radius_and_std_parameters() -> None:
    ring = build("ring-8", radius=2.0, std=0.02)
    centers = ring.centers.numpy()
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(centers, 2.0 * build("ring-8").centers.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diff(sorted_angles(centers)), math.pi / 4, rtol=0, atol=1e-12)
    assert ring.std == 0.02
    # Radius alone leaves the default std, and vice versa.
    assert build("ring-8", radius=3.0).std == RingParams().std
    np.testing.assert_allclose(
        np.linalg.norm(build("ring-8", std=0.5).centers.numpy(), axis=1), 1.0, rtol=0, atol=1e-12
    )


# --------------------------------------------------------------------------------------- grid-25


def as_set(centers: torch.Tensor) -> set[tuple[float, float]]:
    return {(float(a), float(b)) for a, b in centers.tolist()}


def test_grid25_centers_are_the_even_integer_grid() -> None:
    grid = build("grid-25")
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert grid.centers.shape == (25, 2)
    assert grid.n_modes == 25
    assert as_set(grid.centers) == expected  # exact float equality, and 25 distinct centers
    assert grid.std == 0.05


def test_grid_spacing_and_std_parameters() -> None:
    grid = build("grid-25", spacing=1.0, std=0.1)
    values = (-2.0, -1.0, 0.0, 1.0, 2.0)
    assert as_set(grid.centers) == {(a, b) for a in values for b in values}
    assert grid.std == 0.1
    assert build("grid-25", spacing=3.0).std == GridParams().std
    values3 = (-6.0, -3.0, 0.0, 3.0, 6.0)
    assert as_set(build("grid-25", spacing=3.0).centers) == {(a, b) for a in values3 for b in values3}
    assert as_set(grid_centers(2, 2.0)) == {(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)}


# --------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("name", ["ring-8", "grid-25"])
def test_sample_dtype_shape_and_reproducibility(name: str) -> None:
    mixture = build(name)
    a = mixture.sample(1000, torch.Generator().manual_seed(7))
    b = mixture.sample(1000, torch.Generator().manual_seed(7))
    c = mixture.sample(1000, torch.Generator().manual_seed(8))
    assert a.dtype == torch.float32
    assert a.shape == (1000, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert mixture.sample(1, torch.Generator().manual_seed(0)).shape == (1, 2)


@pytest.mark.parametrize(
    ("name", "params"),
    [("ring-8", {}), ("grid-25", {}), ("ring-8", {"radius": 2.0, "std": 0.05}), ("grid-25", {"std": 0.2})],
)
def test_large_sample_matches_mixture_std_and_uniform_modes(name: str, params: dict[str, float]) -> None:
    mixture = build(name, **params)
    n = 200_000
    x = mixture.sample(n, torch.Generator().manual_seed(1234)).to(torch.float64).numpy()
    centers = mixture.centers.numpy()
    nearest = np.linalg.norm(x[:, None, :] - centers[None, :, :], axis=2).argmin(axis=1)
    residual = x - centers[nearest]
    # Relative sampling error of a std estimate from 200k values is about 1/sqrt(2n) ~ 0.16%.
    per_coordinate_std = residual.std(axis=0)
    np.testing.assert_allclose(per_coordinate_std, mixture.std, rtol=0.03)
    np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=0.01 * mixture.std)
    k = mixture.n_modes
    frequencies = np.bincount(nearest, minlength=k) / n
    # Sampling std of a frequency: sqrt(p(1-p)/n) = 0.0007 (K=8) or 0.0004 (K=25), i.e. 0.6% or 1.1%
    # of 1/K; 5% relative is 4-8 sampling stds.
    np.testing.assert_allclose(frequencies, 1.0 / k, rtol=0.05)
