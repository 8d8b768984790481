"""Pairs for Detaux: each sample with a partner that differs in the principal label or shares it.

Detaux (Skenderi et al., ICIAP 2025, section 4) trains its product-space autoencoder on pairs
``(x1, x2)``. A share ``p`` of the pairs (0.5 in the paper) differ in the principal label and the
rest share it; nothing else is controlled, and no other label is used.

Every sample of a split is an anchor once per epoch. Anchor ``i``'s partner is a pure function of
``(seed, epoch, i)``: two counter-based draws of ``_augment``, on a stream of their own (so they
never coincide with the split's augmentation draws). The first, ``u < p``, decides "different";
the second picks the partner uniformly among the samples with another principal label, or among
the *other* samples with the same one. Whichever batch, worker, process or resumed run asks for
anchor ``i``, its partner is the same. Evaluation splits draw from the fixed stream: the same pairs
every epoch.

Our choice for a principal class with a single sample: its "same" partner is the anchor itself
(the pair does share the label), so that small evaluation splits with a rare class still work.

The draw is vectorised: the samples sorted by label put each class in one contiguous block, so a
"same" partner is an offset into the anchor's block (skipping the anchor), and a "different" one an
offset into the rest of the order (skipping the block).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from orthomtl.data._augment import random_uniform
from orthomtl.data._base import Batch, TaskDataset

_PAIRS_TAG = 0x5041_4952  # "PAIR": separates the pair draws from the augmentation streams


@dataclass(frozen=True)
class _ClassBlocks:
    """The samples sorted by label, and per sample its class block in that order."""

    order: np.ndarray
    """Sample indices sorted by label (stable)."""
    start: np.ndarray
    """Per sample: the position in ``order`` where its class block starts."""
    count: np.ndarray
    """Per sample: the size of its class."""
    rank: np.ndarray
    """Per sample: its own position within its class block."""

    @classmethod
    def of(cls, labels: np.ndarray) -> "_ClassBlocks":
        order = np.argsort(labels, kind="stable")
        _, first, inverse, counts = np.unique(
            labels[order], return_index=True, return_inverse=True, return_counts=True
        )
        start, count, rank = (np.empty(len(labels), dtype=np.int64) for _ in range(3))
        start[order] = first[inverse]
        count[order] = counts[inverse]
        rank[order] = np.arange(len(labels)) - first[inverse]
        return cls(order.astype(np.int64), start, count, rank)

    def draw(
        self, anchors: np.ndarray, *, seed: int, epoch: int, fixed: bool, share_different: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Partners and "different" flags of ``anchors``; see ``draw_partners``."""
        stream = {"seed": _pair_seed(seed), "epoch": epoch, "fixed": fixed}
        keys = anchors.astype(np.uint64) * np.uint64(2)
        different = random_uniform(keys, **stream) < share_different
        u = random_uniform(keys + np.uint64(1), **stream)
        start, count, rank = self.start[anchors], self.count[anchors], self.rank[anchors]
        choices = np.where(different, len(self.order) - count, np.maximum(count - 1, 1))
        j = np.minimum((u * choices).astype(np.int64), choices - 1)
        same = start + j + ((j >= rank) & (count > 1))
        other = j + (j >= start) * count
        return self.order[np.where(different, other, same)], different


def _pair_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed % 2**64, _PAIRS_TAG]).generate_state(1, np.uint64)[0])


def _check_labels(labels: np.ndarray, share_different: float, where: str) -> np.ndarray:
    values = np.asarray(labels)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer) or values.size == 0:
        raise ValueError(
            f"{where}: principal labels must be a non-empty 1-D integer array, got "
            f"{values.dtype} {values.shape}."
        )
    if (missing := int((values < 0).sum())) > 0:
        raise ValueError(
            f"{where}: {missing} of {values.size} samples have no principal label (< 0); every "
            "anchor and partner needs one."
        )
    if share_different > 0 and np.unique(values).size < 2:
        raise ValueError(
            f"{where}: every sample has principal label {int(values[0])}, so no pair can differ; "
            "use share_different=0 or a split with at least two classes."
        )
    return values.astype(np.int64, copy=False)


def _check_share(share_different: float, where: str) -> float:
    number = isinstance(share_different, Real) and not isinstance(share_different, bool)
    if not (number and 0 <= share_different <= 1):
        raise ValueError(
            f"{where}: share_different must be a fraction in [0, 1], got {share_different!r}."
        )
    return float(share_different)


def _check_anchors(anchors: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    idx = np.asarray(anchors)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise IndexError(f"Pair anchors must be integer indices, got dtype {idx.dtype}.")
    if idx.min() < 0 or idx.max() >= size:
        raise IndexError(
            f"Pair anchors must be in 0..{size - 1}, got values {idx.min()}..{idx.max()}."
        )
    return idx.astype(np.int64, copy=False)


def draw_partners(
    labels: np.ndarray,
    anchors: Sequence[int] | np.ndarray,
    *,
    seed: int,
    epoch: int = 0,
    fixed: bool = False,
    share_different: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Each anchor's partner: of another principal label with probability ``share_different``,
    else another sample of the same label (see the module docstring).

    Args:
        labels: (N,) principal class of every sample, non-negative integers.
        anchors: sample indices in ``0..N-1``, any order, repeats allowed.
        seed: the pair seed.
        epoch: the epoch of the draw; ignored when ``fixed``.
        fixed: draw from the fixed stream (evaluation splits): the same pairs every epoch.
        share_different: the probability that a pair differs in the principal label, in [0, 1];
            exactly none at 0 and all at 1.

    Returns:
        ``(partners, different)``: (B,) int64 sample indices and (B,) bool flags, anchor ``b``'s
        entries a pure function of ``(seed, epoch, anchors[b])``.

    Raises:
        ValueError: on invalid labels, a share out of range, or a single class with
            ``share_different > 0``.
        IndexError: on an anchor out of range.
    """
    share = _check_share(share_different, "draw_partners")
    values = _check_labels(labels, share, "draw_partners")
    return _ClassBlocks.of(values).draw(
        _check_anchors(anchors, len(values)),
        seed=seed,
        epoch=epoch,
        fixed=fixed,
        share_different=share,
    )


class PairedDataset(TaskDataset):
    """A split served as Detaux pairs: every sample as an anchor, with a drawn partner.

    Batch layout: fetching B anchors returns ONE ``Batch`` of 2B rows, the B anchors first and then
    their B partners, in the same order; ``x``, ``targets``, ``index``, ``factors`` and ``source``
    are all concatenated that way. Row ``b`` and row ``B + b`` form a pair, so a method splits the
    batch in half; the pair differs in the principal label when
    ``targets[principal][:B] != targets[principal][B:]``. The batch size of a loader therefore
    counts pairs.

    The base fetches the 2B rows in one call, so its own augmentations (e.g. salt-and-pepper
    noise, keyed by the sample) apply to anchors and partners alike, and an image drawn twice in a
    batch is the same image. Partners are drawn as in ``draw_partners``; the principal labels are
    read once, with ``base.labels`` (cheap for ``ArrayDataset`` and ``ShapesDataset``).

    Args:
        base: the split to pair.
        principal: the classification task whose labels decide "same" or "different".
        seed: the pair seed; use one seed for every process of a run.
        fixed: evaluation splits: the same pairs every epoch (the fixed stream).
        share_different: the probability that a pair differs in the principal label, in [0, 1].

    Raises:
        ValueError: if ``principal`` is not a classification task of the split, on a share out of
            range, on missing principal labels, or on a single class with ``share_different > 0``.
    """

    def __init__(
        self,
        base: TaskDataset,
        principal: str,
        *,
        seed: int,
        fixed: bool = False,
        share_different: float = 0.5,
    ) -> None:
        classes = [t.name for t in base.tasks if t.kind == "classification"]
        if principal not in classes:
            raise ValueError(
                f"PairedDataset: the principal task must be a classification task of the split, "
                f"one of {classes}; got {principal!r}."
            )
        where = f"PairedDataset({principal!r})"
        self.share_different = _check_share(share_different, where)
        labels = _check_labels(base.labels(principal), self.share_different, where)
        self.base, self.principal, self.seed, self.fixed = base, principal, seed, fixed
        self.tasks, self.input_shape = base.tasks, base.input_shape
        self.sources, self.epoch = base.sources, base.epoch
        self._blocks = _ClassBlocks.of(labels)

    def __len__(self) -> int:
        return len(self.base)

    def partners(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's ``(partners, different)`` of the anchors ``indices``."""
        return self._blocks.draw(
            _check_anchors(indices, len(self)),
            seed=self.seed,
            epoch=self.epoch,
            fixed=self.fixed,
            share_different=self.share_different,
        )

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        anchors = _check_anchors(indices, len(self))
        partners, _ = self.partners(anchors)
        return self.base.__getitems__(np.concatenate([anchors, partners]).tolist())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's pairs (unless ``fixed``) and the base's augmentations."""
        self.epoch = epoch
        self.base.set_epoch(epoch)

    def labels(self, name: str) -> np.ndarray:
        """The anchors' labels, i.e. the base's."""
        return self.base.labels(name)
