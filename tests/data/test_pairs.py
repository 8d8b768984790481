"""Detaux pairs: the share of different-label pairs, the partners' labels, pure per-index draws,
and the anchors-then-partners batch layout."""

import pickle
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from orthomtl.data import (
    ArrayDataset,
    Batch,
    GlobalBatchSampler,
    PairedDataset,
    SaltAndPepper,
    TaskDataset,
    draw_partners,
    load_shapes,
)
from orthomtl.data import _shapes as shapes_module
from orthomtl.tasks import Task

PRINCIPAL = Task("digit", "classification", 5)
OTHER = Task("size", "regression")
N = 40


def labels(n: int = N, classes: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n)


def split(transform: SaltAndPepper | None = None) -> ArrayDataset:
    """Inputs that name their sample (pixel value = index), with factors and sources."""
    x = np.repeat(np.arange(N, dtype=np.float32), 4).reshape(N, 1, 2, 2) / N
    y = labels()
    targets = {"digit": y, "size": np.arange(N, dtype=np.float32) * 0.5}
    factors = np.stack([np.arange(N), y], axis=1)
    source = np.arange(N) % 2
    return ArrayDataset(
        x, targets, [PRINCIPAL, OTHER], factors=factors, transform=transform, source=source
    )


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
def test_share_of_different_pairs_is_p(share: float) -> None:
    y = labels(20_000, classes=8)
    partners, different = draw_partners(y, np.arange(len(y)), seed=3, share_different=share)
    assert abs(different.mean() - share) < 0.015
    assert np.array_equal(different, y[partners] != y)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_share_zero_and_one_are_exact(share: float) -> None:
    y = labels(5_000)
    for epoch in range(3):
        partners, different = draw_partners(
            y, np.arange(len(y)), seed=0, epoch=epoch, share_different=share
        )
        assert np.all(different == bool(share))
        assert np.all((y[partners] != y) == bool(share))


def test_same_partners_share_the_label_and_are_other_samples() -> None:
    y = labels(2_000, classes=6)
    anchors = np.arange(len(y))
    partners, different = draw_partners(y, anchors, seed=1, share_different=0.5)
    same = ~different
    assert same.sum() > 800
    assert np.all(y[partners[same]] == y[same]) and np.all(partners[same] != anchors[same])
    assert np.all(y[partners[different]] != y[different])


def test_partners_are_uniform_within_their_pool() -> None:
    """Over many epochs, anchor 4 of class 2 meets every other class-2 sample (and only those) as
    often when "same", and every sample of another class as often when "different"."""
    y = np.array([0, 0, 1, 2, 2, 2, 2, 0])
    draws = [draw_partners(y, [4], seed=0, epoch=e) for e in range(2_000)]
    partners = np.array([p[0] for p, _ in draws])
    different = np.array([d[0] for _, d in draws])
    same_counts = np.bincount(partners[~different], minlength=len(y))
    other_counts = np.bincount(partners[different], minlength=len(y))
    assert same_counts[[0, 1, 2, 4, 7]].sum() == 0 and other_counts[[3, 4, 5, 6]].sum() == 0
    for counts, pool in ((same_counts, [3, 5, 6]), (other_counts, [0, 1, 2, 7])):
        expected = counts.sum() / len(pool)
        assert np.all(np.abs(counts[pool] - expected) < 0.2 * expected), counts


def test_a_singleton_class_pairs_with_itself_when_same() -> None:
    y = np.array([0, 0, 1, 0])
    draws = [draw_partners(y, [2], seed=0, epoch=e) for e in range(50)]
    assert {int(p[0]) for p, d in draws if not d[0]} == {2}
    assert {int(p[0]) for p, d in draws if d[0]} == {0, 1, 3}


def test_draws_are_a_pure_function_of_seed_epoch_and_index() -> None:
    y = labels(1_000)
    first, flags = draw_partners(y, [5, 9, 13, 5], seed=2, epoch=4)
    again, again_flags = draw_partners(y, [13, 5], seed=2, epoch=4)
    assert np.array_equal(again, first[[2, 0]]) and np.array_equal(again_flags, flags[[2, 0]])
    assert first[0] == first[3]
    everyone = np.arange(len(y))
    base, _ = draw_partners(y, everyone, seed=2, epoch=4)
    assert np.array_equal(base[[5, 9, 13]], first[:3])
    for changed in ({"seed": 2, "epoch": 5}, {"seed": 3, "epoch": 4}):
        other, _ = draw_partners(y, everyone, **changed)
        assert (other != base).mean() > 0.9
    fixed = [draw_partners(y, everyone, seed=2, epoch=e, fixed=True)[0] for e in (0, 7)]
    assert np.array_equal(fixed[0], fixed[1])
    assert (fixed[0] != base).mean() > 0.9


def test_batch_is_anchors_then_partners() -> None:
    base = split()
    paired = PairedDataset(base, "digit", seed=0)
    assert len(paired) == N and paired.tasks == base.tasks
    assert paired.input_shape == base.input_shape and np.array_equal(paired.sources, base.sources)
    anchors = [7, 3, 30, 7]
    partners, different = paired.partners(anchors)
    batch = paired.__getitems__(anchors)
    expected = base.__getitems__([*anchors, *partners.tolist()])
    assert len(batch) == 8 and batch.index.tolist() == [*anchors, *partners.tolist()]
    assert torch.equal(batch.x, expected.x)
    assert torch.equal(batch.x[:, 0, 0, 0] * N, batch.index.float())  # the layout, not a shuffle
    assert set(batch.targets) == {"digit", "size"}
    for name, values in expected.targets.items():
        assert torch.equal(batch.targets[name], values)
    assert batch.factors is not None and torch.equal(batch.factors, expected.factors)
    assert batch.source is not None and torch.equal(batch.source, expected.source)
    digit = batch.targets["digit"]
    assert torch.equal(digit[:4] != digit[4:], torch.from_numpy(different))


def test_set_epoch_changes_pairs_and_forwards_to_the_base() -> None:
    base = split(SaltAndPepper(0.5, seed=1, fixed=False))
    paired = PairedDataset(base, "digit", seed=0)
    anchors = list(range(N))
    first = paired.partners(anchors)[0]
    paired.set_epoch(3)
    assert base.epoch == 3 and (paired.partners(anchors)[0] != first).mean() > 0.5
    batch = paired.__getitems__([0, 1])
    assert torch.equal(batch.x, base.__getitems__(batch.index.tolist()).x)  # the epoch-3 noise
    evaluation = PairedDataset(split(), "digit", seed=0, fixed=True)
    fixed = evaluation.partners(anchors)[0]
    evaluation.set_epoch(9)
    assert np.array_equal(evaluation.partners(anchors)[0], fixed)


def test_data_loader_with_the_batched_fetch() -> None:
    paired = PairedDataset(split(), "digit", seed=5, share_different=0.5)
    sampler = GlobalBatchSampler(len(paired), 8, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(paired, batch_sampler=sampler, collate_fn=lambda batch: batch)
    batches = list(loader)
    assert len(batches) == N // 8
    for batch in batches:
        assert isinstance(batch, Batch) and len(batch) == 16
        partners, _ = paired.partners(batch.index[:8].numpy())
        assert batch.index[8:].tolist() == partners.tolist()
    anchors = torch.cat([batch.index[:8] for batch in batches])
    assert sorted(anchors.tolist()) == list(range(N))
    copy = pickle.loads(pickle.dumps(paired))  # as sent to loader workers
    assert np.array_equal(copy.partners(range(N))[0], paired.partners(range(N))[0])


def test_shapes_pairs_read_labels_without_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_shapes(train_size=200, val_size=10, test_size=10, noise=0.15)

    def no_render(factors: np.ndarray) -> np.ndarray:
        raise AssertionError("labels must come from the factor grid")

    with monkeypatch.context() as patch:
        patch.setattr(shapes_module, "render", no_render)
        paired = PairedDataset(data.train, "scale", seed=0)
    batch = paired.__getitems__([0, 1, 2])
    assert batch.x.shape == (6, 3, 64, 64)
    assert torch.equal(batch.x, data.train.__getitems__(batch.index.tolist()).x)  # noisy too
    assert torch.equal(batch.targets["scale"], batch.factors[:, 3])


class Unlabelled(TaskDataset):
    """A split without a ``labels`` override: pairing falls back to fetching it."""

    def __init__(self, y: np.ndarray) -> None:
        self.y, self.fetches = y, 0
        self.tasks, self.input_shape = (PRINCIPAL,), (1,)

    def __len__(self) -> int:
        return len(self.y)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        self.fetches += 1
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        y = torch.from_numpy(self.y)[idx]
        return Batch(x=y[:, None].float(), targets={"digit": y}, index=idx)


def test_labels_of_splits_without_stored_labels_are_fetched() -> None:
    y = labels(2_500)
    unlabelled = Unlabelled(y)
    assert np.array_equal(unlabelled.labels("digit"), y) and unlabelled.fetches == 3
    paired = PairedDataset(unlabelled, "digit", seed=0)
    assert np.array_equal(paired.labels("digit"), y)
    partners, _ = paired.partners(np.arange(len(y)))
    assert np.array_equal(partners, draw_partners(y, np.arange(len(y)), seed=0)[0])
    assert np.array_equal(split().labels("digit"), labels())
    with pytest.raises(KeyError, match="No task 'colour'"):
        unlabelled.labels("colour")


@pytest.mark.parametrize(
    ("principal", "options", "message"),
    [
        ("size", {}, r"classification task of the split, one of \['digit'\]; got 'size'"),
        ("colour", {}, "got 'colour'"),
        ("digit", {"share_different": 1.5}, r"share_different must be a fraction in \[0, 1\]"),
        ("digit", {"share_different": -0.1}, "share_different"),
        ("digit", {"share_different": True}, "share_different"),
    ],
)
def test_paired_dataset_rejects_bad_options(principal: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PairedDataset(split(), principal, seed=0, **options)


def test_labels_that_cannot_be_paired_are_rejected() -> None:
    one_class = Unlabelled(np.zeros(10, dtype=np.int64))
    with pytest.raises(ValueError, match="no pair can differ; use share_different=0"):
        PairedDataset(one_class, "digit", seed=0)
    same_only = PairedDataset(one_class, "digit", seed=0, share_different=0.0)
    assert set(same_only.partners(range(10))[0].tolist()) <= set(range(10))
    with pytest.raises(ValueError, match="1 of 3 samples have no principal label"):
        draw_partners(np.array([0, -1, 1]), [0], seed=0)
    with pytest.raises(IndexError, match=r"in 0\.\.2, got values 0\.\.3"):
        draw_partners(np.array([0, 1, 1]), [0, 3], seed=0)
    with pytest.raises(IndexError, match=r"in 0\.\.39, got values -1\.\.-1"):
        PairedDataset(split(), "digit", seed=0).__getitems__([-1])
