"""Loss weighting from ``torchjd.scalarization``, with its hidden state captured for checkpoints.

FAMO keeps its own Adam and the previous losses, and DWA its running loss sums and epoch history,
outside ``state_dict()``. ``weighting_state``/``load_weighting_state`` read and restore them so that
a resumed run continues exactly.

Under DDP every rank must see the same loss *values* (they set FAMO's, DWA's and UW's weights) while
keeping its own gradients, which DDP then averages. ``globally_valued`` does that with one
all-reduce.
"""

import copy
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Adam
from torchjd.scalarization import DWA, FAMO, UW, Constant, Mean, Scalarizer, Sum

LossWeighting = Literal["equal", "mean", "weighted", "uw", "dwa", "famo"]


def build_scalarizer(
    name: LossWeighting, num_tasks: int, weights: list[float] | None, options: dict[str, Any]
) -> Scalarizer:
    """``equal`` sums the losses (LibMTL's EW); ``mean`` averages them; ``weighted`` uses
    ``weights``.
    """
    if (weights is not None) != (name == "weighted"):
        raise ValueError("method.weights is required by loss_weighting=weighted and only by it.")
    if name == "weighted":
        assert weights is not None
        if len(weights) != num_tasks:
            raise ValueError(f"method.weights has {len(weights)} values for {num_tasks} tasks.")
        return Constant(torch.tensor(weights, dtype=torch.float32))
    if name == "equal":
        return Sum()
    if name == "mean":
        return Mean()
    if name == "uw":
        return UW(num_tasks)
    if name == "dwa":
        return DWA(**options)
    return FAMO(num_tasks, **options)


def trainable_by_optimizer(scalarizer: Scalarizer) -> list[Tensor]:
    """Parameters of the scalarizer that the engine's optimiser must update (UW's log-variances).

    FAMO's logits are stepped by FAMO's own Adam and must stay out of the main optimiser.
    """
    return [] if isinstance(scalarizer, FAMO) else list(scalarizer.parameters())


def globally_valued(losses: Tensor, all_reduce_mean: Any) -> Tensor:
    """``losses`` with the value of their mean over ranks and the gradient of this rank's losses."""
    shared = all_reduce_mean(losses.detach())
    return losses + (shared - losses.detach())


def weighting_state(scalarizer: Scalarizer) -> dict[str, Any]:
    """A snapshot (a deep copy) of everything needed to resume the scalarizer, as tensors and plain
    Python values."""
    state: dict[str, Any] = {"state_dict": scalarizer.state_dict()}
    if isinstance(scalarizer, FAMO):
        optimizer = scalarizer._optimizer
        state["optimizer"] = None if optimizer is None else optimizer.state_dict()
        state["prev_losses"] = scalarizer._prev_losses
    elif isinstance(scalarizer, DWA):
        state["loss_sum"] = scalarizer._loss_sum
        state["n_batches"] = scalarizer._n_batches
        state["previous_averages"] = list(scalarizer._previous_averages)
    return copy.deepcopy(state)


def load_weighting_state(scalarizer: Scalarizer, state: dict[str, Any]) -> None:
    """Inverse of ``weighting_state``."""
    scalarizer.load_state_dict(state["state_dict"])
    if isinstance(scalarizer, FAMO):
        scalarizer._prev_losses = state["prev_losses"]
        scalarizer._optimizer = None
        if state["optimizer"] is not None:
            scalarizer._optimizer = Adam(
                [scalarizer._w], lr=scalarizer.lr, weight_decay=scalarizer.weight_decay
            )
            scalarizer._optimizer.load_state_dict(state["optimizer"])
    elif isinstance(scalarizer, DWA):
        scalarizer._loss_sum = state["loss_sum"]
        scalarizer._n_batches = state["n_batches"]
        scalarizer._previous_averages = list(state["previous_averages"])
