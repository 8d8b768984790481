"""Batches that are the same whatever the number of processes.

The sampler cuts a seeded per-epoch permutation into *global* batches and gives each rank an equal
contiguous slice of each. The union over ranks is exactly the batch a single process would see, so
a 2-process DDP run with per-rank batch B/2 matches a 1-process run with batch B, and a run resumed
mid-epoch continues from the very next batch.

With ``strata`` (multi-source data: each sample's source), a shuffled epoch is stratified: every
stratum's samples are spread evenly through the epoch's order, so each batch holds each source in
proportion to its size (within about one sample; within one for two sources), rather than by
chance.
"""

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class GlobalBatchSampler(Sampler[list[int]]):
    """Per-rank slices of global batches; see the module docstring.

    Args:
        size: number of samples in the split.
        batch_size: the global batch size, divisible by ``world_size``.
        shuffle: a fresh permutation per epoch from ``(seed, epoch)``; otherwise in order.
        drop_last: drop the final incomplete global batch (training). Without it (evaluation) the
            last batch is split as evenly as possible, so a rank's slice may be smaller or empty.
        strata: (size,) integer stratum of each sample (e.g. ``TaskDataset.sources``); shuffled
            epochs then spread each stratum evenly (see the module docstring).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        strata: np.ndarray | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if batch_size % world_size:
            raise ValueError(
                f"The global batch size {batch_size} must be divisible by the number of processes "
                f"({world_size}); set data.batch_size to a multiple of {world_size}."
            )
        if drop_last and size < batch_size:
            raise ValueError(
                f"The training split has {size} samples, fewer than one batch of {batch_size}; "
                "lower data.batch_size."
            )
        self.size, self.batch_size, self.shuffle, self.seed = size, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size
        if strata is not None and np.shape(strata) != (size,):
            raise ValueError(
                f"strata must give one stratum per sample ({size}), got {np.shape(strata)}."
            )
        self.strata = None if strata is None else np.asarray(strata)
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's permutation; skip its first ``start_batch`` batches (to resume)."""
        self.epoch, self.start_batch = epoch, start_batch

    def __len__(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (0 if self.drop_last or rest == 0 else 1) - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle and self.strata is not None:
            order = self._stratified_order()
        elif self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        total = len(self) + self.start_batch
        for b in range(self.start_batch, total):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield np.array_split(batch, self.world_size)[self.rank].tolist()

    def _stratified_order(self) -> np.ndarray:
        """Each stratum shuffled, its j-th of n samples placed at (j + u)/n with one u ~ U(0, 1)
        per stratum, and the epoch ordered by place: strata interleave evenly, in proportion to
        their sizes."""
        assert self.strata is not None
        rng = np.random.default_rng([self.seed, self.epoch])
        place = np.empty(self.size)
        for stratum in np.unique(self.strata):
            members = rng.permutation(np.flatnonzero(self.strata == stratum))
            place[members] = (np.arange(members.size) + rng.random()) / members.size
        return np.argsort(place, kind="stable")
