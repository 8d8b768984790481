"""Helpers for the file-loader tests: tiny images that carry their own index."""

import numpy as np
import torch

from orthomtl.data import TaskDataset


def everything(split: TaskDataset):
    return split.__getitems__(list(range(len(split))))


def stamp(n: int, size: int) -> np.ndarray:
    """(n, size, size) uint8 images whose first row spells the index in binary (0/1 pixels)."""
    images = np.zeros((n, size, size), np.uint8)
    bits = (np.arange(n)[:, None] >> np.arange(size)) & 1
    images[:, 0, :] = bits
    return images


def unstamp(x: torch.Tensor) -> np.ndarray:
    bits = (x[:, 0, 0, :].numpy() > 0.5).astype(np.int64)
    return (bits << np.arange(bits.shape[1])).sum(axis=1)
