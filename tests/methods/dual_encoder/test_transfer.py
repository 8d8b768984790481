"""``dual-encoder-transfer``: a new task on a finished run's frozen shared encoder, and
``hetero-sim``'s held-out tasks."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.data import load_hetero_sim, simulate_tasks
from orthomtl.engine import read_checkpoint, read_results
from orthomtl.methods.dual_encoder import load_source

pytestmark = pytest.mark.usefixtures("one_thread")

SIM = {"num_tasks": 3, "features": 5, "test_size": 50}


def _config(runs: Path, method: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": {"name": "hetero-sim", "batch_size": 16, **SIM, **data},
        "method": method,
        "optim": {"lr": 0.01},
        "trainer": {"max_epochs": 6, "progress_bar": False},
        "seeds": [0],
        "runs_dir": str(runs),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("transfer")
    source = orthomtl.run(
        _config(root, {"name": "dual-encoder", "c": [0.1, 1.0]}, {"n": 60})
    ).run_dirs[0]
    method = {"name": "dual-encoder-transfer", "from_run": str(source), "task_dim": [2, 4]}
    target = orthomtl.run(_config(root, method, {"n": 30, "new_tasks": 1})).run_dirs[0]
    return source, target


def test_the_shared_encoder_is_the_sources_frozen_and_the_centre_fixed(
    runs: tuple[Path, Path],
) -> None:
    source_dir, target_dir = runs
    source = load_source(source_dir)
    g = int(source.network.selected[0])
    p = source.configurations[g].shared_dim
    state = read_checkpoint(target_dir / "checkpoints" / "last.ckpt")["model"]
    joint = source.network.joint
    layers = len(source.net.shared.weights)
    for i in range(layers):
        expected_w = joint.get_buffer(f"shared_weight{i}")[0, g]
        expected_b = joint.get_buffer(f"shared_bias{i}")[0, g]
        if i == layers - 1:
            expected_w, expected_b = expected_w[:, :p], expected_b[:p]
        for config in range(state[f"net.shared.weights.{i}"].shape[0]):  # trained: unchanged
            assert torch.equal(state[f"net.shared.weights.{i}"][config], expected_w)
            assert torch.equal(state[f"net.shared.biases.{i}"][config], expected_b)
    assert torch.equal(state["net.x_mean"], source.net.x_mean)
    assert torch.equal(state["net.x_scale"], source.net.x_scale)
    beta_bar = joint.centre[g, 0, source.net.q : source.net.q + p]
    q = state["net.theta"].shape[-1] - 1 - p
    for config in range(2):  # the two transfer configurations (task_dim 2 and 4), not the STL
        assert torch.equal(state["net.centre"][config, q : q + p], beta_bar)


def test_the_transferred_task_is_served_and_compared_with_its_fit_alone(
    runs: tuple[Path, Path],
) -> None:
    _, target_dir = runs
    model = orthomtl.load(target_dir)
    assert [t.name for t in model.tasks] == ["task4"]
    prediction = model.predict(torch.zeros(3, 5))["task4"]
    assert prediction.shape == (3,) and torch.isfinite(prediction).all()
    record = read_results(target_dir)
    assert np.isfinite(record["metrics"]["test"]["mse"])
    selection = json.loads((target_dir / "dual_encoder.json").read_text())
    assert len(selection["sharing_gain"]["gain"]) == 1  # against the single-task MLP alongside


def test_a_run_without_a_shared_encoder_or_other_features_is_refused(tmp_path: Path) -> None:
    ridge = orthomtl.run(
        _config(tmp_path, {"name": "single-task-ridge"}, {"n": 30})
        | {"trainer": {"max_epochs": 1, "progress_bar": False}}
    ).run_dirs[0]
    method = {"name": "dual-encoder-transfer", "from_run": str(ridge)}
    with pytest.raises(ValueError, match="no shared MLP to transfer"):
        orthomtl.run(_config(tmp_path, method, {"n": 30, "new_tasks": 1}))
    hps = orthomtl.run(
        {
            "data": {"name": "hetero-sim", **SIM, "n": 30},
            "model": {"encoder": "mlp", "latent_dim": 4, "encoder_options": {"hidden": [8]}},
            "trainer": {"max_epochs": 1, "progress_bar": False},
            "runs_dir": str(tmp_path),
        }
    ).run_dirs[0]
    method = {"name": "dual-encoder-transfer", "from_run": str(hps)}
    with pytest.raises(ValueError, match="transfer needs a run of dual-encoder or shared-only"):
        orthomtl.run(_config(tmp_path, method, {"n": 30, "new_tasks": 1}))


def test_new_tasks_are_held_out_tasks_of_the_same_design() -> None:
    data = load_hetero_sim(seed=3, **SIM, n=40, new_tasks=2)
    assert [t.name for t in data.tasks] == ["task4", "task5"]
    assert len(data.train) + len(data.val) == 80 and len(data.test) == 100
    design = simulate_tasks(seed=3, **SIM, extra_tasks=2).design
    for r, task in enumerate(data.tasks):
        rows = data.test.sources == r
        x = data.test.x[torch.from_numpy(rows)].numpy().astype(np.float64)
        y = data.test.labels(task.name)[rows]
        residual = y - design.noiseless(3 + r, x)
        assert residual.std() == pytest.approx(0.5, rel=0.2)  # noise 0.5: the design's task
        other = y - design.noiseless(0, x)  # not the first task's function
        assert other.std() > 0.6
    again = load_hetero_sim(seed=3, **SIM, n=40, new_tasks=2)
    assert torch.equal(again.train.x, data.train.x)
    trained = load_hetero_sim(seed=3, **SIM, n=40)
    assert not np.allclose(trained.train.x[:10].numpy(), data.train.x[:10].numpy())
