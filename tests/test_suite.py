"""Suite files: validation with file-and-key errors, overrides, and expansion into jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, write_tiny_suite

from ganbench.app.suites import load_any
from ganbench.errors import GanbenchError
from ganbench.models import METHODS
from ganbench.suite import find_suite, load_suite, suite_names, with_overrides


@pytest.mark.parametrize("path", sorted((ROOT / "suites").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_suite_validates(path: Path) -> None:
    suite = load_any(str(path))  # training or throughput, by the file's kind
    assert suite.jobs(), "a shipped suite expands to at least one job"
    assert suite.description


def test_suites_are_found_by_name() -> None:
    assert "mode-collapse" in suite_names()
    assert find_suite("mode-collapse") == ROOT / "suites" / "mode-collapse.toml"


def test_mode_collapse_suite_is_the_issue_grid() -> None:
    suite = load_suite("mode-collapse")
    assert suite.methods == ("gan", "gan-ns", "pacgan2", "wgan", "wgan-gp")
    assert suite.datasets == ("ring-8", "grid-25")
    assert suite.seeds >= 10 and suite.first_seed == 0  # PacGAN's count
    assert suite.eval.samples == 2500  # VEEGAN / PacGAN protocol
    assert len(suite.jobs()) == 5 * 2 * suite.seeds
    pacgan2 = suite.hyperparameters("pacgan2")
    assert pacgan2.pack == 2 and pacgan2.architecture == "mlp"


def test_mode_collapse_settings_come_from_its_shipped_tuning_search() -> None:
    from ganbench.tune import search_suite

    suite, tuning = load_suite("mode-collapse"), load_suite("mode-collapse-tuning")
    # The same protocol and budget as the search, at reported seeds apart from its tuning seeds...
    for part in ("methods", "datasets", "metrics", "seeds", "first_seed", "train", "eval", "quick"):
        assert getattr(suite, part) == getattr(tuning, part), part
    assert not set(tuning.tune.seed_range()) & set(range(suite.first_seed, suite.first_seed + suite.seeds))
    # ...and every method's setting is one of the configurations the search tried.
    tried = search_suite(tuning).configurations
    for method in suite.methods:
        assert suite.hyperparameters(method) in tried[method], method


def test_the_zoo_suite_comes_from_its_search_on_the_mode_collapse_protocol() -> None:
    from ganbench.tune import search_suite

    zoo, tuning, main = (
        load_suite("mode-collapse-zoo"),
        load_suite("mode-collapse-zoo-tuning"),
        load_suite("mode-collapse"),
    )
    for part in ("methods", "datasets", "metrics", "seeds", "first_seed", "train", "eval", "quick"):
        assert getattr(zoo, part) == getattr(tuning, part), part
    # The protocol, budget, seeds and search of the main suite: one table can hold both runs.
    for part in ("datasets", "metrics", "seeds", "first_seed", "train", "eval", "quick"):
        assert getattr(zoo, part) == getattr(main, part), part
    reference = load_suite("mode-collapse-tuning").tune
    assert (tuning.tune.configurations, tuning.tune.seeds, tuning.tune.first_seed, tuning.tune.select) == (
        reference.configurations, reference.seeds, reference.first_seed, reference.select,
    )  # fmt: skip
    assert not set(zoo.methods) & set(main.methods)
    tried = search_suite(tuning).configurations
    for method in zoo.methods:
        assert zoo.hyperparameters(method) in tried[method], method


def test_mode_collapse_full_is_mode_collapse_trained_five_times_longer() -> None:
    short, full = load_suite("mode-collapse"), load_suite("mode-collapse-full")
    for part in ("methods", "datasets", "metrics", "seeds", "first_seed", "eval", "quick"):
        assert getattr(full, part) == getattr(short, part), part
    assert full.train.steps == 5 * short.train.steps == 40_000
    # The same 20 tracked points, so the convergence test sees as many.
    assert full.train.steps // full.train.track_every == short.train.steps // short.train.track_every == 20
    same = ("batch_size", "latent_dim", "width", "depth")
    assert [getattr(full.train, k) for k in same] == [getattr(short.train, k) for k in same]
    assert all(full.hyperparameters(m) == short.hyperparameters(m) for m in short.methods)
    # Its own search starts from those settings (configuration 1) and draws from the same space.
    tuning = load_suite("mode-collapse-tuning")
    assert full.tune == tuning.tune


def test_jobs_expand_method_major_with_seeds_from_zero(tmp_path: Path) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path, datasets=("ring-8", "grid-25"), seeds=2)))
    keys = [job.key for job in suite.jobs()]
    assert keys == [
        "gan__ring-8__seed0", "gan__ring-8__seed1", "gan__grid-25__seed0", "gan__grid-25__seed1",
        "wgan__ring-8__seed0", "wgan__ring-8__seed1", "wgan__grid-25__seed0", "wgan__grid-25__seed1",
    ]  # fmt: skip
    assert len(set(keys)) == len(keys)


def test_method_override_keeps_the_other_defaults(tmp_path: Path) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path, extra="[method.wgan]\nlr = 1e-3\n")))
    wgan = suite.hyperparameters("wgan")
    assert wgan.lr == 1e-3
    assert (wgan.clip, wgan.n_critic, wgan.optimizer) == (0.01, 5, "rmsprop")
    assert suite.hyperparameters("gan") == METHODS.get("gan").defaults


def test_dataset_parameters_are_suite_settings(tmp_path: Path) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path, extra="[dataset.ring-8]\nradius = 2.0\nstd = 0.02\n")))
    (job, *_) = suite.jobs()
    assert (job.dataset_params.radius, job.dataset_params.std) == (2.0, 0.02)


def test_job_config_is_complete_json(tmp_path: Path) -> None:
    (job, *_) = load_suite(str(write_tiny_suite(tmp_path))).jobs()
    config = json.loads(json.dumps(job.config()))
    assert config["method"] == "gan" and config["seed"] == 0
    assert config["hyperparameters"]["lr"] == METHODS.get("gan").defaults.lr
    assert config["dataset_params"] == {"radius": 1.0, "std": 0.01}
    assert config["train"]["steps"] == 10 and config["eval"]["samples"] == 200


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("colour = 1\n", "unknown key 'colour'"),
        ("[method.wgan]\nlearning_rate = 1.0\n", "method.wgan: unknown key 'learning_rate'"),
        ("[method.wgna]\nlr = 1.0\n", "unknown method 'wgna' (did you mean 'wgan'"),
        ("[dataset.ring-8]\nstd = -1.0\n", "dataset.ring-8.std must be > 0 (got -1.0)"),
        (
            "[method.wgan]\noptimizer = 'adagrad'\n",
            "method.wgan.optimizer must be one of 'adam', 'rmsprop', 'sgd'",
        ),
        ("[method.wgan]\nn_critic = 'five'\n", "method.wgan.n_critic must be an integer (got 'five')"),
        ("[method.gan]\narchitecture = 'mpl'\n", "unknown architecture 'mpl' (did you mean 'mlp'?)"),
    ],
)
def test_bad_suite_files_name_file_and_key(tmp_path: Path, extra: str, message: str) -> None:
    path = write_tiny_suite(tmp_path, extra=extra)
    with pytest.raises(GanbenchError) as err:
        load_suite(str(path))
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seeds = 2", "seeds = 0", "seeds must be >= 1 (got 0)"),
        ("samples = 200", "samples = 0", "eval.samples must be >= 1 (got 0)"),
        ("steps = 10", "steps = -1", "train.steps must be >= 0 (got -1)"),
        ('methods = ["gan", "wgan"]', 'methods = ["gan", "wgann"]', "unknown method 'wgann'"),
        ('datasets = ["ring-8"]', 'datasets = ["ring8"]', "unknown dataset 'ring8' (did you mean 'ring-8'?)"),
        ('"w1"]', '"w2"]', "unknown metric 'w2' (did you mean 'w1'?)"),
        ('methods = ["gan", "wgan"]', "methods = []", "'methods' must be a non-empty list of names"),
        ('methods = ["gan", "wgan"]', 'methods = ["gan", "gan"]', "'methods' lists a name twice"),
        ("steps = 10", "stpes = 10", "train: unknown key 'stpes' (did you mean 'steps'?)"),
        ("[eval]", "[eval", "invalid TOML"),
    ],
)
def test_out_of_range_and_malformed_values(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = write_tiny_suite(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(GanbenchError) as err:
        load_suite(str(path))
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_suite_name_suggests() -> None:
    with pytest.raises(GanbenchError, match="did you mean 'mode-collapse'"):
        find_suite("mode-colapse")


def test_missing_suite_file() -> None:
    with pytest.raises(GanbenchError, match="suite file not found"):
        find_suite("no/such/file.toml")


def test_overrides_quick_then_steps(tmp_path: Path) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path)))
    quick = with_overrides(suite, quick=True)
    assert (quick.train.steps, quick.eval.samples) == (3, 100)
    both = with_overrides(suite, quick=True, steps=7, seeds=4, methods=["wgan-gp"])
    assert (both.train.steps, both.eval.samples, both.seeds, both.methods) == (7, 100, 4, ("wgan-gp",))
    assert suite.train.steps == 10, "overrides return a new suite"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": 0}, "--seeds must be >= 1 (got 0)"),
        ({"steps": -5}, "--steps must be >= 0 (got -5)"),
        ({"methods": ["gan", "ganns"]}, "unknown method 'ganns' (did you mean 'gan-ns'"),
        ({"methods": []}, "--methods: give at least one method name"),
    ],
)
def test_bad_overrides(tmp_path: Path, kwargs: dict, message: str) -> None:
    suite = load_suite(str(write_tiny_suite(tmp_path)))
    with pytest.raises(GanbenchError) as err:
        with_overrides(suite, **kwargs)
    assert message in str(err.value)
