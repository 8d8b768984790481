"""Shared test helpers: tiny configs written as real YAML files, and subprocess training."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

SCRIPT = Path(__file__).parent / "scripts" / "train.py"
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def tiny_config(**changes: Any) -> dict[str, Any]:
    """A config that trains in a few seconds on rotated-digits; ``changes`` update its sections."""
    config: dict[str, Any] = {
        "data": {"name": "rotated-digits", "batch_size": 32},
        "model": {
            "encoder": "convnet",
            "latent_dim": 16,
            "encoder_options": {"channels": [8, 16], "batch_norm": False},
        },
        "method": {"name": "hps"},
        "optim": {"name": "adam", "lr": 0.01},
        "trainer": {"max_epochs": 1, "progress_bar": False, "log_every_n_steps": 5},
        "seeds": [0],
    }
    for section, value in changes.items():
        if isinstance(value, dict):
            config.setdefault(section, {}).update(value)
        else:
            config[section] = value
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def train_in_subprocess(
    out: Path, configs: list[Path], *extra: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *map(str, configs), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=SUBPROCESS_ENV,
        cwd=out.parent,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"training subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def kill_then_resume(
    out: Path,
    config: Path,
    runs: Path,
    kill_at_step: int,
    checkpoint: str = "last.ckpt",
    stage: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train ``config`` in a subprocess that SIGKILLs itself after step ``kill_at_step`` (of the
    stage named ``stage``, by default of whichever stage gets there first), check it died and
    left no results, resume it with the CLI from ``checkpoint``, and return the run directory and
    the progress saved in that checkpoint (of the first stage) before the resume."""
    kill = ["--kill-at-step", str(kill_at_step)]
    if stage is not None:
        kill += ["--kill-in-stage", stage]
    proc = train_in_subprocess(out, [config], *kill, check=False)
    assert proc.returncode == -9, proc.stderr[-2000:]
    (run_dir,) = runs.iterdir()
    assert not (run_dir / "results.json").exists()
    saved = torch.load(run_dir / "checkpoints" / checkpoint, weights_only=True)["progress"]
    resumed = subprocess.run(
        [sys.executable, "-m", "orthomtl.cli", "resume", str(run_dir), "--checkpoint", checkpoint],
        capture_output=True,
        text=True,
        timeout=300,
        env=SUBPROCESS_ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return run_dir, saved


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models train faster on one thread than on threads competing for a busy core; use it
    with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
