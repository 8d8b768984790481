"""What a training checkpoint holds, and how it is put back.

A checkpoint is the whole state needed to continue exactly: the model and optimiser, the
learning-rate schedule, the method's own state outside ``state_dict()`` (``Method.extra_state``),
the random-number states, where the run is (``Progress``, down to the batch inside an epoch) and
the resolved config. Files are written and read by ``_checkpoint``.
"""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightning_fabric import Fabric
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from orthomtl.engine import _checkpoint as checkpoint
from orthomtl.engine._method import Method


@dataclass
class Progress:
    """Where the run is; saved in every checkpoint."""

    epoch: int = 0
    batch: int = 0  # batches done in ``epoch``
    step: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    bad_rounds: int = 0
    wall_time: float = 0.0
    stopped_early: bool = False


def training_state(
    method: Method,
    optimizer: Optimizer | None,
    scheduler: LRScheduler | None,
    progress: Progress,
    config: dict[str, Any],
) -> dict[str, Any]:
    """The state to save; Fabric turns the model and optimiser into their state dicts. A method
    with nothing to optimise has neither optimiser nor schedule (empty entries)."""
    return {
        "model": method.model,
        "optimizer": {} if optimizer is None else optimizer,
        "scheduler": {} if scheduler is None else scheduler.state_dict(),
        "method": method.extra_state(),
        "rng": checkpoint.rng_state(),
        "progress": asdict(progress),
        "config": config,
    }


def restore_training_state(
    fabric: Fabric,
    path: Path,
    method: Method,
    optimizer: Optimizer | None,
    scheduler: LRScheduler | None,
) -> Progress:
    """Load ``path`` into the model, optimiser, scheduler, method and RNGs; return its progress.

    Raises:
        CheckpointError: if the file is unreadable or not a training checkpoint of orthomtl.
    """
    modules: dict[str, Any] = {"model": method.model}
    if optimizer is not None:
        modules["optimizer"] = optimizer
    rest = checkpoint.load_into(fabric, path, modules)
    missing = {"optimizer", "scheduler", "method", "rng", "progress"} - set(rest) - set(modules)
    if missing:
        raise checkpoint.CheckpointError(
            f"{path} is not an orthomtl training checkpoint (no {sorted(missing)})."
        )
    if scheduler is not None:
        scheduler.load_state_dict(rest["scheduler"])
    method.load_extra_state(rest["method"])
    checkpoint.set_rng_state(rest["rng"])
    method.on_load_checkpoint()
    return Progress(**rest["progress"])
