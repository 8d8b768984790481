"""The orthogonality penalty Σ_r ‖S̄_rᵀ C̄_r‖_F² between task-specific and shared latents."""

import pytest
import torch
from torch import Tensor

from orthomtl.losses import orthogonality_penalty, task_cross_covariance

SOURCE = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 0, 1, 0, 2, 1, 0, 2])
R = 3


def literal(s: Tensor, c: Tensor, source: Tensor, num_tasks: int) -> Tensor:
    """‖S̄_rᵀ C̄_r‖_F² per task, S̄_r = (S_r − mean)/√n_r, one task at a time; (R,)."""
    out = []
    for r in range(num_tasks):
        s_r, c_r = s[source == r], c[source == r]
        n = s_r.shape[0]
        s_bar = (s_r - s_r.mean(0)) / n**0.5
        c_bar = (c_r - c_r.mean(0)) / n**0.5
        out.append((s_bar.T @ c_bar).pow(2).sum())
    return torch.stack(out)


def latents(seed: int, q: int = 2, p: int = 3, lead: tuple[int, ...] = ()) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    n = len(SOURCE)
    s = torch.randn(*lead, n, q, generator=generator, dtype=torch.float64)
    c = torch.randn(*lead, n, p, generator=generator, dtype=torch.float64)
    return s, c


def uncorrelated_within_tasks(q: int, p: int) -> tuple[Tensor, Tensor]:
    """S and C whose centred columns are orthogonal within every task: per task, q + p
    orthonormal columns orthogonal to the ones vector, split between S and C, then shifted by a
    task-wise constant (centring removes it)."""
    n = len(SOURCE)
    s, c = torch.zeros(n, q, dtype=torch.float64), torch.zeros(n, p, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    for r in range(R):
        rows = SOURCE.eq(r)
        m = int(rows.sum())
        basis = torch.cat(
            [
                torch.ones(m, 1, dtype=torch.float64),
                torch.randn(m, q + p, generator=generator, dtype=torch.float64),
            ],
            1,
        )
        columns, _ = torch.linalg.qr(basis)
        s[rows] = columns[:, 1 : 1 + q] * 3 + r
        c[rows] = columns[:, 1 + q :] - 2 * r
    return s, c


def test_zero_for_latents_uncorrelated_within_every_task() -> None:
    s, c = uncorrelated_within_tasks(2, 2)
    penalty = orthogonality_penalty(s, c, SOURCE, R)
    assert penalty.shape == (R,)
    assert penalty.abs().max() < 1e-28
    # pooled over tasks, the columns are correlated: only the per-task covariance counts
    pooled = orthogonality_penalty(s, c, torch.zeros_like(SOURCE), 1)
    assert pooled.item() > 1e-3


def test_positive_otherwise_and_equal_to_the_literal_formula() -> None:
    s, c = latents(0)
    penalty = orthogonality_penalty(s, c, SOURCE, R)
    assert (penalty > 0).all()
    torch.testing.assert_close(penalty, literal(s, c, SOURCE, R), rtol=1e-12, atol=1e-14)
    covariance = task_cross_covariance(s, c, SOURCE, R)
    assert covariance.shape == (R, 2, 3)
    torch.testing.assert_close(covariance.pow(2).sum((-2, -1)), penalty)
    # a task with a single row has no covariance (and no penalty); a task without rows neither
    one_row = torch.tensor([0, 0, 0, 1])
    assert orthogonality_penalty(s[:4], c[:4], one_row, 3)[1:].abs().max() < 1e-30


def test_gradient_matches_autograd_of_the_literal_formula() -> None:
    s, c = latents(1)
    weights = torch.tensor([0.5, 2.0, 1.5], dtype=torch.float64)  # distinct weight per task
    s1, c1 = s.clone().requires_grad_(), c.clone().requires_grad_()
    s2, c2 = s.clone().requires_grad_(), c.clone().requires_grad_()
    ours = torch.autograd.grad((weights * orthogonality_penalty(s1, c1, SOURCE, R)).sum(), (s1, c1))
    ref = torch.autograd.grad((weights * literal(s2, c2, SOURCE, R)).sum(), (s2, c2))
    for got, want in zip(ours, ref, strict=True):
        assert got.abs().max() > 1e-3
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_leading_dimensions_are_independent_models() -> None:
    s, c = latents(2, lead=(2, 3))
    penalty = orthogonality_penalty(s, c, SOURCE, R)
    assert penalty.shape == (2, 3, R)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(
                penalty[i, j], literal(s[i, j], c[i, j], SOURCE, R), rtol=1e-12, atol=1e-14
            )


def test_reduce_sum_over_a_split_batch_gives_the_whole_batch() -> None:
    """Two "processes" hold halves of the batch; ``reduce_sum`` adds the other half's sums, as
    an all-reduce would."""
    s, c = latents(4, lead=(2,))
    half = len(SOURCE) // 2
    parts = [(s[..., :half, :], c[..., :half, :], SOURCE[:half])]
    parts.append((s[..., half:, :], c[..., half:, :], SOURCE[half:]))
    sums: dict[int, list[Tensor]] = {0: [], 1: []}

    def recorder(rank: int):
        def reduce_sum(t: Tensor) -> Tensor:
            sums[rank].append(t)
            return t

        return reduce_sum

    for rank, (s_k, c_k, source_k) in enumerate(parts):
        task_cross_covariance(s_k, c_k, source_k, R, recorder(rank))
    totals = [a + b for a, b in zip(sums[0], sums[1], strict=True)]
    calls = {0: 0, 1: 0}

    def all_reduce(rank: int):
        def reduce_sum(t: Tensor) -> Tensor:
            total = totals[calls[rank]]
            calls[rank] += 1
            assert total.shape == t.shape
            return total

        return reduce_sum

    whole = orthogonality_penalty(s, c, SOURCE, R)
    for rank, (s_k, c_k, source_k) in enumerate(parts):
        got = orthogonality_penalty(s_k, c_k, source_k, R, all_reduce(rank))
        torch.testing.assert_close(got, whole, rtol=1e-12, atol=1e-14)
    # and without the reduction a half alone is not the whole
    alone = orthogonality_penalty(*parts[0], R)
    assert not torch.allclose(alone, whole)


def test_refuses_rows_that_do_not_match() -> None:
    s, c = latents(0)
    with pytest.raises(ValueError, match="must have the same rows"):
        orthogonality_penalty(s, c[:-1], SOURCE, R)
    with pytest.raises(ValueError, match="must have the same rows"):
        orthogonality_penalty(s, c, SOURCE[:-1], R)
