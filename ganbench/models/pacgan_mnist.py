"""PacGAN's Stacked MNIST networks (Lin et al. 2018, Table 2): the `pacgan-dcgan-mnist` architecture.

Sources, all read in the authors' repository github.com/fjxmlzn/PacGAN (commit b331f4f):
stacked_MNIST_experiments/VEEGAN_experiment/model.py (the networks, `DCGAN.generator` and
`DCGAN.discriminator`, and how packs are formed), its config.py (z of 100, batch 64, 28 px) and
pacgan_task.py (gf_dim and df_dim are not passed, so the class defaults of 64 hold). That folder
has no ops.py: its README says the code is Taehoon Kim's DCGAN-tensorflow (carpedm20), whose
ops.py defines the layers. The layer definitions below are those of the ops.py the same authors ship
in their celeba_experiments folder (a copy of DCGAN-tensorflow's of late 2017, whose signatures,
`linear(..., with_w=True)`, `deconv2d(..., with_w=True)`, `batch_norm(name=...)`, are the ones
model.py calls); that the Stacked MNIST runs used exactly that copy is not confirmed.

Generator, z (B, 100) -> (B, 3, 28, 28); s = 28, 14, 7, 4, 2 is the side halved four times,
rounding up (their `conv_out_size_same`), w = gf_dim = 64 (the suite's `width`):
  linear to 8w x 2 x 2, reshaped to 8w maps of 2 x 2, batch norm, ReLU;
  transposed convolutions of kernel 5, stride 2, "SAME", to 4w (4 x 4), 2w (7 x 7), w (14 x 14),
  each followed by batch norm and ReLU;
  a last one to 3 channels (28 x 28), tanh.
Discriminator, a pack (B, 3m, 28, 28) -> one logit (B, 1), df_dim = w:
  convolutions of kernel 5, stride 2, "SAME", to w (14 x 14), 2w (7 x 7), 4w (4 x 4), 8w (2 x 2),
  batch norm after all but the first, LeakyReLU 0.2 after each;
  flattened, a linear layer to one output (the logit; the loss applies the sigmoid).
Packing (model.py, `build_model` and `load_mnist`): the m generated images of a pack are
concatenated along channels (`tf.concat(G_sep, 3)`, channels last), and so are the m real stacked
images of a real pack: D's first convolution reads 3m channels. ganbench's `pack` groups
consecutive samples the same way, (B, 3, H, W) -> (B/m, 3m, H, W).

Layers (ops.py): every convolution, transposed convolution and linear layer has a bias, also those
followed by batch norm; conv weights are truncated normal of std 0.02 (`truncated_normal_initializer`,
redrawn beyond 2 std), transposed-conv and linear weights normal of std 0.02, biases 0; batch norm is
`tf.contrib.layers.batch_norm(decay=0.9, epsilon=1e-5, scale=True)`: scale 1, shift 0, running
averages with torch's momentum 0.1 (= 1 - 0.9) and eps 1e-5, torch's defaults; `lrelu` is
max(x, 0.2 x). Their sampler evaluates G with the running averages (`train=False`), as ganbench's
evaluation does (eval mode).

TensorFlow's "SAME" padding, exactly. A convolution of kernel 5, stride 2 maps side n to ceil(n / 2)
and pads total = max((out - 1) 2 + 5 - n, 0) zeros, total // 2 before and the rest after: 28 -> 14
pads (1, 2), 14 -> 7 (1, 2), 7 -> 4 (2, 2), 4 -> 2 (1, 2). torch's symmetric `padding=2` gives the same
sides but shifts every window of an even side by one pixel, so the discriminator pads explicitly
(`SamePad`, a weightless zero pad of the two trailing axes) and convolves without padding. TF's
transposed convolution is that convolution's adjoint (the gradient of conv2d): the full transposed
output, (n - 1) 2 + 5 wide, cropped from the forward convolution's `before` to `before + out`
(`SameCrop`): 2 -> 4 takes [1, 5) of 7, 4 -> 7 [2, 9) of 11, 7 -> 14 [1, 15) of 17, 14 -> 28 [1, 29)
of 31. (torch's padding=2, output_padding=1 gives the sides but crops 2 before and 1 after, the
mirror image; tests/test_pacgan_mnist.py checks the adjoint identity.)

Reshapes act on the trailing axes (Unflatten(-1, ...), Flatten(-3), the pad and crop), so the
engine runs K copies stacked on [K, B, ...] inputs (ganbench.engine.stacked).

Not reproduced here (they are training settings, not the networks; docs/pages/methods/table2.md): their loop
makes two generator updates per discriminator update (DCGAN-tensorflow's "run g_optim twice"), each
on the same z as the D update, and ganbench makes one, on fresh z; their z is uniform on [-1, 1]^100,
ganbench's standard normal; their real images are in [0, 1] (pixels / 255) against a tanh generator,
ganbench's in [-1, 1]; they draw each pack's m fakes as m separate generator batches of 64 (so G's
batch norm sees 64 at a time), ganbench one batch of 64 m; their 128,000 training stacks come from the
70,000 MNIST digits, ganbench's fresh each step from the split it is given.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.models.base import ARCHITECTURES, Architecture, NetworkSize

KERNEL, STRIDE = 5, 2  # ops.py's conv2d and deconv2d defaults: k_h = k_w = 5, d_h = d_w = 2
LEVELS = 4  # model.py: s_h2 .. s_h16, four stride-2 levels
LEAKY_SLOPE = 0.2  # ops.py's lrelu
INIT_STD = 0.02  # ops.py's stddev for every weight
MIN_SIDE = 2**LEVELS  # every level halves a side of at least 2


def same_sides(side: int) -> list[int]:
    """The sides at every level, halved with rounding up (`conv_out_size_same`): 28 -> [28, 14, 7, 4, 2]."""
    sides = [side]
    for _ in range(LEVELS):
        sides.append(math.ceil(sides[-1] / STRIDE))
    return sides


def same_padding(side: int) -> tuple[int, int]:
    """TF's "SAME" zeros (before, after) for a kernel-5, stride-2 convolution of a side: 28 -> (1, 2)."""
    out = math.ceil(side / STRIDE)
    total = max((out - 1) * STRIDE + KERNEL - side, 0)
    return total // 2, total - total // 2


class SamePad(nn.Module):
    """Zero padding of the two trailing axes, `before` rows and columns first and `after` last."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, (self.before, self.after, self.before, self.after))

    def extra_repr(self) -> str:
        return f"before={self.before}, after={self.after}"


class SameCrop(nn.Module):
    """The window [start, start + side) of the two trailing axes."""

    def __init__(self, start: int, side: int) -> None:
        super().__init__()
        self.start, self.side = start, side

    def forward(self, x: Tensor) -> Tensor:
        stop = self.start + self.side
        return x[..., self.start : stop, self.start : stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, side={self.side}"


def same_conv(c_in: int, c_out: int, side: int) -> list[nn.Module]:
    """TF's conv2d(k 5, stride 2, "SAME") of a side-`side` map: explicit pad, unpadded convolution."""
    return [SamePad(*same_padding(side)), nn.Conv2d(c_in, c_out, KERNEL, STRIDE)]


def same_deconv(c_in: int, c_out: int, out: int) -> list[nn.Module]:
    """TF's conv2d_transpose(k 5, stride 2, "SAME") to side `out`: the adjoint of `same_conv` on it."""
    return [nn.ConvTranspose2d(c_in, c_out, KERNEL, STRIDE), SameCrop(same_padding(out)[0], out)]


def generator(latent_dim: int, channels: int, side: int, width: int) -> nn.Sequential:
    """model.py's `DCGAN.generator`: z -> linear -> 8w x s16 x s16 -> transposed convs -> tanh."""
    sides = same_sides(side)  # 28: [28, 14, 7, 4, 2]
    widths = [width * 2 ** (LEVELS - 1 - i) for i in range(LEVELS)]  # 8w, 4w, 2w, w
    first = sides[-1]
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, widths[0] * first * first),
        nn.Unflatten(-1, (widths[0], first, first)),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    for c_in, c_out, out in zip(widths[:-1], widths[1:], sides[-2:0:-1], strict=True):
        layers += [*same_deconv(c_in, c_out, out), nn.BatchNorm2d(c_out), nn.ReLU()]
    layers += [*same_deconv(widths[-1], channels, side), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(channels: int, side: int, width: int) -> nn.Sequential:
    """model.py's `DCGAN.discriminator`: four stride-2 convs (batch norm from the second), linear logit."""
    sides = same_sides(side)
    widths = [width * 2**i for i in range(LEVELS)]  # w, 2w, 4w, 8w
    layers: list[nn.Module] = [*same_conv(channels, widths[0], sides[0]), nn.LeakyReLU(LEAKY_SLOPE)]
    for c_in, c_out, at in zip(widths[:-1], widths[1:], sides[1:-1], strict=True):
        layers += [*same_conv(c_in, c_out, at), nn.BatchNorm2d(c_out), nn.LeakyReLU(LEAKY_SLOPE)]
    layers += [nn.Flatten(-3), nn.Linear(widths[-1] * sides[-1] * sides[-1], 1)]
    return nn.Sequential(*layers)


def _init_tf(module: nn.Module) -> None:
    # ops.py: conv2d truncated normal (redrawn outside 2 std), deconv2d and linear normal, all of
    # std 0.02, biases 0; tf.contrib batch norm: scale 1, shift 0.
    if isinstance(module, nn.Conv2d):
        nn.init.trunc_normal_(module.weight, 0.0, INIT_STD, -2 * INIT_STD, 2 * INIT_STD)
    elif isinstance(module, nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
    else:
        return
    nn.init.zeros_(module.bias)


def build_pacgan_mnist(
    size: NetworkSize, data_shape: tuple[int, ...], disc_shape: tuple[int, ...]
) -> tuple[nn.Module, nn.Module]:
    """PacGAN's Stacked MNIST G and D for square images of `data_shape`; D reads `disc_shape` (the
    packed channels). `size.width` is gf_dim = df_dim (theirs: 64); `size.depth` is ignored (the
    depth is fixed: four stride-2 levels)."""
    (channels, height, width_px), (disc_channels, *disc_hw) = data_shape, disc_shape
    if height != width_px or tuple(disc_hw) != (height, width_px):
        raise ValueError(
            f"pacgan-dcgan-mnist needs square images, the same for G and D: got {data_shape}, {disc_shape}"
        )
    if height < MIN_SIDE:
        raise ValueError(f"pacgan-dcgan-mnist needs a side of at least {MIN_SIDE}: got {height}")
    g = generator(size.latent_dim, channels, height, size.width)
    d = discriminator(disc_channels, height, size.width)
    with torch.no_grad():
        g.apply(_init_tf), d.apply(_init_tf)
    return g, d


ARCHITECTURES.add(
    "pacgan-dcgan-mnist",
    Architecture(
        "pacgan-dcgan-mnist",
        "PacGAN's Stacked MNIST nets (DCGAN-tensorflow): linear + 4 kernel-5 transposed convs G, "
        "4 kernel-5 convs + linear D on packed channels (width = gf_dim = df_dim; depth is ignored)",
        build_pacgan_mnist,
        modality="images",
    ),
)
