"""A run SIGKILLed mid-epoch and resumed ends where an uninterrupted run with the same seed ends."""

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

import orthomtl
from orthomtl.engine import CheckpointError
from tests.conftest import (
    kill_then_resume,
    read_report,
    tiny_config,
    train_in_subprocess,
    write_config,
)

VARIANTS = {
    "equal": {"name": "hps", "loss_weighting": "equal"},
    "famo": {"name": "hps", "loss_weighting": "famo"},
}
STEPS_PER_EPOCH = 1257 // 32
KILL_AT = STEPS_PER_EPOCH + 8  # epoch 2, batch 8
LAST_CHECKPOINT = KILL_AT - KILL_AT % 5  # checkpoints every 5 global steps


def _config(root: Path, name: str, method: dict, runs: str) -> Path:
    config = tiny_config(
        method=method,
        runs_dir=str(root / runs),
        trainer={"max_epochs": 2, "checkpoint_every_n_steps": 5},
    )
    return write_config(root / f"{name}-{runs}.yaml", config)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    root = tmp_path_factory.mktemp("resume")
    straight = [_config(root, name, method, "straight") for name, method in VARIANTS.items()]
    train_in_subprocess(root / "straight.json", straight)
    reference = read_report(root / "straight.json")
    out = {}
    for (name, method), ref_config in zip(VARIANTS.items(), straight, strict=True):
        killed = _config(root, name, method, f"killed-{name}")
        run_dir, saved = kill_then_resume(
            root / f"{name}-killed.json", killed, root / f"killed-{name}", KILL_AT
        )
        assert saved["step"] == LAST_CHECKPOINT
        assert saved["batch"] == LAST_CHECKPOINT - STEPS_PER_EPOCH  # mid-epoch
        results = orthomtl.engine._rundir.read_results(run_dir) | {"run_dir": str(run_dir)}
        out[name] = (reference[str(ref_config)], results)
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_resume_after_sigkill_matches_uninterrupted(outcomes: dict, variant: str) -> None:
    reference, resumed = outcomes[variant]
    for split in ("val", "test"):
        for metric, value in reference["metrics"][split].items():
            assert resumed["metrics"][split][metric] == pytest.approx(value, rel=1e-5, abs=1e-6)
    w_ref = torch.load(Path(reference["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    w_res = torch.load(Path(resumed["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    for key, value in w_ref["model"].items():
        assert torch.allclose(value, w_res["model"][key], atol=1e-6), key
    assert w_res["progress"]["step"] == w_ref["progress"]["step"] == 2 * STEPS_PER_EPOCH
    if variant == "famo":  # the state TorchJD keeps outside state_dict() came back too
        assert torch.allclose(
            w_ref["method"]["weighting"]["state_dict"]["_w"],
            w_res["method"]["weighting"]["state_dict"]["_w"],
            atol=1e-6,
        )


def test_metrics_csv_has_no_duplicate_steps_after_resume(outcomes: dict) -> None:
    _, resumed = outcomes["equal"]
    lines = (Path(resumed["run_dir"]) / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    step_col, total_col = header.index("step"), header.index("train/total")
    train_steps = [row.split(",")[step_col] for row in lines[1:] if row.split(",")[total_col]]
    assert len(train_steps) == len(set(train_steps))


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    return orthomtl.run(tiny_config(runs_dir=str(root), trainer={"max_epochs": 1})).run_dirs[0]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_refused_and_run_dir_untouched(
    finished_run: Path, tmp_path: Path, damage: str
) -> None:
    run_dir = Path(shutil.copytree(finished_run, tmp_path / finished_run.name))
    last = run_dir / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 50, "empty": b""}[
            damage
        ]
    )
    before = _digest(run_dir)
    with pytest.raises(
        CheckpointError, match=r"(?s)truncated or corrupt.*Nothing in the run directory"
    ):
        orthomtl.resume(run_dir)
    assert _digest(run_dir) == before


def test_resume_from_best_continues_after_its_epoch(outcomes: dict, tmp_path: Path) -> None:
    """A run killed in epoch 2 and resumed from best.ckpt (saved after epoch 1, not inside it)
    trains epoch 2 again from its start and ends as the uninterrupted run."""
    reference, _ = outcomes["equal"]
    killed = _config(tmp_path, "equal", VARIANTS["equal"], "killed")
    run_dir, best = kill_then_resume(
        tmp_path / "killed.json", killed, tmp_path / "killed", KILL_AT, checkpoint="best.ckpt"
    )
    assert (best["epoch"], best["batch"], best["step"]) == (1, 0, STEPS_PER_EPOCH)
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    w_ref = torch.load(Path(reference["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["progress"]["step"] == 2 * STEPS_PER_EPOCH  # a whole epoch trained after resuming
    for key, value in w_ref["model"].items():
        assert torch.allclose(value, last["model"][key], atol=1e-6), key
    results = orthomtl.engine._rundir.read_results(run_dir)
    assert results["epochs"] == 2
    for metric, value in reference["metrics"]["test"].items():
        assert results["metrics"]["test"][metric] == pytest.approx(value, rel=1e-5, abs=1e-6)
