"""The dual encoder and its baselines through the engine, in-process, on tiny multi-source data:
the alternating rounds lower the objective, ``fallback: stl``, early stopping per task, model
selection, the results and the refusals."""

import csv
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

import orthomtl
from orthomtl.config import ModelConfig
from orthomtl.data import ArrayDataset, DatasetInfo, TaskData, load_hetero_sim, multi_source_data
from orthomtl.methods.dual_encoder import DualEncoder, SingleTaskRidge
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"num_tasks": 3, "features": 5, "n": 40, "test_size": 50}
"""hetero-sim: 3 tasks of 5 features, 32 training and 8 validation rows each."""
TRAIN_ROWS = 3 * 32

UNRELATED = "test-de-unrelated"
TASK_NAMES = ["a", "b", "c", "other"]


def load_unrelated(*, seed: int = 0, path: str | None = None, tasks: list[str] | None = None):
    """Tasks a, b, c share one target function and have 16 rows each; ``other`` has its own
    target function and 200 rows: sharing helps a, b and c, and not ``other``."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=5)
    xs, ys = [], []
    for r in range(4):
        n = 16 if r < 3 else 200
        x = rng.normal(size=(n, 5))
        y = np.tanh(x @ w) * 2 if r < 3 else np.sin(3 * x[:, 0]) * x[:, 1]
        xs.append(x)
        ys.append(y + 0.1 * rng.normal(size=n))
    return multi_source_data(
        UNRELATED,
        xs,
        ys,
        TASK_NAMES,
        kind="regression",
        seed=seed,
        val_fraction=0.3,
        test_fraction=0.3,
    )


NO_SOURCE = "test-de-no-source"


def load_no_source(*, seed: int = 0, path: str | None = None, tasks: list[str] | None = None):
    """Tabular regression without ``source``: every row labels both tasks."""
    rng = np.random.default_rng(0)
    specs = [Task("u", "regression"), Task("v", "regression")]

    def split(n: int) -> ArrayDataset:
        x = rng.normal(size=(n, 4)).astype(np.float32)
        targets = {"u": x[:, 0].copy(), "v": x[:, 1].copy()}
        return ArrayDataset(x, targets, specs, name=f"{NO_SOURCE} {n}")

    return TaskData(NO_SOURCE, specs, split(40), split(10), split(10))


for _name, _loader in ((UNRELATED, load_unrelated), (NO_SOURCE, load_no_source)):
    if _name not in DATASETS:
        DATASETS.register(_name)(DatasetInfo(_name, _loader, "test only", "regression"))


def config(runs: Path, method: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    """A tiny hetero-sim run of ``method``; ``sections`` update data, optim and trainer."""
    out: dict[str, Any] = {
        "data": {"name": "hetero-sim", "batch_size": 32, **TINY},
        "method": method,
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"max_epochs": 10, "progress_bar": False, "log_every_n_steps": 50},
        "seeds": [0],
        "runs_dir": str(runs),
    }
    if "name" in sections.get("data", {}):  # another dataset: without hetero-sim's options
        out["data"] = {"batch_size": 32}
    for section, values in sections.items():
        out[section] = {**out.get(section, {}), **values}
    return out


def train(runs: Path, method: dict[str, Any], **sections: dict[str, Any]) -> Path:
    return orthomtl.run(config(runs, method, **sections)).run_dirs[0]


def record(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "dual_encoder.json").read_text())


def results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def rows(split: ArrayDataset) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    batch = split.__getitems__(list(range(len(split))))
    assert batch.source is not None
    return batch.x, batch.source, batch.targets


def own_mse(predicted: dict[str, Tensor], source: Tensor, targets: dict[str, Tensor]) -> list:
    """Each task's mean squared error on its own rows."""
    out = []
    for r, (name, values) in enumerate(predicted.items()):
        own = source == r
        error = values[own].double() - targets[name][own].double()
        out.append(float(error.pow(2).mean()))
    return out


# --- the alternating rounds -----------------------------------------------------------------------
def test_every_round_lowers_the_objective(tmp_path: Path) -> None:
    """One full-batch Adam step with a small learning rate, then proximal and centre steps: no
    part of a round raises the objective (Σ_r f_r + penalties + λ_o orthogonality)."""
    run_dir = train(
        tmp_path,
        {"name": "dual-encoder", "shared_dim": 4, "task_dim": 2, "orthogonality": 0.5},
        data={"batch_size": TRAIN_ROWS},
        optim={"lr": 1e-3},
        trainer={"max_epochs": 25, "log_every_n_steps": 1},
    )
    with (run_dir / "metrics.csv").open() as file:
        logged = list(csv.DictReader(file))
    assert results(run_dir)["steps"] == 25  # one step per round
    for g in (0, 1):  # the dual encoder, and the single-task MLP trained alongside
        values = [float(r[f"train/objective/{g}"]) for r in logged if r.get(f"train/objective/{g}")]
        assert len(values) == 25
        for before, after in itertools.pairwise(values):
            assert after <= before * (1 + 1e-6), (g, values)
        assert values[-1] < 0.9 * values[0]


# --- fallback, serving and selection ------------------------------------------------------------
def unrelated_method(fallback: str) -> dict[str, Any]:
    return {
        "name": "dual-encoder",
        "fallback": fallback,
        "shared_dim": 4,
        "task_dim": 1,
        "c": [0.02, 0.1],
        "single_task_dims": [8],
        "hidden": [16],
    }


@pytest.fixture(scope="module")
def fallback_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fallback")
    return {
        fallback: train(
            root / fallback,
            unrelated_method(fallback),
            data={"name": UNRELATED, "batch_size": 32},
            trainer={"max_epochs": 30},
        )
        for fallback in ("stl", "none")
    }


def test_fallback_serves_the_single_task_fit_exactly_where_sharing_does_not_help(
    fallback_runs: dict[str, Path],
) -> None:
    rec = record(fallback_runs["stl"])
    singles = [g for g, c in enumerate(rec["configurations"]) if c["single_task"]]
    assert len(rec["configurations"]) == 3 and singles == [2]
    gain, served, selected = rec["sharing_gain"]["gain"], rec["served"], rec["selected"]
    for r in range(len(TASK_NAMES)):
        assert (served[r] in singles) == (gain[r] <= 0), r
        assert served[r] == (selected[r] if gain[r] > 0 else singles[0])
    # the data are made so that both cases occur: the unrelated task falls back
    assert gain[TASK_NAMES.index("other")] <= 0 < min(gain[:3])
    assert rec["sharing_gain"]["rows"] == [3.0, 3.0, 3.0, 42.0]  # validation rows per task
    assert all(se > 0 for se in rec["sharing_gain"]["standard_error"])


def test_fallback_none_never_serves_a_single_task_fit(fallback_runs: dict[str, Path]) -> None:
    stl, none = record(fallback_runs["stl"]), record(fallback_runs["none"])
    assert none["served"] == none["selected"] and not any(
        none["configurations"][g]["single_task"] for g in none["served"]
    )
    # fallback changes what is served, not what is trained or measured
    assert none["best_val_loss"] == stl["best_val_loss"]
    assert none["sharing_gain"] == stl["sharing_gain"]
    assert none["selected"] == stl["selected"]


def test_selection_is_the_argmin_of_the_mean_best_loss(fallback_runs: dict[str, Path]) -> None:
    rec = record(fallback_runs["stl"])
    best = np.array(rec["best_val_loss"])
    candidates = [g for g, c in enumerate(rec["configurations"]) if not c["single_task"]]
    chosen = candidates[int(best[candidates].mean(1).argmin())]
    assert rec["selected"] == [chosen] * len(TASK_NAMES)


def test_a_fallen_back_task_predicts_with_its_single_task_snapshot(
    fallback_runs: dict[str, Path],
) -> None:
    run_dir = fallback_runs["stl"]
    rec = record(run_dir)
    model = orthomtl.load(run_dir)
    x, source, targets = rows(load_unrelated().test)
    predicted = model.predict(x)
    network = model.method.network
    net, R = network.net, len(TASK_NAMES)
    block = net.standardise(x).expand(R, -1, -1)
    with torch.no_grad():
        shared = network.serving.serve(net, block, torch.tensor(rec["selected"]))[1]
        single = network.serving.serve(net, block, torch.full((R,), 2))[1]
    for r, name in enumerate(TASK_NAMES):
        assert torch.isfinite(predicted[name]).all()
        expected = single[r] if rec["served"][r] == 2 else shared[r]
        torch.testing.assert_close(predicted[name], expected)
    other = TASK_NAMES.index("other")
    assert not torch.allclose(predicted["other"], shared[other], atol=1e-3)
    latent = model.encode(x)  # the selected configuration's shared encoder C(x)
    assert latent.shape == (len(x), 4) and torch.isfinite(latent).all()
    # the test metrics are those of the served snapshots
    test = results(run_dir)["metrics"]["test"]
    for name, mse in zip(TASK_NAMES, own_mse(predicted, source, targets), strict=True):
        assert test[f"{name}/mse"] == pytest.approx(mse, rel=1e-5)


def test_results_hold_test_mse_per_task_and_inputs_are_standardised(
    fallback_runs: dict[str, Path],
) -> None:
    run_dir = fallback_runs["none"]
    test = results(run_dir)["metrics"]["test"]
    for name in TASK_NAMES:
        assert math.isfinite(test[f"{name}/mse"])
    assert test["mse"] == pytest.approx(np.mean([test[f"{n}/mse"] for n in TASK_NAMES]))
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["model"]
    x = load_unrelated().train.x.double().numpy()
    np.testing.assert_allclose(state["net.x_mean"].numpy(), x.mean(0), atol=1e-5)
    np.testing.assert_allclose(state["net.x_scale"].numpy(), x.std(0), rtol=1e-5)


# --- early stopping per task --------------------------------------------------------------------
def test_each_task_is_served_from_its_own_best_round(tmp_path: Path) -> None:
    """Task 1 has 7 training rows and overfits early; task 2 has 210 and improves to the end."""
    data = {"num_tasks": 2, "n": [10, 300], "val_fraction": 0.3, "test_size": 20}
    method = {"name": "dual-encoder", "shared_dim": 4, "task_dim": 2, "single_task_dims": []}
    run_dir = train(tmp_path, method, data={**data, "batch_size": 64}, trainer={"max_epochs": 30})
    rec = record(run_dir)
    (tiny, large) = rec["best_round"][0]
    assert tiny < large - 5 and large >= 25, rec["best_round"]
    x, source, targets = rows(load_hetero_sim(seed=0, features=5, **data).val)
    predicted = orthomtl.load(run_dir).predict(x)
    recomputed = own_mse(predicted, source, targets)
    val = results(run_dir)["metrics"]["val"]
    for r, name in enumerate(("task1", "task2")):
        best = rec["best_val_loss"][rec["served"][r]][r]
        assert recomputed[r] == pytest.approx(best, rel=1e-5)
        assert val[f"{name}/mse"] == pytest.approx(best, rel=1e-5)
    # early_stopping: joint serves both tasks from the one round of the best mean loss (its
    # record holds that mean for every task), never better than each task's own best round
    joint_dir = train(
        tmp_path / "joint",
        {**method, "early_stopping": "joint"},
        data={**data, "batch_size": 64},
        trainer={"max_epochs": 30},
    )
    joint = record(joint_dir)
    (first, second) = joint["best_round"][0]
    assert first == second and tiny <= first <= large
    mean = joint["best_val_loss"][0][0]
    assert joint["best_val_loss"][0] == [mean, mean]
    assert results(joint_dir)["metrics"]["val"]["mse"] == pytest.approx(mean, rel=1e-5)
    assert np.mean(rec["best_val_loss"][0]) < mean


# --- the baselines --------------------------------------------------------------------------------
BASELINES = {
    "shared-only": 3,
    "specific-only": 3,
    "single-task-mlp": 3,
    "pooled-mlp": 3,
    "armul": 1,
    "single-task-ridge": 1,
    "pooled-ridge": 1,
}


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("baselines")
    return {
        name: train(root / name, {"name": name}, trainer={"max_epochs": epochs})
        for name, epochs in BASELINES.items()
    }


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_runs_end_to_end(baseline_runs: dict[str, Path], name: str) -> None:
    run_dir = baseline_runs[name]
    res = results(run_dir)
    assert res["method"] == name and res["epochs"] == BASELINES[name]
    test = res["metrics"]["test"]
    for key in ("mse", "task1/mse", "task2/mse", "task3/mse"):
        assert math.isfinite(test[key]), key
    assert test["mse"] < 10  # the targets' variance is a few units: not a divergent fit
    x, _, _ = rows(load_hetero_sim(seed=0, **TINY).test)
    predicted = orthomtl.load(run_dir).predict(x)
    assert all(torch.isfinite(v).all() for v in predicted.values())


def test_single_task_ridge_is_closed_form_ridge_per_task(baseline_runs: dict[str, Path]) -> None:
    run_dir = baseline_runs["single-task-ridge"]
    rec = record(run_dir)
    lambdas = [c["c"] for c in rec["configurations"]]
    assert lambdas == [0.01, 0.1, 1.0, 10.0]
    best = np.array(rec["best_val_loss"])
    assert rec["selected"] == best.argmin(0).tolist()  # per task
    data = load_hetero_sim(seed=0, **TINY)
    x_train = data.train.x.double().numpy()
    mean, scale = x_train.mean(0), x_train.std(0)
    x, _, _ = rows(data.test)
    predicted = orthomtl.load(run_dir).predict(x)
    z_test = np.hstack([(x.numpy() - mean) / scale, np.ones((len(x), 1))])
    _, train_source, train_targets = rows(data.train)
    for r, task in enumerate(data.tasks):
        own = (train_source == r).numpy()
        z = np.hstack([(x_train[own] - mean) / scale, np.ones((own.sum(), 1))])
        y = train_targets[task.name].numpy()[own].astype(np.float64)
        lam, n = lambdas[rec["selected"][r]], len(z)
        penalised = np.diag([lam] * x.shape[1] + [0.0])  # the intercept is not penalised
        theta = np.linalg.solve(z.T @ z / n + penalised, z.T @ y / n)
        np.testing.assert_allclose(predicted[task.name].numpy(), z_test @ theta, atol=1e-4)


def test_armul_with_a_huge_c_is_the_pooled_linear_model(tmp_path: Path) -> None:
    """λ_r = c√(d/n_r) beyond every task's gradient at the pooled fit ties the tasks: ARMUL is
    then least squares with one coefficient vector and task intercepts (pooled ridge, λ → 0)."""
    identical = {**TINY, "delta": 0.0}
    fits = {
        name: train(
            tmp_path / name, {"name": name, "c": c}, data=identical, trainer={"max_epochs": 1}
        )
        for name, c in (("armul", 100.0), ("pooled-ridge", 1e-8))
    }
    x, _, _ = rows(load_hetero_sim(seed=0, **identical).test)
    armul, pooled = (orthomtl.load(fits[name]).predict(x) for name in ("armul", "pooled-ridge"))
    for name, values in pooled.items():
        torch.testing.assert_close(armul[name], values, rtol=0, atol=1e-3)


BINARY = {"kind": "binary", "num_tasks": 3, "features": 5, "n": 60, "test_size": 50}


def test_binary_tasks_train_and_ridge_is_penalised_logistic_regression(tmp_path: Path) -> None:
    runs = {
        name: train(tmp_path / name, {"name": name}, data=BINARY, trainer={"max_epochs": epochs})
        for name, epochs in (("dual-encoder", 3), ("single-task-ridge", 1))
    }
    data = load_hetero_sim(seed=0, **BINARY)
    x, _, _ = rows(data.test)
    for run_dir in runs.values():
        test = results(run_dir)["metrics"]["test"]
        assert all(0 <= test[f"task{r}/accuracy"] <= 1 for r in (1, 2, 3))
        assert math.isfinite(test["loss"]) and "mse" not in test
        predicted = orthomtl.load(run_dir).predict(x)
        assert all(set(v.unique().tolist()) <= {0, 1} for v in predicted.values())
    # the served ridge fit is the minimum of mean logistic loss + (λ/2)‖β‖²: its gradient is 0
    run_dir = runs["single-task-ridge"]
    rec, network = record(run_dir), orthomtl.load(run_dir).method.network
    x_train, source, targets = rows(data.train)
    z = torch.cat([network.net.standardise(x_train), torch.ones(len(x_train), 1)], 1).double()
    for r, task in enumerate(data.tasks):
        g = rec["selected"][r]
        theta = network.serving.theta[g, r].double()
        own = source == r
        y = targets[task.name][own].double()
        residual = torch.sigmoid(z[own] @ theta) - y
        gradient = z[own].T @ residual / own.sum()
        gradient[:-1] += rec["configurations"][g]["c"] * theta[:-1]
        assert gradient.abs().max() < 1e-4, (task.name, gradient)


# --- refusals -------------------------------------------------------------------------------------
REGRESSION = [Task("t1", "regression"), Task("t2", "regression")]


@pytest.mark.parametrize(
    ("tasks", "input_shape", "options", "message"),
    [
        (
            [Task("k", "classification", 3)],
            (5,),
            {},
            r"all regression or all binary classification \(2 classes\); got \['c3'\]",
        ),
        (
            [Task("t", "regression"), Task("k", "classification", 2)],
            (5,),
            {},
            r"tasks of one kind.*got \['c2', 'regression'\]",
        ),
        (
            REGRESSION,
            (5,),
            {"c": [0.1, 0.2, 0.3], "task_dim": [1, 2, 3]},
            r"The options give 9 configurations; at most 8 are selected among",
        ),
        (
            REGRESSION,
            (5,),
            {"fallback": "stl", "single_task_dims": ()},
            r"fallback: stl needs single-task fits; set single_task_dims",
        ),
        (REGRESSION, (5,), {"fallback": "always"}, r"fallback must be 'none' or 'stl'"),
        (REGRESSION, (1, 28, 28), {}, r"takes tabular inputs \(N, d\); got one input of shape"),
        (REGRESSION, (5,), {"centres": ("gamma",)}, r"centres lists 'alpha' and/or 'beta'"),
    ],
    ids=[
        "3-class",
        "mixed",
        "9-configurations",
        "stl-without-fits",
        "fallback",
        "image",
        "centres",
    ],
)
def test_bad_input_is_refused(
    tasks: list[Task], input_shape: tuple[int, ...], options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DualEncoder(tasks, input_shape, ModelConfig(), **options)


def test_ridge_refuses_too_many_penalties() -> None:
    with pytest.raises(ValueError, match="give 9 configurations"):
        SingleTaskRidge(REGRESSION, (5,), ModelConfig(), c=[0.1 * i for i in range(1, 10)])


def test_data_without_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"needs multi-source data \(Batch.source\)"):
        train(tmp_path, {"name": "dual-encoder"}, data={"name": NO_SOURCE})


def test_a_config_with_too_many_configurations_is_refused(tmp_path: Path) -> None:
    method = {"name": "dual-encoder", "shared_dim": [4, 8], "task_dim": [1, 2], "c": [0.1, 1.0]}
    method["orthogonality"] = [0.0, 0.1]
    with pytest.raises(ValueError, match="The options give 16 configurations; at most 8"):
        train(tmp_path, method)
    with pytest.raises(ValueError, match="fallback: stl needs single-task fits"):
        train(tmp_path, {"name": "dual-encoder", "fallback": "stl", "single_task_dims": []})
