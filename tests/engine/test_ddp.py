"""Two CPU processes (DDP, gloo) against one process with the same global batch.

The per-rank batches are slices of the same global batch (``GlobalBatchSampler``), so after the
same steps the weights and metrics must agree up to float reassociation. A loss that becomes
non-finite on one process stops both with the same error.
"""

from pathlib import Path

import pytest
import torch

from tests.conftest import read_report, tiny_config, train_in_subprocess, write_config

VARIANTS = {
    "equal": {"name": "hps", "loss_weighting": "equal"},
    "famo": {"name": "hps", "loss_weighting": "famo"},
    "upgrad": {"name": "hps", "aggregator": "upgrad"},
}


def _weights(run_dir: str) -> dict[str, torch.Tensor]:
    return torch.load(Path(run_dir) / "checkpoints" / "last.ckpt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("ddp")
    out = {}
    for devices in (1, 2):
        configs = []
        for name, method in VARIANTS.items():
            trainer = {
                "devices": devices,
                "strategy": "ddp" if devices > 1 else "auto",
                "max_epochs": 1,
            }
            config = tiny_config(
                method=method, trainer=trainer, runs_dir=str(root / f"runs{devices}")
            )
            config["data"]["batch_size"] = 32
            configs.append(write_config(root / f"{name}-{devices}.yaml", config))
        train_in_subprocess(root / f"report{devices}.json", configs)
        report = read_report(root / f"report{devices}.json")
        out[devices] = {Path(k).stem.split("-")[0]: v for k, v in report.items()}
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_two_processes_match_one(reports: dict[int, dict], variant: str) -> None:
    one, two = reports[1][variant], reports[2][variant]
    w1, w2 = _weights(one["run_dir"]), _weights(two["run_dir"])
    assert w1.keys() == w2.keys()
    for key in w1:
        assert torch.allclose(w1[key], w2[key], atol=1e-4, rtol=1e-3), key
    for split in ("val", "test"):
        for metric, value in one["metrics"][split].items():
            assert two["metrics"][split][metric] == pytest.approx(value, abs=2e-3), (split, metric)


def test_training_moved_the_weights(reports: dict[int, dict]) -> None:
    """Guards the comparison above against a run that silently did nothing."""
    test = reports[1]["equal"]["metrics"]["test"]
    assert test["angle/mae"] < 0.5  # predicting 0 for uniform angles in [-π/2, π/2] gives π/4
    assert test["digit/loss"] < 2.29  # chance is ln 10 ≈ 2.303


@pytest.mark.parametrize(
    ("bad_rank", "aggregator"), [(1, "upgrad"), (0, None)], ids=["upgrad-rank1", "sum-rank0"]
)
def test_a_loss_non_finite_on_one_rank_stops_every_rank(
    tmp_path: Path, bad_rank: int, aggregator: str | None
) -> None:
    """``hps-non-finite-on-one-rank`` (registered by tests/scripts/train.py) makes the loss inf
    on ``bad_rank`` alone at the second step. Every rank must raise the same FloatingPointError
    rather than wait for the other in a collective (or fail there with a connection error)."""
    method = {"name": "hps-non-finite-on-one-rank", "bad_rank": bad_rank}
    if aggregator is not None:
        method["aggregator"] = aggregator
    config = tiny_config(
        method=method, trainer={"devices": 2, "strategy": "ddp"}, runs_dir=str(tmp_path / "runs")
    )
    path = write_config(tmp_path / "bad.yaml", config)
    # About 12 s on an idle 2-core machine; a hang would never end, so the bound is generous
    # for a loaded one.
    proc = train_in_subprocess(tmp_path / "report.json", [path], check=False, timeout=240)
    assert proc.returncode != 0
    expected = (
        f"FloatingPointError: The training loss became inf on rank {bad_rank} (of 2 processes; "
        "all of them stop) at epoch 0, step 1."
    )
    for rank in (0, 1):
        assert f"[rank{rank}]: {expected}" in proc.stderr, proc.stderr[-3000:]
    assert "Connection closed by peer" not in proc.stderr
