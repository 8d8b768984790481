"""The contract between a method and the engine.

A method builds its modules from the task specs and the model config, turns a batch into named
losses, and may hook into the loop. It never writes a loop, a checkpoint or a logger: the engine
(``orthomtl.engine``) does that for every method.

A method may be followed by a ``Stage``: a second run of the engine in ``<run_dir>/<stage>/``,
possibly on data of its own. What a stage derives (labels, say) is saved in its directory when it
is first built and read back from there afterwards, so ``load`` and ``resume`` never recompute it.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from lightning_fabric import Fabric
from torch import Tensor, nn

from orthomtl.config import ModelConfig, OptimConfig, TrainerConfig
from orthomtl.data import Batch, TaskData
from orthomtl.metrics import TaskMetrics
from orthomtl.tasks import Task

ReduceSum = Callable[[Tensor], Tensor]
TrainSubset = Callable[[float, int], Iterable[Batch]]
SplitBatches = Callable[[], Iterable[Batch]]
LinearReadouts = dict[str, tuple[Tensor, Tensor]]
"""Per task name, the ``(W, b)`` of a linear map from the latent (B, D) to the task's raw outputs:
W (out, D), b (out,)."""
SharedTaskLosses = tuple[dict[str, Tensor], list[Tensor]]
"""Per task name, its loss on a batch (with its graph), and the parameters every task shares."""


@dataclass
class Stage:
    """A follow-up training stage: a second run of the engine, in ``<run_dir>/<name>/``."""

    name: str
    method: "Method"
    trainer: TrainerConfig
    optim: OptimConfig
    data: TaskData | None = None
    """The data the stage trains on; ``None`` keeps the previous stage's."""


class Method(ABC):
    """Base class of every method.

    Subclasses set ``self.model`` (every module trained by the optimiser, with a ``forward`` used in
    training so that DDP sees it) and implement ``training_step`` and ``outputs``. Their
    keyword-only constructor arguments after ``BUILD_ARGS`` are the method's options in a config,
    and ``MODEL_KEYS`` names the ``model.*`` keys they read: a config that sets any other model key
    to a non-default value is refused before training.
    """

    BUILD_ARGS: ClassVar[tuple[str, ...]] = ("tasks", "input_shape", "model")
    MODEL_KEYS: ClassVar[frozenset[str]] = frozenset({"encoder", "latent_dim", "encoder_options"})
    summary: ClassVar[str] = ""
    syncs_own_gradients: bool = False
    """True when ``backward`` all-reduces gradients itself; the engine then skips DDP's sync."""
    shards_evaluation: bool = True
    """False when ``evaluate`` needs the whole split on every rank (e.g. clustering metrics); the
    engine then passes the full split and an identity ``reduce_sum``."""

    model: nn.Module
    fabric: Fabric

    def __init__(
        self, tasks: Sequence[Task], input_shape: Sequence[int], model: ModelConfig
    ) -> None:
        if not tasks:
            raise ValueError("A method needs at least one task.")
        self.tasks = list(tasks)
        self.input_shape = tuple(input_shape)
        self.model_config = model

    # --- set-up -------------------------------------------------------------------------------
    def training_data(self, data: TaskData, seed: int) -> TaskData:
        """The data the engine trains and validates this method on, given the stage's ``data``
        (Detaux pairs the samples); ``data`` itself by default. ``next_stage`` still receives
        ``data``."""
        return data

    def attach(
        self,
        fabric: Fabric,
        train_subset: TrainSubset,
        seed: int,
        max_epochs: int = 1,
        val_batches: SplitBatches | None = None,
    ) -> None:
        """Called by the engine once the model is set up. ``fabric`` gives ``all_reduce`` and the
        devices; ``train_subset(fraction, epoch)`` iterates this rank's share of a seeded random
        ``fraction`` of the training split (for statistics passes); ``seed`` is the run's seed;
        ``max_epochs`` the stage's epochs (for schedules over them); ``val_batches()`` iterates
        this rank's share of the validation split (the dual encoder's per-task early stopping)."""
        self.fabric, self.train_subset, self.seed = fabric, train_subset, seed
        self.max_epochs, self.val_batches = max_epochs, val_batches

    def parameter_groups(self) -> Iterable[Tensor] | list[dict[str, Any]]:
        """What the engine's optimiser updates. Defaults to every parameter of ``self.model``.

        A method with nothing for an optimiser (closed-form or proximal fits such as ridge and
        ARMUL) returns nothing: the engine then runs its epochs without backward or optimiser
        steps, and ``training_step`` sees every batch (to gather sums, say) and returns losses
        for the logs only."""
        return self.model.parameters()

    @property
    def network(self) -> nn.Module:
        """``self.model`` without any distributed wrapper (for evaluation and inference)."""
        return getattr(self.model, "module", self.model)

    # --- training -----------------------------------------------------------------------------
    @abstractmethod
    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        """Losses of one batch by name; ``"total"`` is the one to minimise."""

    def backward(self, losses: dict[str, Tensor]) -> None:
        """Fill ``.grad`` of the parameters. Aggregator methods override this."""
        self.fabric.backward(losses["total"])

    def on_epoch_start(self, epoch: int) -> None:
        """Called before the first batch of each epoch (not when resuming in the middle of one)."""

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Called after the last batch of each epoch; returned values are logged."""
        return {}

    def on_after_optimizer_step(self, batch: Batch, losses: dict[str, Tensor]) -> None:
        """Called after each optimiser step (FAMO updates its task weights here)."""

    def shared_task_losses(self, batch: Batch) -> SharedTaskLosses | None:
        """Each task's loss on ``batch`` (this rank's rows, with its graph) and the shared
        parameters they all depend on, for the gradient-conflict diagnostics; ``None`` when no
        parameters are shared (STL, closed-form fits, a frozen encoder). Called in training mode on
        ``self.network`` (no distributed wrapper) between optimiser steps; it must leave the
        method's state as it found it (the caller restores buffers and random state)."""
        return None

    # --- evaluation and inference ----------------------------------------------------------------
    @abstractmethod
    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Raw head outputs per task for ``x`` (no grad, eval mode, no distributed wrapper)."""

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """The latent representation of ``x``, shape (B, D)."""

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch], reduce_sum: ReduceSum) -> dict[str, float]:
        """Task metrics over this rank's ``batches``, summed across ranks by ``reduce_sum``."""
        metrics = TaskMetrics(self.tasks)
        self.network.eval()
        for batch in batches:
            if len(batch):
                metrics.update(self.outputs(batch.x), batch.targets)
        self.network.train()
        metrics.reduce(reduce_sum)
        return metrics.compute()

    def linear_readouts(self) -> LinearReadouts | None:
        """Per task, the ``(W, b)`` that maps the latent of ``encode`` to the task's raw outputs,
        when that map is linear (HPS with linear heads, Domain Expansion's readouts); else None.
        Neural-collapse diagnostics and concept composition read the heads through it."""
        return None

    def next_stage(
        self, trainer: TrainerConfig, optim: OptimConfig, run_dir: Path, data: TaskData | None
    ) -> Stage | None:
        """The stage to train once this one is done (built from this stage's trained modules),
        or ``None``. Domain Expansion's readouts are such a stage.

        Args:
            trainer, optim: this stage's settings, for the next stage to adapt.
            run_dir: the seed's run directory; a stage named ``s`` trains in ``run_dir / s``, and
                saves there whatever it derives, to read it back when the file exists.
            data: this stage's data, to derive from; ``None`` when the run is only being loaded
                for inference, and everything derived must then be read from ``run_dir``.
        """
        return None

    # --- state and checkpoints ----------------------------------------------------------------
    def rank_local_buffers(self) -> list[str]:
        """Names (in ``self.model``) of buffers that differ between DDP ranks on purpose (e.g.
        statistics summed at a refresh); DDP must not overwrite them with rank 0's."""
        return []

    def artifacts(self) -> dict[str, Any]:
        """JSON-serialisable records the engine writes to ``<run_dir>/<name>.json`` after training
        (e.g. Domain Expansion's basis history)."""
        return {}

    def on_save_checkpoint(self) -> None:
        """Called on every rank before a checkpoint is written (only rank 0's state is saved)."""

    def on_load_checkpoint(self) -> None:
        """Called on every rank after a checkpoint is loaded."""

    def extra_state(self) -> dict[str, Any]:
        """State that ``self.model.state_dict()`` misses (e.g. a scalariser's history); tensors
        only.
        """
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""
