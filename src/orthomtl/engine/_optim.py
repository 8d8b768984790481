"""Optimisers and per-step learning-rate schedules built from ``OptimConfig``."""

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from orthomtl.config import OptimConfig


def build_optimizer(params: Iterable[Any], config: OptimConfig) -> Optimizer:
    params = list(params)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum
    )


class LearningRateFactor:
    """Multiplier of the base learning rate at a given optimiser step.

    Linear warm-up over ``warmup_steps``, then ``none`` (constant), ``cosine`` (half-cosine decay to
    ``min_lr`` at ``total_steps``) or ``step`` (× ``gamma`` every ``step_epochs`` epochs). Holds
    plain numbers only: ``LambdaLR`` saves this object's ``__dict__`` in checkpoints.
    """

    def __init__(self, config: OptimConfig, total_steps: int, steps_per_epoch: int) -> None:
        self.kind = config.scheduler
        self.warmup = config.warmup_steps
        self.total = max(total_steps, 1)
        self.floor = config.min_lr / config.lr
        self.gamma = config.gamma
        self.step_every = config.step_epochs * steps_per_epoch

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "cosine":
            progress = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
            return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.kind == "step":
            return self.gamma ** (step // self.step_every)
        return 1.0


def build_scheduler(
    optimizer: Optimizer, config: OptimConfig, total_steps: int, steps_per_epoch: int
) -> LambdaLR:
    return LambdaLR(optimizer, LearningRateFactor(config, total_steps, steps_per_epoch))
