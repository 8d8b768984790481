"""Tiny multi-source data and run helpers shared by the dual encoder's in-process tests."""

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

import orthomtl
from orthomtl.data import ArrayDataset, DatasetInfo, TaskData, multi_source_data
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

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
