"""Engine behaviour: data-loader workers, early stopping, validation cadence, schedules, compare."""

import csv
import itertools
import json
import math
from pathlib import Path

import pytest

import orthomtl
from orthomtl.config import OptimConfig
from orthomtl.diagnostics import compare
from orthomtl.engine import LearningRateFactor
from tests.conftest import tiny_config


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def test_worker_processes_do_not_change_results(tmp_path: Path) -> None:
    """Augmentation draws depend on (seed, epoch, index) only, not on which process fetches."""
    results = []
    for workers in (0, 2):
        config = tiny_config(runs_dir=str(tmp_path / f"w{workers}"))
        config["data"]["num_workers"] = workers
        results.append(orthomtl.run(config).runs[0].metrics["test"])
    assert results[0] == pytest.approx(results[1], rel=1e-6)


def test_early_stopping_and_validation_cadence(tmp_path: Path) -> None:
    config = tiny_config(
        runs_dir=str(tmp_path),
        trainer={
            "max_epochs": 6,
            "val_every_n_epochs": 2,
            "early_stopping_patience": 1,
            "monitor": "val/digit/accuracy",
            "monitor_mode": "min",
        },
    )
    run_dir = orthomtl.run(config).run_dirs[0]
    results = json.loads((run_dir / "results.json").read_text())
    # accuracy rises, so in "min" mode the second validation (epoch 4) is no better: stop there
    assert results["epochs"] == 4
    assert results["best_epoch"] == 1
    val_epochs = [int(r["epoch"]) for r in _rows(run_dir) if r.get("val/loss")]
    assert val_epochs == [1, 3]


def test_unknown_monitor_lists_the_metrics(tmp_path: Path) -> None:
    config = tiny_config(runs_dir=str(tmp_path), trainer={"monitor": "val/acc"})
    with pytest.raises(KeyError, match=r"val/acc.*val/digit/accuracy"):
        orthomtl.run(config)


def test_learning_rate_schedules() -> None:
    cosine = LearningRateFactor(
        OptimConfig(lr=0.1, scheduler="cosine", warmup_steps=10, min_lr=0.01),
        total_steps=110,
        steps_per_epoch=11,
    )
    assert cosine(0) == pytest.approx(0.1)
    assert cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine(110) == pytest.approx(0.1)
    step = LearningRateFactor(
        OptimConfig(scheduler="step", step_epochs=2, gamma=0.5), total_steps=100, steps_per_epoch=10
    )
    assert [step(s) for s in (0, 19, 20, 45)] == [1.0, 1.0, 0.5, 0.25]
    assert LearningRateFactor(OptimConfig(), 10, 1)(5) == 1.0


def test_cosine_schedule_is_applied_per_step(tmp_path: Path) -> None:
    config = tiny_config(runs_dir=str(tmp_path), trainer={"log_every_n_steps": 1})
    config["optim"] |= {"scheduler": "cosine", "min_lr": 0.0}
    run_dir = orthomtl.run(config).run_dirs[0]
    lrs = [float(r["lr"]) for r in _rows(run_dir) if r.get("lr")]
    assert lrs[0] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi / len(lrs))), rel=1e-4)
    assert all(a >= b for a, b in itertools.pairwise(lrs))
    assert lrs[-1] < 1e-4


def test_compare_groups_runs_by_label(tmp_path: Path) -> None:
    equal = orthomtl.run(tiny_config(runs_dir=str(tmp_path), seeds=[0, 1]))
    imtl = orthomtl.run(tiny_config(runs_dir=str(tmp_path), method={"aggregator": "imtlg"}))
    table = compare([*equal.run_dirs, *imtl.run_dirs])
    lines = table.splitlines()
    assert "digit/accuracy" in lines[0] and "angle/mae" in lines[0]
    assert lines[2].startswith("| hps | 2 |")
    assert lines[3].startswith("| hps aggregator=imtlg | 1 |")
