"""The refresh schedules of ``OrthogonalPooling`` inside a real training run of Domain Expansion
(which drives ``should_refresh`` at epoch starts and after optimisation steps)."""

import json
from pathlib import Path

import pytest

import orthomtl
from tests.conftest import tiny_config

STEPS_PER_EPOCH = 1257 // 32  # rotated-digits' training split at batch 32


@pytest.mark.parametrize("every", [13, 10])  # divides the 39 steps per epoch, and does not
def test_steps_schedule_trains_across_epoch_starts(tmp_path: Path, every: int) -> None:
    method = {
        "name": "domain-expansion",
        "cov_fraction": 0.5,
        "readout_epochs": 1,
        "refresh": "steps",
        "refresh_every_steps": every,
    }
    config = tiny_config(method=method, runs_dir=str(tmp_path), trainer={"max_epochs": 2})
    (run_dir,) = orthomtl.run(config).run_dirs
    history = json.loads((run_dir / "basis_history.json").read_text())
    # the statistics pass before epoch 0, then one refresh per `every` steps and none at epoch 1
    assert len(history) == 1 + 2 * STEPS_PER_EPOCH // every
    expected = 0.5 * 2 * 32 * every  # cov_fraction of the two views of `every` batches
    assert all(abs(h["num_samples"] - expected) < 0.2 * expected for h in history[1:])
