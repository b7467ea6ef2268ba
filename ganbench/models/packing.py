"""PacGAN packing: the discriminator judges m samples at once, concatenated (Lin et al. 2018)."""

from __future__ import annotations

from torch import Tensor


def pack(x: Tensor, m: int) -> Tensor:
    """Group consecutive samples by m along the feature (or channel) axis.

    (B, d) -> (B/m, m d) for points and (B, C, H, W) -> (B/m, m C, H, W) for images: pack i holds
    samples m i .. m i + m - 1, so real and generated samples never share a pack when the two are
    packed separately. A batch that does not divide by m is refused (the training loop always
    draws m x batch_size samples, so it never meets one).
    """
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"cannot pack a batch of {x.shape[0]} samples by {m}: not divisible")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


def pack_members(x: Tensor, m: int) -> Tensor:
    """`pack` applied to every member of a stacked batch: (K, B, C, ...) -> (K, B/m, m C, ...)."""
    if m == 1:
        return x
    if x.shape[1] % m:
        raise ValueError(f"cannot pack a batch of {x.shape[1]} samples by {m}: not divisible")
    return x.reshape(x.shape[0], x.shape[1] // m, m * x.shape[2], *x.shape[3:])


def packed_shape(data_shape: tuple[int, ...], m: int) -> tuple[int, ...]:
    """The discriminator's input shape for samples of `data_shape` packed by m."""
    return (m * data_shape[0], *data_shape[1:])
