"""The dual encoder's linear readouts of its shared part, and its diagnostics."""

import csv
from pathlib import Path

import pytest
import torch

import orthomtl
from orthomtl.diagnostics import read_diagnostics
from tests.methods.dual_encoder.helpers import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_a_shared_only_model_is_its_readouts_of_the_shared_latent(
    tmp_path: Path, kind: str
) -> None:
    """Without task encoders η_r = β_rᵀC(x) + b_r, so the readouts of ``encode`` are the served
    outputs (one snapshot serves every task with joint early stopping)."""
    run_dir = train(
        tmp_path,
        {"name": "dual-encoder", "task_dim": 0, "early_stopping": "joint"},
        data={"kind": kind},
        trainer={"max_epochs": 3},
    )
    method = orthomtl.load(run_dir).method
    x = torch.randn(7, 5)
    readouts = method.linear_readouts()
    latent = method.encode(x)
    for name, output in method.outputs(x).items():
        weight, bias = readouts[name]
        assert weight.shape == (output.shape[1], latent.shape[1])
        torch.testing.assert_close(latent @ weight.T + bias, output, rtol=1e-4, atol=1e-5)
    last = read_diagnostics(run_dir)["neural_collapse"][-1]  # logged by default
    if kind == "regression":  # no class task: the latent's rank and spectrum only
        assert set(last["metrics"]) == {"effective_rank"}
        assert len(last["spectrum"]) == latent.shape[1]


def test_binary_tasks_get_collapse_metrics_of_the_shared_latent(tmp_path: Path) -> None:
    run_dir = train(
        tmp_path,
        {"name": "dual-encoder"},
        data={"kind": "binary"},
        trainer={"max_epochs": 2},
        diagnostics={"neural_collapse_every_n_epochs": 1, "gradient_conflict_every_n_steps": 0},
    )
    with (run_dir / "metrics.csv").open() as file:
        rows = [r for r in csv.DictReader(file) if r.get("nc/coherence_max")]
    assert len(rows) == 2 and all(r["nc/task1/nc1"] for r in rows)
    record = read_diagnostics(run_dir)["neural_collapse"][-1]
    assert record["coherence"]["tasks"] == ["task1", "task2", "task3"]
