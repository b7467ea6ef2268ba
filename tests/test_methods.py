"""The registered training methods: loss formulas, paper defaults and the training loop's behaviour."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import point_methods
from torch import Tensor, nn

import ganbench.engine.train as train_module
from ganbench.data import DATASETS
from ganbench.data.mixtures import RingParams
from ganbench.engine.train import generate, train
from ganbench.models import METHODS, Hyperparameters, Method, NetworkSize
from ganbench.models.base import Objective
from ganbench.models.objectives import (
    GAN_DEFAULTS,
    WASSERSTEIN,
    gan_discriminator_loss,
    minimax_generator_loss,
    non_saturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from ganbench.models.regularizers import PENALTIES, gradient_penalty, penalty_from_hyperparameters

CPU = torch.device("cpu")
SIZE = NetworkSize(latent_dim=2, width=8, depth=1)
BATCH = 16
LOG2 = math.log(2.0)


@pytest.fixture(scope="module")
def ring():
    return DATASETS.get("ring-8").build(RingParams())


@pytest.fixture
def built(monkeypatch):
    """Record every (generator, discriminator) pair `train` builds, plus a copy of their initial state."""
    records: list[dict] = []
    original = train_module.build_networks

    def recording_build(*args, **kwargs):
        generator, discriminator = original(*args, **kwargs)
        records.append(
            {
                "generator": generator,
                "discriminator": discriminator,
                "g_init": {k: v.detach().clone() for k, v in generator.state_dict().items()},
                "d_init": {k: v.detach().clone() for k, v in discriminator.state_dict().items()},
            }
        )
        return generator, discriminator

    monkeypatch.setattr(train_module, "build_networks", recording_build)
    return records


def run(method: Method, dataset, *, hp: Hyperparameters | None = None, steps: int = 1, seed: int = 0, **kw):
    return train(
        method,
        method.defaults if hp is None else hp,
        dataset,
        SIZE,
        steps=steps,
        batch_size=BATCH,
        seed=seed,
        device=CPU,
        **kw,
    )


def t(*values: float) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


# --------------------------------------------------------------------------- every registered method


# Hand-made logits whose softplus values are exact: softplus(t) = log(1 + e^t), so
# softplus(0) = log 2, softplus(log 3) = log 4 = 2 log 2, softplus(-log 3) = log(4/3).
LOG3 = math.log(3.0)
D_REAL, D_FAKE = (LOG3, 0.0), (-LOG3, 0.0)
# GAN discriminator: mean softplus(-d_real) + mean softplus(d_fake)
#   = (log(4/3) + log 2) / 2 + (log(4/3) + log 2) / 2 = log(8/3) ~= 0.9808
GAN_D = math.log(8 / 3)
# minimax generator: -mean softplus(d_fake) = -(log(4/3) + log 2) / 2 = -log(8/3) / 2 ~= -0.4904
MINIMAX_G = -math.log(8 / 3) / 2
# non-saturating generator: mean softplus(-d_fake) = (log 4 + log 2) / 2 = (3/2) log 2 ~= 1.0397
NON_SATURATING_G = 1.5 * LOG2
# Wasserstein critic: mean(d_fake) - mean(d_real) = -log(3)/2 - log(3)/2 = -log 3 ~= -1.0986
WASSERSTEIN_D = -LOG3
# Wasserstein generator: -mean(d_fake) = log(3)/2 ~= 0.5493
WASSERSTEIN_G = LOG3 / 2

# The Methods table (docs/pages/methods/methods.md): (optimizer, lr, (beta1, beta2), n_critic,
# clip, gp_lambda, pack, architecture) from each method's paper, and the two losses at the logits above.
ADAM_DCGAN = ("adam", 2e-4, (0.5, 0.999))
PAPER_METHODS = {
    "gan": (*ADAM_DCGAN, 1, 0.0, 0.0, 1, "mlp", GAN_D, MINIMAX_G),
    "gan-ns": (*ADAM_DCGAN, 1, 0.0, 0.0, 1, "mlp", GAN_D, NON_SATURATING_G),
    # RMSprop betas are unused; the dataclass defaults stay
    "wgan": ("rmsprop", 5e-5, (0.5, 0.999), 5, 0.01, 0.0, 1, "mlp", WASSERSTEIN_D, WASSERSTEIN_G),
    "wgan-gp": ("adam", 1e-4, (0.0, 0.9), 5, 0.0, 10.0, 1, "mlp", WASSERSTEIN_D, WASSERSTEIN_G),
    "pacgan2": (*ADAM_DCGAN, 1, 0.0, 0.0, 2, "mlp", GAN_D, NON_SATURATING_G),
    "pacgan3": (*ADAM_DCGAN, 1, 0.0, 0.0, 3, "mlp", GAN_D, NON_SATURATING_G),
    "pacgan4": (*ADAM_DCGAN, 1, 0.0, 0.0, 4, "mlp", GAN_D, NON_SATURATING_G),
    "dcgan": (*ADAM_DCGAN, 1, 0.0, 0.0, 1, "dcgan", GAN_D, NON_SATURATING_G),
}


@pytest.mark.parametrize("name", list(PAPER_METHODS))
def test_builtin_methods_have_their_papers_defaults_and_losses(name):
    optimizer, lr, betas, n_critic, clip, gp_lambda, pack, architecture, d_loss, g_loss = PAPER_METHODS[name]
    method = METHODS.get(name)
    assert method.name == name
    assert method.description
    hp = method.defaults
    assert (hp.optimizer, hp.lr, (hp.beta1, hp.beta2)) == (optimizer, lr, betas)
    assert (hp.n_critic, hp.clip, hp.gp_lambda, hp.pack, hp.architecture) == (
        n_critic,
        clip,
        gp_lambda,
        pack,
        architecture,
    )
    # The losses by value: each objective gives a different pair here, so a swapped one fails.
    objective = method.objective
    assert objective.discriminator_loss(t(*D_REAL), t(*D_FAKE)).item() == pytest.approx(d_loss, rel=1e-6)
    assert objective.generator_loss(t(*D_FAKE)).item() == pytest.approx(g_loss, rel=1e-6)
    # The optimizer built for it carries those settings.
    opt = train_module.make_optimizer([nn.Parameter(torch.zeros(2))], "d", [hp])
    assert isinstance(opt, {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[optimizer])
    assert opt.param_groups[0]["lr"] == lr
    if optimizer == "adam":
        assert opt.param_groups[0]["betas"] == betas


@pytest.mark.parametrize("name", point_methods())
def test_one_training_step_of_every_method(name, ring, built):
    method = METHODS.get(name)
    result = run(method, ring, steps=1)

    assert result.status == "ok"
    assert result.diverged_step is None
    assert result.loss_steps == [1]
    assert all(math.isfinite(v) for v in result.d_losses + result.g_losses)

    # the generator returned is the one that was built, and one optimizer step moved it
    (record,) = built
    assert result.generator is record["generator"]
    after = result.generator.state_dict()
    changed = [k for k, v in record["g_init"].items() if not torch.equal(v, after[k])]
    assert changed, "no generator parameter changed after one training step"

    samples = generate(result.generator, 50, SIZE.latent_dim, seed=0, device=CPU)
    assert samples.shape == (50, 2)
    assert samples.dtype == torch.float32
    assert torch.isfinite(samples).all()


# --------------------------------------------------------------------------- loss formulas


def test_gan_discriminator_loss_at_zero_logits_is_2_log_2():
    # D = sigmoid(0) = 1/2 on both batches:
    # -(log D(x) + log(1 - D(G(z)))) = -(log 1/2 + log 1/2) = 2 log 2 ~= 1.3863
    loss = gan_discriminator_loss(t(0.0), t(0.0))
    assert loss.item() == pytest.approx(2 * LOG2, rel=1e-6)


def test_gan_discriminator_loss_matches_the_naive_formula():
    # d_real = [1, -2]: -mean log sigmoid(d_real) = mean log(1 + e^{-d_real})
    #   = (log(1 + e^{-1}) + log(1 + e^{2})) / 2
    # d_fake = [0.5, 3, -1]: -mean log(1 - sigmoid(d_fake)) = mean log(1 + e^{d_fake})
    #   = (log(1 + e^{0.5}) + log(1 + e^{3}) + log(1 + e^{-1})) / 3
    d_real, d_fake = t(1.0, -2.0), t(0.5, 3.0, -1.0)
    expected = (math.log1p(math.exp(-1)) + math.log1p(math.exp(2))) / 2 + (
        math.log1p(math.exp(0.5)) + math.log1p(math.exp(3)) + math.log1p(math.exp(-1))
    ) / 3
    naive = -(torch.log(torch.sigmoid(d_real)).mean() + torch.log(1 - torch.sigmoid(d_fake)).mean())
    loss = gan_discriminator_loss(d_real, d_fake)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert loss.item() == pytest.approx(naive.item(), rel=1e-5)


def test_minimax_generator_loss():
    # t = 0: log(1 - sigmoid(0)) = log(1/2) = -log 2
    assert minimax_generator_loss(t(0.0)).item() == pytest.approx(-LOG2, rel=1e-6)
    # t = [-2, 0, 3]: mean log(1 - sigmoid(t)) = -mean log(1 + e^t)
    expected = -(math.log1p(math.exp(-2)) + LOG2 + math.log1p(math.exp(3))) / 3
    d_fake = t(-2.0, 0.0, 3.0)
    naive = torch.log(1 - torch.sigmoid(d_fake)).mean()
    assert minimax_generator_loss(d_fake).item() == pytest.approx(expected, rel=1e-6)
    assert minimax_generator_loss(d_fake).item() == pytest.approx(naive.item(), rel=1e-5)


def test_non_saturating_generator_loss():
    # t = 0: -log sigmoid(0) = -log(1/2) = log 2
    assert non_saturating_generator_loss(t(0.0)).item() == pytest.approx(LOG2, rel=1e-6)
    # t = [-2, 0, 3]: -mean log sigmoid(t) = mean log(1 + e^{-t})
    expected = (math.log1p(math.exp(2)) + LOG2 + math.log1p(math.exp(-3))) / 3
    d_fake = t(-2.0, 0.0, 3.0)
    naive = -torch.log(torch.sigmoid(d_fake)).mean()
    assert non_saturating_generator_loss(d_fake).item() == pytest.approx(expected, rel=1e-6)
    assert non_saturating_generator_loss(d_fake).item() == pytest.approx(naive.item(), rel=1e-5)


def test_minimax_and_non_saturating_differ_away_from_zero():
    # at t = -3 (D confidently rejects the fakes): minimax = -log(1 + e^{-3}) ~= -0.0486 (saturated),
    # non-saturating = log(1 + e^{3}) ~= 3.0486
    d_fake = t(-3.0)
    assert minimax_generator_loss(d_fake).item() == pytest.approx(-math.log1p(math.exp(-3)), rel=1e-6)
    assert non_saturating_generator_loss(d_fake).item() == pytest.approx(math.log1p(math.exp(3)), rel=1e-6)


def test_wasserstein_losses():
    # d_real = [1, 2, 3] -> mean 2; d_fake = [0.5, -0.5, 4, 2] -> mean 6/4 = 1.5
    d_real, d_fake = t(1.0, 2.0, 3.0), t(0.5, -0.5, 4.0, 2.0)
    # critic loss = mean(d_fake) - mean(d_real) = 1.5 - 2 = -0.5
    assert wasserstein_critic_loss(d_real, d_fake).item() == pytest.approx(-0.5)
    # generator loss = -mean(d_fake) = -1.5
    assert wasserstein_generator_loss(d_fake).item() == pytest.approx(-1.5)


def test_softplus_forms_stay_finite_for_large_logits():
    # in float32 sigmoid(-200) = e^{-200}/(1 + e^{-200}) underflows to 0 (e^{-200} ~ 1e-87 < 1e-45),
    # so the naive log sigmoid(-200) is -inf; likewise 1 - sigmoid(200) == 0 -> log gives -inf.
    assert torch.log(torch.sigmoid(t(-200.0))).item() == -math.inf
    assert torch.log(1 - torch.sigmoid(t(200.0))).item() == -math.inf

    # -log sigmoid(-200) = softplus(200) = 200 (+ e^{-200}, below float precision)
    ns = non_saturating_generator_loss(t(-200.0))
    assert ns.item() == pytest.approx(200.0)
    # log(1 - sigmoid(200)) = -softplus(200) = -200
    assert minimax_generator_loss(t(200.0)).item() == pytest.approx(-200.0)
    # d_real = -200 contributes softplus(200) = 200; d_fake = 200 contributes softplus(200) = 200
    assert gan_discriminator_loss(t(-200.0), t(200.0)).item() == pytest.approx(400.0)
    # confident, correct discriminator: both terms ~ softplus(-200) ~ 0
    assert gan_discriminator_loss(t(200.0), t(-200.0)).item() == pytest.approx(0.0, abs=1e-30)


def test_non_saturating_gradient_does_not_vanish_where_minimax_does():
    # d/dt softplus(-t) = -sigmoid(-t) -> -1 at t = -200: a full-strength signal for G
    x = t(-200.0).requires_grad_(True)
    non_saturating_generator_loss(x).backward()
    assert x.grad.item() == pytest.approx(-1.0)
    # d/dt (-softplus(t)) = -sigmoid(t) -> ~0 at t = -200: the minimax loss saturates
    y = t(-200.0).requires_grad_(True)
    minimax_generator_loss(y).backward()
    assert torch.isfinite(y.grad).all()
    assert abs(y.grad.item()) < 1e-30


# --------------------------------------------------------------------------- gradient penalty


def linear_critic(w: tuple[float, float]) -> nn.Linear:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
        critic.bias.zero_()
    return critic


@pytest.mark.parametrize(
    ("w", "expected"),
    [
        # |(3, 4)| = 5 -> (5 - 1)^2 = 16
        ((3.0, 4.0), 16.0),
        # |(0, 2)| = 2 -> (2 - 1)^2 = 1
        ((0.0, 2.0), 1.0),
        # |(0, 0)| = 0 -> (0 - 1)^2 = 1
        ((0.0, 0.0), 1.0),
        # |(1, 0)| = 1 -> 0
        ((1.0, 0.0), 0.0),
        # |(0.6, 0.8)| = 1 -> 0 (up to float32 rounding of 0.6, 0.8)
        ((0.6, 0.8), 0.0),
    ],
)
def test_gradient_penalty_of_a_linear_critic(w, expected):
    # D(x) = w . x has grad_x D = w at every x, so ||grad D(x_hat)|| = |w| for every interpolate
    # and E[(|w| - 1)^2] = (|w| - 1)^2, whatever the real/fake batches and the eps draws are.
    critic = linear_critic(w)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(32, 2, generator=gen)
    fake = 5 * torch.randn(32, 2, generator=gen) + 3
    eps = torch.rand(1, 32, 1, generator=torch.Generator().manual_seed(1))
    gp = gradient_penalty(critic, real[None], fake[None], eps)  # one member: [1, batch, 2]
    assert gp.shape == (1,) and gp.item() == pytest.approx(expected, abs=1e-12)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    # P(w) = (|w| - 1)^2 -> dP/dw = 2 (|w| - 1) w / |w|; at w = (3, 4): 2 * 4 * (3, 4) / 5 = (4.8, 6.4)
    critic = linear_critic((3.0, 4.0))
    real, fake = torch.zeros(4, 2), torch.ones(4, 2)
    gradient_penalty(critic, real[None], fake[None], torch.full((1, 4, 1), 0.5)).sum().backward()
    torch.testing.assert_close(critic.weight.grad, torch.tensor([[4.8, 6.4]]))


def test_gradient_penalty_uses_the_interpolates():
    # D(x) = |x|^2 / 2 has grad x, so the penalty at x_hat is (|x_hat| - 1)^2.
    # real = fake = (3, 4) -> x_hat = (3, 4) whatever eps is -> (5 - 1)^2 = 16
    class HalfSquare(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return 0.5 * (x**2).sum(dim=-1, keepdim=True)

    point = torch.tensor([[3.0, 4.0]]).repeat(8, 1)[None]
    gp = gradient_penalty(HalfSquare(), point, point.clone(), torch.rand(1, 8, 1))
    assert gp.item() == pytest.approx(16.0)

    # real = (1, 0), fake = (0, 0): x_hat = (eps, 0), penalty = mean (eps - 1)^2 with the eps the
    # hook draws from the member's penalty stream (shape (n, 1) per member), times lambda.
    n = 64
    real = torch.tensor([[1.0, 0.0]]).repeat(n, 1)[None]
    fake = torch.zeros(1, n, 2)
    eps = torch.rand((1, n, 1), generator=torch.Generator().manual_seed(7))
    expected = ((eps - 1) ** 2).mean().item()
    assert gradient_penalty(HalfSquare(), real, fake, eps).item() == pytest.approx(expected, rel=1e-5)
    stream = torch.Generator().manual_seed(7)
    shapes = []

    def uniform(shape):
        shapes.append(shape)
        return torch.rand(shape, generator=stream)[None]

    hp = dataclasses.replace(GAN_DEFAULTS, gp_lambda=10.0)
    term = penalty_from_hyperparameters(HalfSquare(), real, fake, hp, uniform)
    assert shapes == [(n, 1)] and term.item() == pytest.approx(10 * expected, rel=1e-5)
    assert penalty_from_hyperparameters(HalfSquare(), real, fake, GAN_DEFAULTS, uniform) is None


# --------------------------------------------------------------------------- the papers' defaults


def test_wgan_defaults_follow_arjovsky_et_al():
    hp = METHODS.get("wgan").defaults
    assert hp.optimizer == "rmsprop"
    assert hp.lr == 5e-5
    assert hp.clip == 0.01
    assert hp.n_critic == 5
    assert hp.gp_lambda == 0.0
    assert METHODS.get("wgan").objective is WASSERSTEIN


def test_wgan_gp_defaults_follow_gulrajani_et_al():
    hp = METHODS.get("wgan-gp").defaults
    assert hp.optimizer == "adam"
    assert hp.lr == 1e-4
    assert hp.beta1 == 0.0
    assert hp.beta2 == 0.9
    assert hp.gp_lambda == 10.0
    assert hp.n_critic == 5
    assert hp.clip == 0.0
    assert METHODS.get("wgan-gp").objective is WASSERSTEIN


@pytest.mark.parametrize("name", ["gan", "gan-ns"])
def test_gan_defaults(name):
    hp = METHODS.get(name).defaults
    assert hp.n_critic == 1
    assert hp.clip == 0.0
    assert hp.gp_lambda == 0.0
    # DCGAN settings (Radford et al. 2016)
    assert (hp.optimizer, hp.lr, hp.beta1, hp.beta2) == ("adam", 2e-4, 0.5, 0.999)
    assert METHODS.get(name).objective.discriminator_loss is gan_discriminator_loss


def test_gan_uses_minimax_and_gan_ns_the_non_saturating_generator_loss():
    gan, gan_ns = METHODS.get("gan").objective, METHODS.get("gan-ns").objective
    assert gan.generator_loss is minimax_generator_loss
    assert gan_ns.generator_loss is non_saturating_generator_loss
    # by value too: at t = 0, log(1/2) for minimax and -log(1/2) for non-saturating
    assert gan.generator_loss(t(0.0)).item() == pytest.approx(-LOG2)
    assert gan_ns.generator_loss(t(0.0)).item() == pytest.approx(LOG2)


def test_optimizer_follows_the_hyperparameters():
    params = [nn.Parameter(torch.zeros(2))]
    wgan = train_module.make_optimizer(params, "d", [METHODS.get("wgan").defaults])
    assert isinstance(wgan, torch.optim.RMSprop)
    assert wgan.param_groups[0]["lr"] == 5e-5
    gp = train_module.make_optimizer(params, "d", [METHODS.get("wgan-gp").defaults])
    assert isinstance(gp, torch.optim.Adam)
    assert gp.param_groups[0]["lr"] == 1e-4
    assert gp.param_groups[0]["betas"] == (0.0, 0.9)


# --------------------------------------------------------------------------- WGAN weight clipping


def test_wgan_clips_every_critic_parameter(ring, built):
    method = METHODS.get("wgan")
    hp = dataclasses.replace(method.defaults, lr=0.1)
    result = run(method, ring, hp=hp, steps=3)
    assert result.status == "ok"
    (record,) = built
    params = list(record["discriminator"].parameters())
    assert params
    largest = max(p.detach().abs().max().item() for p in params)
    assert largest <= 0.01
    # with lr 0.1 the RMSprop steps (~lr / sqrt(1 - alpha) = 1 on the first step) push weights far past
    # the bound, so the clip is active: some parameter sits on it
    assert largest == pytest.approx(0.01)


def test_without_clip_the_same_run_leaves_the_bound(ring, built):
    # control for the test above: the large lr really does push weights outside [-0.01, 0.01]
    method = METHODS.get("wgan")
    hp = dataclasses.replace(method.defaults, lr=0.1, clip=0.0)
    run(method, ring, hp=hp, steps=3)
    (record,) = built
    largest = max(p.detach().abs().max().item() for p in record["discriminator"].parameters())
    assert largest > 0.01


# --------------------------------------------------------------------------- n_critic


def count_forwards(module: nn.Module) -> list[int]:
    calls = [0]

    def hook(_module, _inputs, _output):
        calls[0] += 1

    module.register_forward_hook(hook)
    return calls


@pytest.fixture
def counted(monkeypatch):
    """Count forward calls of the (stacked) generator and discriminator that `train` trains."""
    counts: dict[str, list[int]] = {}
    original = train_module.stack_or_single

    def counting_stack(members, shape):
        stacked, reason = original(members, shape)
        counts["g" if "g" not in counts else "d"] = count_forwards(stacked)
        return stacked, reason

    monkeypatch.setattr(train_module, "stack_or_single", counting_stack)
    return counts


def test_wgan_takes_five_critic_steps_per_generator_step(ring, counted):
    run(METHODS.get("wgan"), ring, steps=1)
    # each critic step: D(real) + D(fake) = 2 calls; 5 critic steps -> 10;
    # the generator step: D(G(z)) -> 1 more; total 5 * 2 + 1 = 11
    assert counted["d"][0] == 11
    # G runs once per critic step (the fake batch) and once in its own step: 5 + 1 = 6
    assert counted["g"][0] == 6


def test_critic_steps_scale_with_generator_steps(ring, counted):
    run(METHODS.get("wgan"), ring, steps=3)
    # 3 generator steps x (5 critic steps x 2 calls + 1) = 3 x 11 = 33
    assert counted["d"][0] == 33


@pytest.mark.parametrize("name", point_methods())
def test_discriminator_calls_per_generator_step_follow_n_critic(name, ring, counted):
    penalties = [0]

    def counting_penalty(*args):
        term = penalty_from_hyperparameters(*args)
        penalties[0] += term is not None
        return term

    method = dataclasses.replace(METHODS.get(name), penalty=counting_penalty)
    hp = method.defaults
    run(method, ring, hp=hp, steps=2)
    # per critic step: D(real), D(fake), and one more D call per penalty that is on (at interpolates,
    # real, generated or perturbed samples); per generator step: n_critic of those, then D(G(z)),
    # D(x) too for a relativistic loss, and `unroll` surrogate critic steps before them
    terms = sum(1 for term in PENALTIES if getattr(hp, term.setting))
    per_critic = 2 + terms
    generator = 1 + method.objective.generator_reads_real + hp.unroll * per_critic
    assert counted["d"][0] == 2 * (hp.n_critic * per_critic + generator)
    assert penalties[0] == (2 * (hp.n_critic + hp.unroll) if terms else 0)


def test_wgan_gp_critic_steps(ring, counted):
    run(METHODS.get("wgan-gp"), ring, steps=1)
    # 5 critic steps x (D(real) + D(fake) + D(x_hat) for the penalty) + 1 generator step = 16
    assert counted["d"][0] == 16


def test_gan_alternates_one_to_one(ring, counted):
    run(METHODS.get("gan"), ring, steps=4)
    # 4 x (1 critic step x 2 calls + 1) = 12
    assert counted["d"][0] == 12


# --------------------------------------------------------------------------- divergence


def nan_from_call(k: int, loss, value: float):
    """Wrap `loss` so that from its k-th call on it returns `value` (keeping a finite gradient)."""
    calls = [0]

    def wrapped(*args: Tensor) -> Tensor:
        calls[0] += 1
        out = loss(*args)
        return out + value if calls[0] >= k else out

    return wrapped, calls


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_generator_loss_going_non_finite_is_reported_at_that_step(ring, value):
    k = 3
    g_loss, calls = nan_from_call(k, non_saturating_generator_loss, value)
    method = Method("nan-at-k", "test-only", Objective(gan_discriminator_loss, g_loss), GAN_DEFAULTS)
    seen: list[int] = []
    result = run(method, ring, steps=10, log_every=1, on_step=seen.append)

    assert result.status == "diverged"
    assert result.diverged_step == k
    # the generator loss is evaluated once per step: it ran at steps 1..k and never again
    assert calls[0] == k
    # steps before k completed normally; step k is neither reported nor logged
    assert seen == list(range(1, k))
    assert result.loss_steps == list(range(1, k))
    assert all(math.isfinite(v) for v in result.d_losses + result.g_losses)


def test_discriminator_loss_going_nan_is_reported_at_that_step(ring):
    # GAN defaults: n_critic = 1, so the discriminator loss's k-th call is in generator step k
    k = 4
    d_loss, calls = nan_from_call(k, gan_discriminator_loss, math.nan)
    method = Method("d-nan", "test-only", Objective(d_loss, non_saturating_generator_loss), GAN_DEFAULTS)
    result = run(method, ring, steps=10, log_every=1)
    assert result.status == "diverged"
    assert result.diverged_step == k
    assert calls[0] == k  # the run stops at the first logging point where every member diverged


def test_divergence_on_the_first_step(ring):
    g_loss, calls = nan_from_call(1, minimax_generator_loss, math.nan)
    method = Method("nan-at-1", "test-only", Objective(gan_discriminator_loss, g_loss), GAN_DEFAULTS)
    result = run(method, ring, steps=5, log_every=1)
    assert (result.status, result.diverged_step, calls[0]) == ("diverged", 1, 1)
    assert result.loss_steps == []


# --------------------------------------------------------------------------- determinism


def params_of(result) -> list[Tensor]:
    return [p.detach().clone() for p in result.generator.parameters()]


@pytest.mark.parametrize("name", ["gan-ns", "wgan-gp"])
def test_same_seed_is_bitwise_reproducible(name, ring):
    method = METHODS.get(name)
    a = run(method, ring, steps=5, seed=3, log_every=1)
    b = run(method, ring, steps=5, seed=3, log_every=1)
    pa, pb = params_of(a), params_of(b)
    assert len(pa) == len(pb)
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert a.loss_steps == b.loss_steps == [1, 2, 3, 4, 5]
    assert a.d_losses == b.d_losses
    assert a.g_losses == b.g_losses
    sa = generate(a.generator, 20, SIZE.latent_dim, seed=3, device=CPU)
    sb = generate(b.generator, 20, SIZE.latent_dim, seed=3, device=CPU)
    assert torch.equal(sa, sb)


@pytest.mark.parametrize("name", ["gan-ns", "wgan-gp"])
def test_different_seed_gives_different_runs(name, ring):
    method = METHODS.get(name)
    a = run(method, ring, steps=5, seed=3, log_every=1)
    c = run(method, ring, steps=5, seed=4, log_every=1)
    assert not all(torch.equal(x, y) for x, y in zip(params_of(a), params_of(c), strict=True))
    assert a.d_losses != c.d_losses
    assert a.g_losses != c.g_losses


# --------------------------------------------------------------------------- loss history


def test_loss_history_logs_every_k_steps_and_the_last(ring):
    result = run(METHODS.get("gan"), ring, steps=10, log_every=4)
    assert result.loss_steps == [4, 8, 10]
    assert len(result.d_losses) == len(result.g_losses) == 3
    assert all(math.isfinite(v) for v in result.d_losses + result.g_losses)


def test_loss_history_values_are_the_losses_at_those_steps(ring):
    # logging every step and every 4th step of the same seeded run must agree on the shared steps
    every = run(METHODS.get("gan"), ring, steps=10, log_every=1, seed=5)
    sparse = run(METHODS.get("gan"), ring, steps=10, log_every=4, seed=5)
    assert every.loss_steps == list(range(1, 11))
    index = [every.loss_steps.index(s) for s in sparse.loss_steps]
    assert sparse.d_losses == [every.d_losses[i] for i in index]
    assert sparse.g_losses == [every.g_losses[i] for i in index]


def test_on_step_is_called_after_every_generator_step(ring):
    seen: list[int] = []
    result = run(METHODS.get("gan"), ring, steps=6, on_step=seen.append)
    assert result.status == "ok"
    assert seen == [1, 2, 3, 4, 5, 6]
    assert result.seconds > 0
