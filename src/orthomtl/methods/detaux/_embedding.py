"""A split's subspace codes, for discovery and its plots."""

from dataclasses import dataclass

import numpy as np
import torch

from orthomtl.data import TaskDataset
from orthomtl.methods.detaux._autoencoder import ProductSpaceAutoencoder


@dataclass
class Embedding:
    """A split's subspace codes (N, K, d), principal labels and factors (or None)."""

    codes: np.ndarray
    principal: np.ndarray
    factors: np.ndarray | None


@torch.no_grad()
def embed(
    network: ProductSpaceAutoencoder, split: TaskDataset, principal: str, batch_size: int
) -> Embedding:
    """Codes of every sample of ``split`` (its epoch-0 draws), in eval mode."""
    network.eval()
    split.set_epoch(0)
    codes, labels, factors = [], [], []
    for start in range(0, len(split), batch_size):
        batch = split.__getitems__(list(range(start, min(start + batch_size, len(split)))))
        codes.append(network.codes(batch.x).cpu().numpy())
        labels.append(batch.targets[principal].cpu().numpy())
        if batch.factors is not None:
            factors.append(batch.factors.cpu().numpy())
    network.train()
    return Embedding(
        np.concatenate(codes).astype(np.float64),
        np.concatenate(labels),
        np.concatenate(factors) if factors else None,
    )
