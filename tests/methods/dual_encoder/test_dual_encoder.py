"""The dual encoder through the engine, in-process, on tiny multi-source data: the alternating
rounds lower the objective, ``fallback: stl``, early stopping per task, model selection and the
results."""

import csv
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.data import load_hetero_sim
from tests.methods.dual_encoder.helpers import (
    TASK_NAMES,
    TRAIN_ROWS,
    UNRELATED,
    load_unrelated,
    own_mse,
    record,
    results,
    rows,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")


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
