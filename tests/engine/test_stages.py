"""The ``Stage.data`` contract: a stage on data of its own, derived once, saved, then read back."""

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.config import OptimConfig, TrainerConfig
from orthomtl.data import Batch, TaskData, TaskDataset, load_rotated_digits
from orthomtl.engine import Stage, load_arrays, read_checkpoint, save_arrays
from orthomtl.methods import HPS
from orthomtl.registry import METHODS
from orthomtl.tasks import Task
from tests.conftest import tiny_config

PARITY = Task("parity", "classification", 2)
SPLITS = ("train", "val", "test")
DERIVATIONS: list[str] = []
"""One entry per derivation of the parity labels (each must happen once per run directory)."""


def derive_parity(data: TaskData | None) -> dict[str, np.ndarray]:
    """The new task's labels, per split: the parity of each image's digit."""
    if data is None:
        raise AssertionError("parity labels derived while loading: they must be read back")
    DERIVATIONS.append("parity")
    return {s: getattr(data, s).targets["digit"].numpy() % 2 for s in SPLITS}


class ParitySplit(TaskDataset):
    """A split of the parent data whose only task is ``parity``, its labels looked up by index."""

    def __init__(self, parent: TaskDataset, labels: np.ndarray) -> None:
        self.parent, self.labels = parent, torch.as_tensor(labels, dtype=torch.int64)
        self.tasks, self.input_shape = (PARITY,), parent.input_shape

    def __len__(self) -> int:
        return len(self.parent)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.parent.set_epoch(epoch)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        batch = self.parent.__getitems__(indices)
        return dataclasses.replace(batch, targets={PARITY.name: self.labels[batch.index]})


class RelabelHPS(HPS):
    """HPS followed by a stage ``relabelled``: an HPS on the digits' parity, from this encoder."""

    def next_stage(
        self, trainer: TrainerConfig, optim: OptimConfig, run_dir: Path, data: TaskData | None
    ) -> Stage | None:
        path = run_dir / "relabelled" / "labels.npz"
        if path.is_file():
            labels = load_arrays(path)
        else:
            labels = derive_parity(data)
            save_arrays(path, labels)
        splits = (
            None if data is None else [ParitySplit(getattr(data, s), labels[s]) for s in SPLITS]
        )
        new_data = None if splits is None else TaskData("parity-digits", [PARITY], *splits)
        method = HPS([PARITY], self.input_shape, self.model_config)
        method.network.encoder.load_state_dict(self.network.encoder.state_dict())
        trainer = dataclasses.replace(trainer, max_epochs=2, monitor="val/loss")
        return Stage("relabelled", method, trainer, optim, data=new_data)


if "test-relabel" not in METHODS:
    METHODS.register("test-relabel")(RelabelHPS)


pytestmark = pytest.mark.usefixtures("one_thread")


def _results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def _test_split() -> tuple[torch.Tensor, torch.Tensor]:
    test = load_rotated_digits().test
    batch = test.__getitems__(list(range(len(test))))
    return batch.x, batch.targets["digit"] % 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    DERIVATIONS.clear()
    config = tiny_config(
        method={"name": "test-relabel"}, runs_dir=str(tmp_path_factory.mktemp("relabel"))
    )
    return orthomtl.run(config).run_dirs[0]


def test_stage_data_is_derived_once_and_saved(run_dir: Path) -> None:
    assert DERIVATIONS == ["parity"]
    saved = load_arrays(run_dir / "relabelled" / "labels.npz")
    digits = load_rotated_digits()
    for split in SPLITS:
        expected = getattr(digits, split).targets["digit"].numpy() % 2
        np.testing.assert_array_equal(saved[split], expected)


def test_relabelled_stage_trains_on_the_new_task(run_dir: Path) -> None:
    results = _results(run_dir)
    stages = results["stages"]
    assert [s["stage"] for s in stages] == ["main", "relabelled"]
    assert stages[0]["tasks"] == ["digit", "angle"]
    assert stages[1]["tasks"] == ["parity"]
    assert stages[1]["epochs"] == 2 and stages[1]["steps"] > 0
    for split in ("val", "test"):
        metrics = results["metrics"][split]
        assert "parity/accuracy" in metrics and "digit/accuracy" not in metrics
    with (run_dir / "relabelled" / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    losses = [float(r["train/parity/loss"]) for r in rows if r.get("train/parity/loss")]
    assert losses and all(np.isfinite(losses))
    assert not any(r.get("train/digit/loss") for r in rows)
    state = read_checkpoint(run_dir / "relabelled" / "checkpoints" / "last.ckpt")["model"]
    assert any(k.startswith("heads.parity.") for k in state)
    assert not any(k.startswith("heads.digit.") for k in state)
    # it learnt the new labels (about 0.72 here), well above the 0.5 of guessing parity
    assert results["metrics"]["test"]["parity/accuracy"] > 0.6


def test_load_predicts_the_new_task_without_deriving(run_dir: Path) -> None:
    before = list(DERIVATIONS)
    model = orthomtl.load(run_dir)
    assert before == DERIVATIONS
    assert [t.name for t in model.tasks] == ["parity"]
    x, parity = _test_split()
    predicted = model.predict(x)["parity"]
    assert predicted.shape == parity.shape and set(predicted.tolist()) <= {0, 1}
    accuracy = (predicted == parity).double().mean().item()
    assert accuracy == pytest.approx(_results(run_dir)["metrics"]["test"]["parity/accuracy"])


def test_resume_reads_the_saved_labels(run_dir: Path) -> None:
    before, metrics = list(DERIVATIONS), _results(run_dir)["metrics"]
    resumed = orthomtl.resume(run_dir)
    assert before == DERIVATIONS
    assert resumed.run_dirs == [run_dir]
    results = _results(run_dir)
    assert [s["stage"] for s in results["stages"]] == ["main", "relabelled"]
    assert results["metrics"]["test"] == pytest.approx(metrics["test"])
