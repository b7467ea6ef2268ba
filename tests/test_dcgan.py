"""DCGAN: the paper's architecture rules, the WGAN-GP critic variant, and training on images."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from ganbench.engine.train import build_networks, stacking_problem, train
from ganbench.models import ARCHITECTURES, METHODS, Hyperparameters, NetworkSize
from ganbench.models.dcgan import GlobalAverage
from ganbench.models.packing import pack
from ganbench.suite import load_suite, suite_names

CPU = torch.device("cpu")
TINY = NetworkSize(latent_dim=16, width=8, depth=0)
ARCHS = ["dcgan", "dcgan-gp"]
SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]
SHAPE_IDS = ["28px", "32px", "64px"]


def _build(
    architecture: str, shape: tuple[int, ...], size: NetworkSize = TINY
) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return ARCHITECTURES.get(architecture).build(size, shape, shape)


def _norm_type(architecture: str) -> type[nn.Module]:
    return nn.BatchNorm2d if architecture == "dcgan" else nn.GroupNorm


def _sides(net: nn.Sequential, x: torch.Tensor, kind: type[nn.Module]) -> list[int]:
    """The output side of each `kind` layer, running the children one by one."""
    sides = []
    for child in net.children():
        x = child(x)
        if isinstance(child, kind):
            sides.append(x.shape[-1])
    return sides


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_discriminator_follows_the_dcgan_rules(architecture: str, shape: tuple[int, ...]) -> None:
    generator, discriminator = _build(architecture, shape)
    modules = [*generator.modules(), *discriminator.modules()]
    assert not any("Pool" in type(m).__name__ for m in discriminator.modules()), "no pooling layers"
    assert not any("Linear" in type(m).__name__ for m in modules), "no fully connected layer"
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.stride == (2, 2) for c in convs[:-1]), "stride-2 convolutions downsample"
    assert convs[-1].out_channels == 1
    assert convs[-1].stride == (1, 1), "the output conv keeps the last stride-2 map for the average"
    norm = _norm_type(architecture)
    norms = [m for m in discriminator.modules() if isinstance(m, norm)]
    assert len(norms) == len(convs) - 2, "a norm on every conv but the input and output ones"
    has_batch_norm = any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    assert has_batch_norm == (architecture == "dcgan"), "no batch norm in the WGAN-GP critic"
    # Layer order: conv [norm] LeakyReLU(0.2) for every conv but the last, which feeds the global mean.
    children = list(discriminator.children())
    assert isinstance(children[-1], GlobalAverage) and isinstance(children[-2], nn.Conv2d)
    i = 0
    for n, conv in enumerate(convs[:-1]):
        assert children[i] is conv
        if n > 0:
            layer = children[i + 1]
            assert isinstance(layer, norm)
            if isinstance(layer, nn.GroupNorm):
                assert layer.num_groups == 1, "one group: layer norm over (C, H, W)"
            assert getattr(layer, "num_channels", getattr(layer, "num_features", None)) == conv.out_channels
            i += 1
        act = children[i + 1]
        assert isinstance(act, nn.LeakyReLU) and act.negative_slope == 0.2
        i += 2
    assert children[i:] == [convs[-1], children[-1]], "no activation after the output conv"


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_generator_follows_the_dcgan_rules(architecture: str, shape: tuple[int, ...]) -> None:
    generator, _ = _build(architecture, shape)
    assert not any(isinstance(m, nn.Conv2d | nn.Linear) for m in generator.modules())
    children = list(generator.children())
    assert isinstance(children[0], nn.Unflatten), "the code becomes a 1x1 map"
    layers = children[1:]
    convs = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    assert len(layers) == 3 * len(convs) - 1
    for i in range(0, len(layers) - 2, 3):
        conv, bn, act = layers[i : i + 3]
        assert isinstance(conv, nn.ConvTranspose2d)
        assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == conv.out_channels
        assert isinstance(act, nn.ReLU)
    assert isinstance(layers[-2], nn.ConvTranspose2d) and isinstance(layers[-1], nn.Tanh)
    x = generator(torch.randn(4, TINY.latent_dim))
    assert x.shape == (4, *shape)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize(
    ("shape", "g_sides", "d_sides", "g_widths", "d_widths"),
    [
        # D's output conv keeps the last stride-2 side (7 or 4) for the global average, not 1x1.
        ((1, 28, 28), [7, 14, 28], [14, 7, 7], [16, 8, 1], [8, 16, 1]),
        ((3, 32, 32), [4, 8, 16, 32], [16, 8, 4, 4], [32, 16, 8, 3], [8, 16, 32, 1]),
        ((3, 64, 64), [4, 8, 16, 32, 64], [32, 16, 8, 4, 4], [64, 32, 16, 8, 3], [8, 16, 32, 64, 1]),
    ],
    ids=SHAPE_IDS,
)
def test_layer_scheme_per_image_size(
    shape: tuple[int, ...], g_sides: list[int], d_sides: list[int], g_widths: list[int], d_widths: list[int]
) -> None:
    generator, discriminator = _build("dcgan", shape)
    generator.eval(), discriminator.eval()
    with torch.no_grad():
        assert _sides(generator, torch.zeros(2, TINY.latent_dim), nn.ConvTranspose2d) == g_sides
        assert _sides(discriminator, torch.zeros(2, *shape), nn.Conv2d) == d_sides
    # size.width is ngf / ndf: G's last hidden layer and D's first one, doubling per level.
    assert [m.out_channels for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)] == g_widths
    assert [m.out_channels for m in discriminator.modules() if isinstance(m, nn.Conv2d)] == d_widths


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_discriminator_gives_one_score_per_sample(architecture: str, shape: tuple[int, ...]) -> None:
    generator, discriminator = _build(architecture, shape)
    assert discriminator(generator(torch.randn(4, TINY.latent_dim))).shape == (4, 1)


# The side of D's last stride-2 feature map, which its output convolution keeps and the score averages.
MAP_SIDES = {28: 7, 32: 4, 64: 4}


def _hooked(
    net: nn.Module, x: torch.Tensor, kind: type[nn.Module]
) -> tuple[list[tuple[nn.Module, torch.Tensor, torch.Tensor]], torch.Tensor]:
    """(module, input, output) of every `kind` module in one forward pass of `net` on `x`, and its result."""
    calls: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda m, args, out: calls.append((m, args[0], out)))
        for m in net.modules()
        if isinstance(m, kind)
    ]
    try:
        with torch.no_grad():
            result = net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return calls, result


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_the_global_average_is_over_a_map_larger_than_1x1(architecture: str, shape: tuple[int, ...]) -> None:
    # A mean over a 1x1 map is no global average pooling (Radford et al. 2016, section 3): the last
    # convolution would then cover the whole map, a fully connected layer on the flattened features.
    _, discriminator = _build(architecture, shape)
    [(_, averaged, _)], _ = _hooked(discriminator, torch.rand(4, *shape) * 2 - 1, GlobalAverage)
    side = MAP_SIDES[shape[-1]]
    assert averaged.shape[-2] > 1 and averaged.shape[-1] > 1, "the averaged map must be larger than 1x1"
    assert averaged.shape == (4, 1, side, side), "one channel at the last stride-2 level's side"


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_no_convolution_kernel_spans_its_whole_input(architecture: str, shape: tuple[int, ...]) -> None:
    # A kernel as large as its input sees all of it at a single position: a dense layer in disguise.
    _, discriminator = _build(architecture, shape)
    calls, _ = _hooked(discriminator, torch.rand(4, *shape) * 2 - 1, nn.Conv2d)
    assert len(calls) == sum(isinstance(m, nn.Conv2d) for m in discriminator.modules())
    for conv, x, y in calls:
        (kh, kw), (h, w) = conv.kernel_size, x.shape[-2:]
        assert kh < h and kw < w, f"{conv} spans its {h}x{w} input"
        assert y.shape[-2] > 1 and y.shape[-1] > 1, f"{conv} collapses the map to {tuple(y.shape[-2:])}"


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("architecture", ARCHS)
def test_the_score_is_the_mean_of_the_output_map(architecture: str, shape: tuple[int, ...]) -> None:
    _, discriminator = _build(architecture, shape)
    [(_, averaged, _)], score = _hooked(discriminator, torch.rand(4, *shape) * 2 - 1, GlobalAverage)
    torch.testing.assert_close(score, averaged.mean(dim=(2, 3)))
    # The positions of each sample's map differ, so its score is an average of distinct values,
    # not a single position passed through.
    flat = averaged.flatten(1)
    assert (flat.amax(dim=1) > flat.amin(dim=1)).all()


@pytest.mark.parametrize("architecture", ARCHS)
def test_packing_stacks_channels(architecture: str) -> None:
    hp = dataclasses.replace(METHODS.get("pacgan2").defaults, architecture=architecture)
    generator, discriminator = build_networks(hp, TINY, (3, 32, 32), 0, CPU)
    first = next(m for m in discriminator.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 6
    samples = generator(torch.randn(8, TINY.latent_dim))
    assert samples.shape == (8, 3, 32, 32), "the generator still makes single samples"
    assert discriminator(pack(samples, 2)).shape == (4, 1)


def test_the_gp_critic_scores_each_sample_alone() -> None:
    # Layer norm keeps the per-sample gradient penalty meaningful; batch norm couples the batch.
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    _, critic = _build("dcgan-gp", (3, 32, 32))
    torch.testing.assert_close(critic(x)[:1], critic(x[:1]))
    _, discriminator = _build("dcgan", (3, 32, 32))
    assert not torch.allclose(discriminator(x)[:1], discriminator(x[:2])[:1])


def test_initialization_follows_the_paper() -> None:
    generator, discriminator = _build("dcgan", (3, 32, 32), NetworkSize(latent_dim=16, width=32, depth=0))
    modules = [*generator.modules(), *discriminator.modules()]
    convs = [m for m in modules if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    big = [c for c in convs if c.weight.numel() >= 30_000]
    assert big
    for conv in big:
        assert abs(conv.weight.std().item() - 0.02) < 0.001
        assert abs(conv.weight.mean().item()) < 0.001
    assert all(c.bias is None or not c.bias.any() for c in convs)
    bns = [m for m in modules if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([bn.weight.detach() for bn in bns])
    assert abs(scales.mean().item() - 1) < 0.005 and 0.01 < scales.std().item() < 0.03
    assert not torch.cat([bn.bias.detach() for bn in bns]).any()


def test_registration_and_depth_is_ignored() -> None:
    for name in ARCHS:
        # Convolutions and 2-D norms have stacked forms: a method's image jobs train as one model.
        hp = dataclasses.replace(METHODS.get("dcgan").defaults, architecture=name)
        assert stacking_problem(hp, TINY, (1, 28, 28)) is None
    shallow, deep = (_build("dcgan", (1, 28, 28), dataclasses.replace(TINY, depth=d)) for d in (0, 5))
    assert str(shallow) == str(deep)


@pytest.mark.parametrize("shape", [(3, 32, 24), (1, 7, 7), (1, 6, 6)])
def test_unsupported_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="dcgan needs"):
        _build("dcgan", shape)


class _Images:
    """Uniform noise images in [-1, 1]: enough to take a training step."""

    modality = "images"

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, *self.shape, generator=generator) * 2 - 1


def image_methods() -> list[tuple[str, Hyperparameters]]:
    """Every image method: registered methods on image nets by default, and every method of the
    image suites with the suite's settings (WGAN and WGAN-GP on the DCGAN nets)."""
    found = {
        (name, METHODS.get(name).defaults)
        for name in METHODS.names()
        if ARCHITECTURES.get(METHODS.get(name).defaults.architecture).modality == "images"
    }
    for suite_name in ("image-quality", "image-quality-cifar10", "stacked-mnist"):
        if suite_name in suite_names():
            suite = load_suite(suite_name)
            found |= {(m, suite.hyperparameters(m)) for m in suite.methods}
    return sorted(found, key=lambda pair: (pair[0], pair[1].architecture))


@pytest.mark.e2e
@pytest.mark.parametrize("shape", SHAPES[:2], ids=SHAPE_IDS[:2])
@pytest.mark.parametrize(
    ("method", "hp"), image_methods(), ids=[f"{m}-{hp.architecture}" for m, hp in image_methods()]
)
def test_one_training_step(method: str, hp: Hyperparameters, shape: tuple[int, ...]) -> None:
    spec = METHODS.get(method)
    result = train(spec, hp, _Images(shape), TINY, steps=1, batch_size=8, seed=0, device=CPU)
    assert result.status == "ok"
    assert result.d_losses and result.g_losses
    assert all(math.isfinite(v) for v in result.d_losses + result.g_losses)
    assert result.generator(torch.randn(2, TINY.latent_dim)).shape == (2, *shape)


def test_every_image_suite_method_is_covered() -> None:
    names = {(m, hp.architecture) for m, hp in image_methods()}
    assert {("dcgan", "dcgan"), ("wgan", "dcgan"), ("wgan-gp", "dcgan-gp")} <= names
