"""The dual encoder's baselines end to end (ridge against its closed form, ARMUL, binary tasks)
and the refusals of bad input."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.config import ModelConfig
from orthomtl.data import load_hetero_sim
from orthomtl.methods.dual_encoder import DualEncoder, SingleTaskRidge
from orthomtl.tasks import Task
from tests.methods.dual_encoder.helpers import (
    NO_SOURCE,
    TINY,
    record,
    results,
    rows,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")

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
