"""``NeuralCollapseCallback`` on a real run, and the gradient-conflict and covariance helpers."""

import csv
import math
from pathlib import Path

import pytest
import torch

import orthomtl
from orthomtl.diagnostics import NeuralCollapseCallback
from orthomtl.metrics import ClassStatistics
from orthomtl.metrics.functional import gradient_conflict
from orthomtl.tasks import Task

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_callback_logs_neural_collapse_metrics_every_n_epochs(tmp_path: Path) -> None:
    config = {
        "data": {
            "name": "hetero-sim",
            "kind": "binary",
            "num_tasks": 3,
            "features": 6,
            "n": 80,
            "test_size": 40,
            "batch_size": 32,
        },
        "model": {"encoder": "mlp", "latent_dim": 8, "encoder_options": {"hidden": [16]}},
        "method": {"name": "hps"},
        "optim": {"lr": 0.01},
        "trainer": {"max_epochs": 4, "progress_bar": False},
        "runs_dir": str(tmp_path),
    }
    run_dir = orthomtl.run(config, callbacks=[NeuralCollapseCallback(2, fraction=1.0)]).run_dirs[0]
    with (run_dir / "metrics.csv").open() as file:
        logged = [row for row in csv.DictReader(file) if row.get("nc/task1/nc1")]
    assert [int(float(row["epoch"])) for row in logged] == [1, 3]  # every second epoch
    for row in logged:
        for key in ("nc/task1/nc1", "nc/task2/nc2_head", "nc/task3/nc3", "nc/coherence_max"):
            assert math.isfinite(float(row[key])), key
        assert 1 <= float(row["nc/effective_rank"]) <= 8
        assert 0 <= float(row["nc/coherence_mean"]) <= float(row["nc/coherence_max"]) <= 1
    with pytest.raises(ValueError, match="every_n_epochs"):
        NeuralCollapseCallback(0)


def test_gradient_conflict_counts_the_pairs_that_point_against_each_other() -> None:
    orthogonal = gradient_conflict(torch.eye(3, dtype=torch.float64))
    torch.testing.assert_close(orthogonal.cosine, torch.eye(3, dtype=torch.float64))
    assert orthogonal.negative_share == 0
    grads = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 1.0]], dtype=torch.float64)
    conflict = gradient_conflict(grads)
    assert conflict.negative_share == pytest.approx(1 / 3)  # only tasks 0 and 1 conflict
    assert conflict.cosine[0, 1] < -0.99
    with pytest.raises(ValueError, match="two tasks or more"):
        gradient_conflict(grads[:1])


def test_the_latent_covariance_is_over_every_row() -> None:
    features = torch.randn(50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    labels = torch.arange(50) % 3
    labels[:10] = -1  # unlabelled rows still count for the latent
    stats = ClassStatistics([Task("a", "classification", 3)], 4)
    stats.update(features[:20], {"a": labels[:20]})
    stats.update(features[20:], {"a": labels[20:]})
    torch.testing.assert_close(stats.covariance(), torch.cov(features.T, correction=0))
