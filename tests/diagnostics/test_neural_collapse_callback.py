"""``NeuralCollapseCallback`` on a real run, and the gradient-conflict and covariance helpers."""

import csv
import math
from pathlib import Path

import pytest
import torch

import orthomtl
from orthomtl.diagnostics import NeuralCollapseCallback, read_diagnostics
from orthomtl.metrics import ClassStatistics
from orthomtl.metrics.functional import gradient_conflict
from orthomtl.tasks import Task
from tests.conftest import read_report, tiny_config, train_in_subprocess, write_config

pytestmark = pytest.mark.usefixtures("one_thread")


DATA = {
    "name": "hetero-sim",
    "kind": "binary",
    "num_tasks": 3,
    "features": 6,
    "n": 80,
    "test_size": 40,
    "batch_size": 32,
}


def _binary_hps(runs: Path, optim: dict, **trainer: object) -> dict:
    """HPS with a small MLP on three binary hetero-sim tasks."""
    return {
        "data": DATA,
        "model": {"encoder": "mlp", "latent_dim": 8, "encoder_options": {"hidden": [16]}},
        "method": {"name": "hps"},
        "optim": optim,
        "trainer": {"progress_bar": False, **trainer},
        "runs_dir": str(runs),
    }


def test_the_callback_logs_neural_collapse_metrics_every_n_epochs(tmp_path: Path) -> None:
    config = _binary_hps(tmp_path, {"lr": 0.01}, max_epochs=4)
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


def _nc_rows(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as file:
        return [
            {k: float(v) for k, v in row.items() if k.startswith("nc/") and v}
            for row in csv.DictReader(file)
            if row.get("nc/task1/nc1")
        ]


def test_two_processes_log_what_one_logs(tmp_path: Path) -> None:
    """The statistics are sums all-reduced over the ranks' shares of the training split, and HPS on
    multi-source data trains the same on 2 processes (its task means are over the global batch);
    the gradient conflict averages the ranks' gradients, which is the global batch's."""
    reports = {}
    for devices in (1, 2):
        strategy = "ddp" if devices > 1 else "auto"
        config = _binary_hps(
            tmp_path / f"d{devices}",
            {"name": "sgd", "lr": 0.05},
            max_epochs=2,
            devices=devices,
            strategy=strategy,
        )
        config["diagnostics"] = {"gradient_conflict_every_n_steps": 1}
        path = write_config(tmp_path / f"d{devices}.yaml", config)
        train_in_subprocess(tmp_path / f"d{devices}.json", [path], "--nc-every", "1")
        reports[devices] = Path(read_report(tmp_path / f"d{devices}.json")[str(path)]["run_dir"])
    one, two = _nc_rows(reports[1]), _nc_rows(reports[2])
    assert len(one) == len(two) == 2 and set(one[0]) == set(two[0])
    for mine, theirs in zip(one, two, strict=True):
        for key, value in mine.items():
            assert theirs[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    grads = [read_diagnostics(reports[d])["gradient_conflict"] for d in (1, 2)]
    assert len(grads[0]) == len(grads[1]) > 2
    for mine, theirs in zip(*grads, strict=True):
        assert mine["step"] == theirs["step"]
        torch.testing.assert_close(
            torch.tensor(theirs["norms"]), torch.tensor(mine["norms"]), rtol=1e-4, atol=1e-6
        )
        torch.testing.assert_close(
            torch.tensor(theirs["cosine"]),
            torch.tensor(mine["cosine"]),
            rtol=1e-4,
            atol=1e-5,
            equal_nan=True,
        )


def test_a_frozen_encoder_measures_the_same_every_epoch(tmp_path: Path) -> None:
    """The callback encodes the same rows with the same augmentations each time: in Domain
    Expansion's readout stage (encoder frozen) every record's latent metrics are equal, although
    rotated-digits draws new training angles every epoch."""
    config = tiny_config(
        method={"name": "domain-expansion", "readout_epochs": 3},
        model={"latent_dim": 8},
        trainer={"max_epochs": 1},
        data={"angle_bins": 4},
        diagnostics={"neural_collapse_every_n_epochs": 1, "gradient_conflict_every_n_steps": 0},
        runs_dir=str(tmp_path),
    )
    run_dir = orthomtl.run(config).run_dirs[0]
    records = read_diagnostics(run_dir / "readouts")["neural_collapse"]
    assert len(records) == 3
    for key in ("digit/nc1", "angle/nc2_means", "effective_rank"):
        assert len({r["metrics"][key] for r in records}) == 1, key
    assert records[0]["spectrum"] == records[-1]["spectrum"]
