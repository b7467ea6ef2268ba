"""PacGAN's Stacked MNIST networks (`pacgan-dcgan-mnist`) and the `stacked-mnist-pacgan` suite (Table 2).

The expected shapes and parameter counts are computed by hand from the authors' code
(github.com/fjxmlzn/PacGAN, stacked_MNIST_experiments/VEEGAN_experiment/model.py, with
DCGAN-tensorflow's ops.py): gf_dim = df_dim = 64, z of 100, kernel 5, stride 2, "SAME" padding,
biases on every layer, batch norm with a scale and a shift.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import ROOT, write_fake_mnist
from torch import nn
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.engine import stacked
from ganbench.metrics.published import load_published
from ganbench.models import ARCHITECTURES, NetworkSize
from ganbench.models.pacgan_mnist import SameCrop, SamePad, same_padding, same_sides
from ganbench.models.packing import pack
from ganbench.report.reproduce import protocol_differences
from ganbench.suite import load_suite

ARCH = "pacgan-dcgan-mnist"
THEIRS = NetworkSize(latent_dim=100, width=64, depth=0)  # z_dim, gf_dim = df_dim
SHAPE = (3, 28, 28)


def _build(pack_m: int = 1, size: NetworkSize = THEIRS) -> tuple[nn.Sequential, nn.Sequential]:
    torch.manual_seed(0)
    g, d = ARCHITECTURES.get(ARCH).build(size, SHAPE, (3 * pack_m, 28, 28))
    assert isinstance(g, nn.Sequential) and isinstance(d, nn.Sequential)
    return g, d


def _shapes(net: nn.Sequential, x: torch.Tensor, kinds: tuple[type[nn.Module], ...]) -> list[tuple[int, ...]]:
    """The output shape (without the batch axis) after each layer of `kinds`, running the children in turn."""
    shapes = []
    for child in net.children():
        x = child(x)
        if isinstance(child, kinds):
            shapes.append(tuple(x.shape[1:]))
    return shapes


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------------------------------------ the nets


def test_tf_same_sizes_and_padding_by_hand() -> None:
    # ceil(n / 2) four times (model.py's conv_out_size_same); pads: total = max((out - 1) 2 + 5 - n, 0),
    # total // 2 before: 28 -> 14: 13 * 2 + 5 - 28 = 3 -> (1, 2); 14 -> 7: 3 -> (1, 2);
    # 7 -> 4: 3 * 2 + 5 - 7 = 4 -> (2, 2); 4 -> 2: 2 + 5 - 4 = 3 -> (1, 2).
    assert same_sides(28) == [28, 14, 7, 4, 2]
    assert same_sides(32) == [32, 16, 8, 4, 2]
    assert [same_padding(n) for n in (28, 14, 7, 4)] == [(1, 2), (1, 2), (2, 2), (1, 2)]


def test_layer_output_shapes_by_hand() -> None:
    g, d = _build(pack_m=2)
    z = torch.randn(5, 100)
    # G: linear to 512 x 2 x 2, transposed convs to 256 x 4 x 4, 128 x 7 x 7, 64 x 14 x 14, 3 x 28 x 28.
    assert _shapes(g, z, (nn.Linear, nn.Unflatten, SameCrop)) == [
        (2048,), (512, 2, 2), (256, 4, 4), (128, 7, 7), (64, 14, 14), (3, 28, 28),
    ]  # fmt: skip
    # The transposed convolutions' full outputs before the crop: (n - 1) 2 + 5 = 7, 11, 17, 31.
    assert [s[-1] for s in _shapes(g, z, (nn.ConvTranspose2d,))] == [7, 11, 17, 31]
    # D on packs of 2 (6 channels): padded 28 + 3 = 31, 14 + 3 = 17, 7 + 4 = 11, 4 + 3 = 7; convs to
    # 64 x 14 x 14, 128 x 7 x 7, 256 x 4 x 4, 512 x 2 x 2; flattened 2048; one logit.
    x = torch.randn(5, 6, 28, 28)
    assert [s[-1] for s in _shapes(d, x, (SamePad,))] == [31, 17, 11, 7]
    assert _shapes(d, x, (nn.Conv2d, nn.Flatten, nn.Linear)) == [
        (64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 2, 2), (2048,), (1,),
    ]  # fmt: skip


def test_parameter_counts_by_hand() -> None:
    k = 5 * 5
    # G: linear 100 -> 2048 with bias; batch norm (scale, shift) on 512 maps; transposed convs with
    # biases 512 -> 256 -> 128 -> 64 (each with batch norm) -> 3.
    g_expected = (100 * 2048 + 2048) + 2 * 512
    g_expected += (k * 512 * 256 + 256) + 2 * 256 + (k * 256 * 128 + 128) + 2 * 128
    g_expected += (k * 128 * 64 + 64) + 2 * 64 + (k * 64 * 3 + 3)
    assert g_expected == 4_514_819

    def d_expected(m: int) -> int:
        # convs with biases 3m -> 64 -> 128 -> 256 -> 512, batch norm on the last three; linear 2048 -> 1.
        return (
            (k * 3 * m * 64 + 64)
            + (k * 64 * 128 + 128) + 2 * 128
            + (k * 128 * 256 + 256) + 2 * 256
            + (k * 256 * 512 + 512) + 2 * 512
            + (2 * 2 * 512 + 1)
        )  # fmt: skip

    assert (d_expected(1), d_expected(2)) == (4_310_401, 4_315_201)
    for m in (1, 2):
        g, d = _build(pack_m=m)
        assert (_count(g), _count(d)) == (g_expected, d_expected(m))


def test_the_layers_are_the_authors() -> None:
    g, d = _build()
    # Batch norm on every generator level but the output, and on every D conv but the first.
    g_layers, d_layers = list(g), list(d)
    assert [type(m) for m in g_layers[:4]] == [nn.Linear, nn.Unflatten, nn.BatchNorm2d, nn.ReLU]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 4 and isinstance(g_layers[-1], nn.Tanh)
    assert isinstance(d_layers[2], nn.LeakyReLU)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d_layers[:3])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    convs = [m for m in [*g_layers, *d_layers] if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert len(convs) == 8
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) and c.padding == (0, 0) for c in convs)
    assert all(c.bias is not None for c in convs)  # ops.py adds a bias, also before batch norm
    norms = [m for m in [*g_layers, *d_layers] if isinstance(m, nn.BatchNorm2d)]
    assert all(n.eps == 1e-5 and n.momentum == pytest.approx(1 - 0.9) for n in norms)  # TF decay 0.9


def test_initialization_follows_ops_py() -> None:
    g, d = _build()
    convs = [m for m in d if isinstance(m, nn.Conv2d)]
    weights = torch.cat([c.weight.flatten() for c in convs])
    # truncated_normal_initializer(stddev=0.02): redrawn beyond 2 std, so |w| <= 0.04 and the std is
    # 0.02 x 0.8796 (the std of a standard normal truncated to [-2, 2]).
    assert weights.abs().max() <= 0.04 and weights.std().item() == pytest.approx(0.02 * 0.8796, rel=0.02)
    normal_layers = [m for m in [*g, *d] if isinstance(m, nn.ConvTranspose2d | nn.Linear)]
    normal = torch.cat([m.weight.flatten() for m in normal_layers])
    assert normal.std().item() == pytest.approx(0.02, rel=0.02) and normal.abs().max() > 0.04
    for m in [*g, *d]:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            assert not m.bias.any()
        if isinstance(m, nn.BatchNorm2d):
            assert (m.weight == 1).all() and not m.bias.any()


@pytest.mark.parametrize("side", [28, 14, 7, 4])
def test_transposed_conv_is_the_adjoint_of_the_same_conv(side: int) -> None:
    """TF's conv2d_transpose is the gradient of conv2d "SAME": <conv(x), y> = <conv_T(y), x> with one
    kernel. The explicit pad and crop satisfy it; torch's padding = 2 (with output_padding = 1 where
    the side is even) gives the same sizes but not the adjoint of TF's convolution."""
    torch.manual_seed(side)
    out = same_sides(side)[1]
    weight = torch.randn(4, 3, 5, 5)  # conv: 3 -> 4 channels; its transpose reads 4, writes 3
    x, y = torch.randn(2, 3, side, side), torch.randn(2, 4, out, out)
    before, after = same_padding(side)
    conv = nn.functional.conv2d(nn.functional.pad(x, (before, after, before, after)), weight, stride=2)
    transposed = SameCrop(before, side)(nn.functional.conv_transpose2d(y, weight, stride=2))
    assert conv.shape == y.shape and transposed.shape == x.shape
    assert (conv * y).sum().item() == pytest.approx((transposed * x).sum().item(), rel=1e-5)
    torch_same = nn.functional.conv_transpose2d(y, weight, stride=2, padding=2, output_padding=1 - side % 2)
    assert torch_same.shape == x.shape
    if before != after:
        assert (torch_same * x).sum().item() != pytest.approx((conv * y).sum().item(), rel=1e-3)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_the_discriminator_reads_packs_of_m_stacked_images(m: int) -> None:
    g, d = _build(pack_m=m)
    g.eval(), d.eval()
    with torch.no_grad():
        images = g(torch.randn(4 * m, 100))
        assert images.shape == (4 * m, *SHAPE)
        packs = pack(images, m)  # m images side by side along channels, as tf.concat(G_sep, 3)
        assert packs.shape == (4, 3 * m, 28, 28) and d(packs).shape == (4, 1)
        assert torch.equal(packs[1, 3:6], images[m + 1]) if m > 1 else True
        with pytest.raises(RuntimeError):
            d(torch.randn(4, 3 * m + 3, 28, 28))


def test_generator_output_is_tanh_in_range() -> None:
    g, _ = _build()
    with torch.no_grad():
        images = g(10 * torch.randn(64, 100))  # large codes saturate the tanh, never beyond it
    assert images.shape == (64, *SHAPE) and images.min() >= -1 and images.max() <= 1


def test_non_square_or_too_small_images_are_refused() -> None:
    build = ARCHITECTURES.get(ARCH).build
    with pytest.raises(ValueError, match="square"):
        build(THEIRS, (3, 28, 32), (3, 28, 32))
    with pytest.raises(ValueError, match="at least 16"):
        build(THEIRS, (3, 8, 8), (3, 8, 8))


def test_the_nets_stack_on_leading_member_axes() -> None:
    if nn.Conv2d not in stacked.STACKERS:
        pytest.skip("this engine has no stacked form of convolutions: jobs train one at a time")
    small = NetworkSize(latent_dim=8, width=4, depth=0)
    pairs = [ARCHITECTURES.get(ARCH).build(small, SHAPE, (6, 28, 28)) for _ in range(2)]
    # `stack` compares the stacked outputs with each member's own and refuses a mismatch.
    g = stacked.stack([p[0] for p in pairs], (8,))
    d = stacked.stack([p[1] for p in pairs], (6, 28, 28))
    assert g(torch.randn(2, 5, 8)).shape == (2, 5, *SHAPE)
    assert d(torch.randn(2, 5, 6, 28, 28)).shape == (2, 5, 1)


# ----------------------------------------------------------------------------------------- the suite


def test_the_suite_follows_the_published_protocol() -> None:
    """At its default length, every job of stacked-mnist-pacgan is comparable with Table 2, cell by cell."""
    table = load_published("pacgan-stacked-mnist")
    suite = load_suite("stacked-mnist-pacgan")
    assert suite.seeds == table.n == 10
    cells = {(c.method, c.dataset) for c in table.cells}
    jobs = {(j.method, j.dataset) for j in suite.jobs()}
    # Table 2's rows, and the authors' unpacked run of the same nets (packing_num = 1), which has no row.
    assert jobs == cells | {("gan-ns", "stacked-mnist")}
    for job in suite.jobs():
        assert protocol_differences([job.config()], table.settings(job.dataset)) == [], job.key
    assert table.protocol["hyperparameters.architecture"] == ARCH
    assert suite.train.steps == 50 * 128_000 // 64  # 50 epochs over 128,000 stacks at batch 64
    assert (suite.train.batch_size, suite.train.latent_dim, suite.train.width) == (64, 100, 64)
    assert suite.eval.samples == 26_000
    for method, m in [("gan-ns", 1), ("pacgan2", 2), ("pacgan3", 3), ("pacgan4", 4)]:
        hp = suite.hyperparameters(method)
        assert (hp.architecture, hp.optimizer, hp.lr, hp.beta1, hp.pack) == (ARCH, "adam", 2e-4, 0.5, m)
    assert suite.metrics == ("stacked-modes", "stacked-kl", "digit-classifier-accuracy")
    assert suite.quick.steps <= 100 and suite.quick.samples <= 5000


def test_checkpointing_is_configured_like_the_2d_pacgan_suite() -> None:
    ours, theirs = load_suite("stacked-mnist-pacgan"), load_suite("mode-collapse-pacgan")
    for suite in (ours, theirs):
        train = suite.train
        assert train.checkpoint_every > 0
        assert train.steps % train.checkpoint_every == 0 and train.checkpoint_every % train.log_every == 0
        assert "checkpoint_every" not in suite.jobs()[0].config()["train"]  # when, not what: no protocol key
    assert ours.train.checkpoint_every == 1000  # half one of the authors' epochs (128,000 / 64)


@pytest.mark.e2e
def test_quick_smoke_run_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite file itself at tiny widths: `ganbench run --quick` trains and scores gan-ns and pacgan2.

    A fake MNIST test split (conftest) stands in for the real one, so the digit classifier trains
    in a second; the metrics are only checked to be there and finite."""
    data = write_fake_mnist(tmp_path / "mnist", n=200)
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(data))
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(tmp_path / "cache"))
    text = (ROOT / "suites" / "stacked-mnist-pacgan.toml").read_text(encoding="utf-8")
    tiny = [
        ("width = 64", "width = 4"),
        ("batch_size = 64", "batch_size = 8"),
        ("samples = 5000", "samples = 60"),
        ("track_samples = 2000", "track_samples = 60"),
    ]
    for old, new in tiny:
        assert old in text
        text = text.replace(old, new)
    suite = tmp_path / "tiny-stacked-mnist-pacgan.toml"
    suite.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--quick", "--seeds", "1", "--steps", "2", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--methods", "gan-ns,pacgan2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    jobs = [json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))]
    assert len(jobs) == 2 and all(job["status"] == "ok" for job in jobs), [j.get("reason") for j in jobs]
    assert {job["config"]["hyperparameters"]["pack"] for job in jobs} == {1, 2}
    for job in jobs:
        assert job["config"]["hyperparameters"]["architecture"] == ARCH
        assert job["extra"]["checkpoint_every"] == 1000
        for result in job["metrics"].values():
            assert math.isfinite(result["value"]) and result["counts"] == {"generated": 60}
