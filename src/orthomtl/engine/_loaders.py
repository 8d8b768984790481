"""The engine's data loaders: global batches sliced per rank, and seeded training subsets.

A loader fetches a whole batch at once through the dataset's ``__getitems__`` (so augmentations
run vectorised) with ``GlobalBatchSampler``, which makes the union of the ranks' batches the batch
of a single process. Its workers' generator is seeded from the run's seed, so the global random
state is never touched.
"""

import numpy as np
import torch
from lightning_fabric import Fabric
from torch.utils.data import DataLoader, Subset

from orthomtl.data import Batch, GlobalBatchSampler, TaskDataset


def _whole_batch(items: Batch) -> Batch:
    return items


def make_loader(
    fabric: Fabric,
    dataset: TaskDataset | Subset,
    batch_size: int,
    *,
    seed: int,
    train: bool,
    shard: bool = True,
    num_workers: int = 0,
    stratify_by_source: bool = True,
) -> tuple[DataLoader, GlobalBatchSampler]:
    """A loader of ``dataset`` and its sampler.

    Args:
        batch_size: the global batch size (split over the ranks when ``shard``).
        train: shuffle per epoch and drop the last incomplete batch; with ``stratify_by_source``,
            multi-source data is stratified by ``dataset.sources``.
        shard: give each rank its slice; otherwise every rank iterates the whole split.
    """
    sources = getattr(dataset, "sources", None)
    sampler = GlobalBatchSampler(
        len(dataset),
        batch_size,
        shuffle=train,
        seed=seed,
        drop_last=train,
        rank=fabric.global_rank if shard else 0,
        world_size=fabric.world_size if shard else 1,
        strata=sources if train and stratify_by_source else None,
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=_whole_batch,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
    return fabric.setup_dataloaders(loader, use_distributed_sampler=False), sampler


def training_subset(dataset: TaskDataset, fraction: float, *, seed: int, epoch: int) -> Subset:
    """A random ``fraction`` of ``dataset`` (at least one sample), drawn from ``(seed, epoch)``, in
    index order, with the dataset set to that epoch's augmentations."""
    if not 0 < fraction <= 1:
        raise ValueError(f"The share of the training data must be in (0, 1], got {fraction}.")
    size = len(dataset)
    chosen = np.random.default_rng([seed, epoch, 1]).permutation(size)
    chosen = np.sort(chosen[: max(1, round(fraction * size))])
    dataset.set_epoch(epoch)
    return Subset(dataset, chosen.tolist())
