"""Helpers for runs on several processes."""

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
