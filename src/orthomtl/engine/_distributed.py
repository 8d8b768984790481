"""Helpers for runs on several processes."""

import math
import warnings

import torch
from lightning_fabric import Fabric
from torch import Tensor, nn


def prepare_batchnorm(fabric: Fabric, model: nn.Module, sync: bool) -> nn.Module:
    """``model`` ready for ``world_size`` processes: with SyncBatchNorm when ``sync`` is set, or
    as it is with a warning, since each rank would normalise with its own batch statistics."""
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if fabric.world_size == 1 or not has_bn:
        return model
    if sync:
        if fabric.device.type == "cpu":
            raise ValueError(
                "trainer.sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm has no CPU kernel). "
                "On CPU, use an encoder without BatchNorm "
                "(e.g. model.encoder_options.batch_norm=false)."
            )
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if fabric.is_global_zero:
        warnings.warn(
            f"The model has BatchNorm layers and runs on {fabric.world_size} processes: each "
            "normalises with its own batch statistics, so results differ from one process. Set "
            "trainer.sync_batchnorm=true (GPU) or disable BatchNorm in the encoder to match "
            "exactly.",
            stacklevel=2,
        )
    return model


def gather_global_batch(
    fabric: Fabric, rows: Tensor, labels: dict[str, Tensor]
) -> tuple[Tensor, dict[str, Tensor]]:
    """Every rank's ``rows`` (with their ``labels``) in rank order, for losses that are not sums
    over samples (contrastive ones), so each rank computes the loss of the whole global batch.

    The other ranks' rows carry no gradient; this rank's gradient is multiplied by the world size,
    because DDP then averages the ranks' gradients: the update equals the single-process one.
    """
    world, rank = fabric.world_size, fabric.global_rank
    parts = list(fabric.all_gather(rows.detach()).unbind(0))
    parts[rank] = rows * world - rows.detach() * (world - 1)
    gathered = {k: fabric.all_gather(v).reshape(-1, *v.shape[1:]) for k, v in labels.items()}
    return torch.cat(parts), gathered


def require_finite_everywhere(fabric: Fabric, total: Tensor, context: str) -> None:
    """Raise ``FloatingPointError`` on every rank if the loss ``total`` is not finite on any.

    The ranks' losses are gathered first: a rank that raised alone would leave the others
    waiting for it in the next collective (or failing there with a bare connection error).
    ``context`` ends the message (where it happened and what to do).
    """
    totals = total.detach().float().reshape(1)
    if fabric.world_size > 1:
        totals = fabric.all_gather(totals).reshape(-1)
    values = totals.tolist()
    if all(math.isfinite(value) for value in values):
        return
    became = str(values[0])
    if len(values) > 1:
        became = ", ".join(
            f"{value} on rank {rank}"
            for rank, value in enumerate(values)
            if not math.isfinite(value)
        )
        became += f" (of {len(values)} processes; all of them stop)"
    raise FloatingPointError(f"The training loss became {became} {context}")
