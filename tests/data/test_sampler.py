"""GlobalBatchSampler: per-rank slices that add up to the single-process batches."""

import pytest

from orthomtl.data import GlobalBatchSampler


def _batches(**kwargs: object) -> list[list[int]]:
    return list(GlobalBatchSampler(**kwargs))  # type: ignore[arg-type]


def test_rank_slices_union_is_the_single_process_batch() -> None:
    single = _batches(size=50, batch_size=8, shuffle=True, seed=3, drop_last=True)
    ranks = [
        _batches(size=50, batch_size=8, shuffle=True, seed=3, drop_last=True, rank=r, world_size=2)
        for r in range(2)
    ]
    assert len(single) == 6
    for b, batch in enumerate(single):
        assert ranks[0][b] + ranks[1][b] == batch


def test_epochs_differ_and_resume_skips_done_batches() -> None:
    sampler = GlobalBatchSampler(40, 8, shuffle=True, seed=0, drop_last=True)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second
    sampler.set_epoch(1, start_batch=3)
    assert list(sampler) == second[3:]
    assert len(sampler) == 2


def test_evaluation_covers_every_index_once_across_ranks() -> None:
    seen = []
    for rank in range(3):
        for batch in GlobalBatchSampler(10, 3, shuffle=False, rank=rank, world_size=3):
            seen.extend(batch)
    assert sorted(seen) == list(range(10))


def test_bad_batch_sizes() -> None:
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        GlobalBatchSampler(10, 3, shuffle=False, world_size=2)
    with pytest.raises(ValueError, match="fewer than one batch"):
        GlobalBatchSampler(5, 8, shuffle=True, drop_last=True)
