"""Helpers for runs on several processes."""

import warnings

from lightning_fabric import Fabric
from torch import nn


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
