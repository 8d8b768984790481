"""``hetero-sim``: the simulated design, its seeded draws, and the multi-source splits it gives;
and the registration of the three tabular datasets."""

import numpy as np
import pytest

from orthomtl.cli import main
from orthomtl.data import HeteroDesign, load_hetero_sim, simulate_tasks
from orthomtl.registry import DATASETS
from orthomtl.typecheck import parse_kwargs
from tests.data.files import everything


def test_splits_shapes_and_sources() -> None:
    data = load_hetero_sim(seed=0, n=[30, 50, 10], num_tasks=3, features=7, test_size=40)
    assert [(t.name, t.kind) for t in data.tasks] == [(f"task{r}", "regression") for r in (1, 2, 3)]
    assert data.input_shape == (7,)
    counts = {
        split: [int((getattr(data, split).sources == r).sum()) for r in range(3)]
        for split in ("train", "val", "test")
    }
    assert counts == {"train": [24, 40, 8], "val": [6, 10, 2], "test": [40, 40, 40]}
    batch = everything(data.test)
    for r, task in enumerate(data.tasks):
        assert batch.targets[task.name][batch.source != r].isnan().all()
        assert not batch.targets[task.name][batch.source == r].isnan().any()


def test_binary_tasks_and_selection() -> None:
    data = load_hetero_sim(kind="binary", tasks=["task4", "task2"], test_size=50)
    assert [(t.name, t.num_classes) for t in data.tasks] == [("task4", 2), ("task2", 2)]
    batch = everything(data.train)
    assert set(batch.targets["task4"][batch.source == 0].tolist()) == {0, 1}
    assert (batch.targets["task4"][batch.source == 1] == -1).all()
    full = simulate_tasks(kind="binary", test_size=50)
    np.testing.assert_allclose(
        everything(data.test).x[:50].numpy(), full.test_features[3].astype(np.float32)
    )


def test_a_seed_is_a_replication() -> None:
    first, again, other = simulate_tasks(seed=5), simulate_tasks(seed=5), simulate_tasks(seed=6)
    for a, b in [(first.features, again.features), (first.test_targets, again.test_targets)]:
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.array_equal(first.design.alpha, again.design.alpha)
    assert not np.allclose(first.design.alpha, other.design.alpha)
    assert not np.allclose(first.features[0], other.features[0])
    one, two = load_hetero_sim(seed=5), load_hetero_sim(seed=5)
    assert np.array_equal(one.train.x, two.train.x)


def test_the_design_depends_on_neither_n_nor_the_test_size_nor_extra_tasks() -> None:
    base = simulate_tasks(seed=2, n=40, test_size=30)
    changed = simulate_tasks(seed=2, n=[80] * 6, test_size=60, extra_tasks=2)
    for field in ("means", "rhos", "shared_weights", "alpha", "beta", "alpha_centre"):
        assert np.array_equal(getattr(base.design, field), getattr(changed.design, field)[:6])
    assert changed.design.num_tasks == 8 and base.design.num_tasks == 6
    assert np.array_equal(base.test_features[2], changed.test_features[2][:30])
    assert np.array_equal(base.features[1], changed.features[1][:40])
    assert not np.allclose(base.test_features[1][:30], base.features[1][:30])  # fresh test rows
    more = simulate_tasks(seed=2, num_tasks=7, n=40, test_size=30)
    assert np.array_equal(more.design.task_weights[:6], base.design.task_weights)


def test_a_held_out_task_for_transfer() -> None:
    sim = simulate_tasks(seed=1, extra_tasks=1)
    assert len(sim.features) == 6 and sim.design.num_tasks == 7
    x, y = sim.design.sample(6, 25, np.random.default_rng(0))
    assert x.shape == (25, 20) and y.shape == (25,)
    design = sim.design
    assert not np.allclose(design.alpha[6], design.alpha[:6])
    np.testing.assert_array_equal(
        design.shared_weights, simulate_tasks(seed=1).design.shared_weights
    )


def test_delta_zero_gives_every_task_the_centre_coefficients() -> None:
    design = simulate_tasks(seed=3, delta=0.0, n=5, test_size=5).design
    assert np.allclose(design.alpha, design.alpha_centre) and np.allclose(
        design.beta, design.beta_centre
    )
    spread = simulate_tasks(seed=3, delta=1.0, n=5, test_size=5).design
    assert np.allclose(np.linalg.norm(spread.alpha - spread.alpha_centre, axis=1), 1.0)
    assert np.allclose(np.linalg.norm(spread.beta - spread.beta_centre, axis=1), 1.0)


def test_noise_is_the_bayes_error_and_features_are_ar1() -> None:
    sim = simulate_tasks(seed=4, num_tasks=2, features=6, noise=0.7, n=5, test_size=20_000)
    design: HeteroDesign = sim.design
    assert design.bayes_error == pytest.approx(0.49)
    for r in range(2):
        x, y = sim.test_features[r], sim.test_targets[r]
        residual = y - design.noiseless(r, x)
        assert residual.var() == pytest.approx(0.49, rel=0.05) and abs(residual.mean()) < 0.02
        lag1 = np.mean([np.corrcoef(x[:, j], x[:, j + 1])[0, 1] for j in range(5)])
        assert lag1 == pytest.approx(design.rhos[r], abs=0.02)
        assert np.abs(x.mean(axis=0) - design.means[r]).max() < 0.05
        assert np.linalg.norm(design.means[r]) == pytest.approx(0.5)
    assert design.rhos.min() >= 0 and design.rhos.max() <= 0.6
    np.testing.assert_allclose(design.covariance(0)[0, :3], design.rhos[0] ** np.arange(3))
    assert simulate_tasks(kind="binary", n=5, test_size=5).design.bayes_error is None


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n": [10, 10]}, r"n lists 2 sizes for 6 tasks; give one number, or one per task"),
        ({"rho_max": 1.0}, r"rho_max must be in \[0, 1\), got 1.0"),
        ({"noise": -1.0}, r"noise must be >= 0, got -1.0"),
        ({"num_tasks": 0}, r"num_tasks must be an integer >= 1, got 0"),
        ({"n": 2}, r"task 'task1' has 2 rows, too few for 1 validation, 2 training rows"),
        ({"kind": "ordinal"}, r"kind must be 'regression' or 'binary'"),
        (
            {"path": "x.csv"},
            r"the dataset is simulated and takes no path; got path='x.csv'. Remove data.path",
        ),
    ],
)
def test_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^hetero-sim: {message}"):
        load_hetero_sim(**options)


def test_the_three_datasets_are_registered_with_typed_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {name: DATASETS.get(name).needs_path for name in ("tabular", "malsar", "hetero-sim")}
    assert paths == {"tabular": True, "malsar": True, "hetero-sim": False}
    loader = DATASETS.get("hetero-sim").loader
    raw = {"n": [20, 30], "num_tasks": 2, "delta": 0, "kind": "binary"}
    assert parse_kwargs(loader, raw, "data", skip=("seed", "path", "tasks"))["delta"] == 0.0
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "tabular: " in out and "malsar: " in out and "hetero-sim: " in out
    assert "data.task_column: " in out and "data.x_key: " in out and "data.rho_max: " in out
