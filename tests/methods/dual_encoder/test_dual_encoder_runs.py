"""The dual encoder in subprocesses: two DDP processes train as one does, and a run SIGKILLed
mid-epoch and resumed ends bit for bit where the uninterrupted run ends."""

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import orthomtl
from orthomtl.cli import main
from tests.conftest import read_report, train_in_subprocess, write_config

STEPS_PER_EPOCH = 3  # hetero-sim below: 3 tasks × 32 training rows, 32 rows per global batch
EPOCHS = 4
KILL_AT = 2 * STEPS_PER_EPOCH + 2  # epoch 3, batch 2, just after the checkpoint of step 8


def dual_encoder_config(runs: Path, devices: int = 1) -> dict[str, Any]:
    return {
        "data": {
            "name": "hetero-sim",
            "num_tasks": 3,
            "features": 5,
            "n": 40,
            "test_size": 50,
            "batch_size": 32,
        },
        "method": {
            "name": "dual-encoder",
            "shared_dim": 4,
            "task_dim": 2,
            "c": [0.05, 0.2],
            "orthogonality": 0.5,
            "single_task_dims": [2],
            "fallback": "stl",
            "hidden": [16],
        },
        # SGD: Adam divides by the root of the squared gradients, which magnifies the float
        # reassociation of a two-process all-reduce into visible drift
        "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
        "trainer": {
            "max_epochs": EPOCHS,
            "progress_bar": False,
            "log_every_n_steps": 1,
            "checkpoint_every_n_steps": 2,
            "devices": devices,
            "strategy": "ddp" if devices > 1 else "auto",
        },
        "seeds": [0],
        "runs_dir": str(runs),
    }


def checkpoint(run_dir: Path) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> dict[str, Path]:
    """The uninterrupted run and the resume in this process (each subprocess costs seconds of
    imports), the SIGKILLed run and the two DDP processes in subprocesses."""
    root = tmp_path_factory.mktemp("dual-encoder-runs")
    out = {"straight": orthomtl.run(dual_encoder_config(root / "straight")).run_dirs[0]}
    ddp = write_config(root / "ddp.yaml", dual_encoder_config(root / "ddp", devices=2))
    proc = train_in_subprocess(root / "ddp.json", [ddp])
    assert "MEMBER: 2/2" in proc.stderr  # two processes, not one
    out["ddp"] = Path(read_report(root / "ddp.json")[str(ddp)]["run_dir"])
    killed = write_config(root / "killed.yaml", dual_encoder_config(root / "killed"))
    proc = train_in_subprocess(
        root / "killed.json", [killed], "--kill-at-step", str(KILL_AT), check=False
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    (out["killed"],) = (root / "killed").iterdir()
    assert not (out["killed"] / "results.json").exists()
    saved = checkpoint(out["killed"])["progress"]
    assert saved["step"] == KILL_AT and saved["batch"] == 2  # mid-epoch
    assert main(["resume", str(out["killed"])]) == 0  # `orthomtl resume RUN_DIR`
    return out


def test_a_killed_run_resumes_to_the_same_weights_bit_for_bit(runs: dict[str, Path]) -> None:
    straight, resumed = checkpoint(runs["straight"]), checkpoint(runs["killed"])
    assert straight["progress"]["step"] == resumed["progress"]["step"] == EPOCHS * STEPS_PER_EPOCH
    assert straight["model"].keys() == resumed["model"].keys()
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    for name in ("results.json", "dual_encoder.json"):
        ref = json.loads((runs["straight"] / name).read_text())
        got = json.loads((runs["killed"] / name).read_text())
        if name == "results.json":
            ref, got = ref["metrics"], got["metrics"]
        assert got == ref, name


def test_two_processes_train_as_one(runs: dict[str, Path]) -> None:
    one, two = checkpoint(runs["straight"]), checkpoint(runs["ddp"])
    assert two["progress"]["step"] == EPOCHS * STEPS_PER_EPOCH
    assert one["model"].keys() == two["model"].keys()
    for key, value in one["model"].items():
        # the coefficients (up to ~10) come from thousands of float32 proximal and centre steps
        # on all-reduced Gram matrices and inherit the all-reduce's reassociation: measured
        # 1.4e-5 at most on values up to 7, so the tolerance is relative to each tensor's scale
        scale = max(1.0, float(value.abs().max())) if value.is_floating_point() else 1.0
        assert torch.allclose(value, two["model"][key], rtol=1e-4, atol=1e-5 * scale), key
    ref = json.loads((runs["straight"] / "dual_encoder.json").read_text())
    got = json.loads((runs["ddp"] / "dual_encoder.json").read_text())
    for key in ("selected", "served", "best_round"):
        assert got[key] == ref[key], key
    ref_metrics = read_report(runs["straight"] / "results.json")["metrics"]
    got_metrics = read_report(runs["ddp"] / "results.json")["metrics"]
    for split in ("val", "test"):
        for metric, value in ref_metrics[split].items():
            assert got_metrics[split][metric] == pytest.approx(value, rel=1e-5, abs=1e-6), metric
    # guards the comparison against runs that did nothing: the validation error fell
    with (runs["straight"] / "metrics.csv").open() as file:
        val = [float(r["val/mse"]) for r in csv.DictReader(file) if r.get("val/mse")]
    assert len(val) == EPOCHS and val[-1] < 0.8 * val[0]
