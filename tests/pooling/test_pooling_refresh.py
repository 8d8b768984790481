"""OrthogonalPooling.refresh: basis and alignment, solvers, schedules, degenerate input."""

import warnings

import pytest
import torch
from torch import Tensor

from orthomtl.pooling import (
    DegenerateStatisticsError,
    NearEqualEigenvaluesWarning,
    OrthogonalPooling,
    PoolingOptions,
)
from orthomtl.pooling import _eigen as eigen
from tests.pooling.test_pooling import fitted, orthonormal, spectrum_data


def set_statistics(pool: OrthogonalPooling, cov: Tensor, mean: Tensor, count: float) -> None:
    """Statistics whose covariance and mean are exactly ``cov`` and ``mean``."""
    pool.stat_count.fill_(count)
    pool.stat_sum.copy_(count * mean)
    pool.stat_outer.copy_(count * (cov + torch.outer(mean, mean)))


def set_basis(pool: OrthogonalPooling, basis: Tensor) -> None:
    pool.basis.copy_(basis)
    pool.initialized.fill_(True)


def raw_top(x: Tensor, k: int) -> Tensor:
    return torch.linalg.eigh(torch.cov(x.T, correction=0))[1].flip(1)[:, :k]


# --- basis and alignment -----------------------------------------------------------------------
def test_basis_is_orthonormal_and_first_refresh_is_canonical() -> None:
    x = spectrum_data(400, 12, seed=1)
    pool = fitted(x, 4)
    basis = pool.basis.double()
    torch.testing.assert_close(
        basis.T @ basis, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0
    )
    rows = basis.abs().argmax(0)
    assert (basis[rows, torch.arange(4)] > 0).all()
    explained = [pool.history[-1][f"axis{m}/explained_variance_ratio"] for m in range(4)]
    assert explained == sorted(explained, reverse=True)


@pytest.mark.parametrize("seed", range(6))
def test_aligned_basis_is_a_signed_permutation_of_the_raw_eigenvectors(seed: int) -> None:
    dim, k = 10, 4
    pool = fitted(spectrum_data(300, dim, seed=seed), k)
    x = spectrum_data(300, dim, seed=seed + 100, decay=0.7)  # other axes, other order
    pool.accumulate(x)
    pool.refresh()
    overlap = raw_top(x, k).T @ pool.basis.double()
    assert torch.allclose(overlap.abs().sum(0), torch.ones(k, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(overlap.abs().sum(1), torch.ones(k, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(
        overlap.abs().max(0).values, torch.ones(k, dtype=torch.float64), atol=1e-5
    )


def test_alignment_undoes_permutation_and_sign_flips() -> None:
    dim, k = 16, 4
    truth = orthonormal(dim, k, seed=3)
    rest = torch.linalg.qr(torch.cat([truth, orthonormal(dim, dim - k, 4)], 1)).Q[:, k:]
    pool = OrthogonalPooling(dim, k)
    set_basis(pool, truth)
    variances = torch.tensor([1.0, 4.0, 2.0, 8.0], dtype=torch.float64)  # order → [3, 1, 2, 0]
    flipped = truth * torch.tensor([-1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    noise = torch.randn(dim, dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    cov = (
        flipped @ torch.diag(variances) @ flipped.T
        + 0.01 * rest @ rest.T
        + 1e-4 * (noise + noise.T)
    )
    set_statistics(pool, cov, torch.zeros(dim, dtype=torch.float64), 1000.0)
    raw = eigen.full_eigh(cov).vectors[:, :k]
    assert not torch.allclose(raw.abs(), truth.abs(), atol=0.1)  # the raw order differs
    log = pool.refresh()
    torch.testing.assert_close(pool.basis.double(), truth, atol=1e-3, rtol=0)
    assert min(log[f"axis{m}/cos_prev"] for m in range(k)) > 0.999
    explained = [log[f"axis{m}/explained_variance_ratio"] * cov.trace() for m in range(k)]
    torch.testing.assert_close(torch.stack(explained), variances, atol=1e-3, rtol=0)


# --- solvers -----------------------------------------------------------------------------------
def test_subspace_solver_agrees_with_eigh_and_warm_start_helps() -> None:
    dim, k = 96, 6
    x = spectrum_data(2000, dim, seed=11, decay=0.9)
    exact = fitted(x, k, solver="eigh")
    auto = fitted(x, k, subspace_threshold=32)  # D > threshold → subspace iteration
    assert exact.history[-1]["solver_iterations"] == 0 < auto.history[-1]["solver_iterations"]
    cos = (exact.basis * auto.basis).sum(0)
    assert cos.min() >= 0.999  # same axes, same order, same signs
    cov = torch.cov(x.T, correction=0)
    cold = eigen.subspace_eigh(cov, k, start=None, max_iters=500, tol=1e-6, floor=0.0, seed=0)
    warm = eigen.subspace_eigh(
        cov, k, start=exact.basis.double(), max_iters=500, tol=1e-6, floor=0.0, seed=0
    )
    assert cold.converged and warm.converged and warm.iterations < cold.iterations


def test_unconverged_subspace_iteration_falls_back_to_eigh() -> None:
    x = spectrum_data(400, 40, seed=12, decay=0.95)
    exact = fitted(x, 4, solver="eigh")
    with pytest.warns(RuntimeWarning, match="did not converge in 1 iterations"):
        rushed = fitted(x, 4, solver="subspace", subspace_iters=1)
    torch.testing.assert_close(rushed.basis, exact.basis)


# --- schedules ---------------------------------------------------------------------------------
def test_refresh_schedules() -> None:
    x = spectrum_data(50, 6, seed=13)
    every_epoch = OrthogonalPooling(6, 2)
    steps = OrthogonalPooling(6, 2, PoolingOptions(refresh="steps", refresh_every_steps=10))
    frozen = OrthogonalPooling(6, 2, PoolingOptions(refresh="frozen", freeze_after_epoch=2))
    for pool in (every_epoch, steps, frozen):
        assert pool.should_refresh(0, 0, epoch_start=False)  # no basis yet
        pool.accumulate(x)
        pool.refresh()
    assert every_epoch.should_refresh(3, 120, epoch_start=True)
    assert not every_epoch.should_refresh(3, 125, epoch_start=False)
    assert [s for s in range(35) if steps.should_refresh(0, s, epoch_start=s == 0)] == [10, 20, 30]
    assert [e for e in range(5) if frozen.should_refresh(e, 10 * e, epoch_start=True)] == [0, 1, 2]
    assert not frozen.should_refresh(1, 15, epoch_start=False)


@pytest.mark.parametrize("every", [4, 5])  # divides the 12 steps per epoch, and does not
def test_steps_schedule_refreshes_after_steps_and_never_at_an_epoch_start(every: int) -> None:
    """Drives the pooling as ``DomainExpansion`` does: at each epoch start a refresh if asked
    (``epoch_start=True``), after each optimisation step a refresh if asked. A refresh at the epoch
    start right after a step's refresh would find no statistics."""
    options = PoolingOptions(refresh="steps", refresh_every_steps=every, cov_fraction=1.0)
    pool = OrthogonalPooling(6, 2, options)
    batches = spectrum_data(36 * 8, 6, seed=17).float().split(8)
    pool.accumulate(batches[0])
    pool.refresh()
    refreshed, step = [], 0
    for epoch in range(3):
        assert not pool.should_refresh(epoch, step, epoch_start=True)
        for batch in batches[12 * epoch : 12 * (epoch + 1)]:
            pool(batch)
            step += 1
            if pool.should_refresh(epoch, step, epoch_start=False):
                pool.refresh()
                refreshed.append(step)
    assert refreshed == list(range(every, 37, every))
    assert [h["num_samples"] for h in pool.history[1:]] == [8.0 * every] * len(refreshed)


# --- degenerate input --------------------------------------------------------------------------
def test_rank_below_num_axes_names_samples_and_rank() -> None:
    pool = OrthogonalPooling(16, 4)
    pool.accumulate(torch.randn(3, 16))
    with pytest.raises(DegenerateStatisticsError, match=r"from 3 samples has rank 2, fewer than "):
        pool.refresh()
    constant = OrthogonalPooling(16, 4, PoolingOptions(solver="subspace"))
    constant.accumulate(torch.full((50, 16), 3.0))
    with pytest.raises(DegenerateStatisticsError, match=r"rank 0.*raise cov_fraction"):
        constant.refresh()
    assert not bool(constant.initialized)


@pytest.mark.parametrize("solver", ["eigh", "subspace"])
def test_fewer_samples_than_dimensions_but_enough_rank(solver: str) -> None:
    x = torch.randn(10, 32, dtype=torch.float64)
    pool = fitted(x, 4, solver=solver)
    basis = pool.basis.double()
    torch.testing.assert_close(
        basis.T @ basis, torch.eye(4, dtype=torch.float64), atol=1e-6, rtol=0
    )
    centred = x - x.mean(0)
    span = torch.linalg.qr(centred.T).Q  # 32 × 10, contains the 9-dimensional data span
    outside = basis - span @ (span.T @ basis)
    assert outside.abs().max() < 1e-5


def test_isotropic_data_keep_the_previous_basis_and_warn() -> None:
    dim, k = 8, 3
    pool = fitted(spectrum_data(200, dim, seed=14), k)
    previous = pool.basis.clone()
    rotation = orthonormal(dim, dim, seed=15)
    isotropic = dim**0.5 * torch.cat([rotation, -rotation]) + 1.0  # covariance exactly I
    pool.accumulate(isotropic)
    with pytest.warns(NearEqualEigenvaluesWarning, match=r"λ0=1, λ1=1.*λ7=1"):
        log = pool.refresh()
    torch.testing.assert_close(pool.basis, previous, atol=1e-6, rtol=0)
    assert min(log[f"axis{m}/cos_prev"] for m in range(k)) > 1 - 1e-6


def test_near_equal_group_inside_the_top_axes_rotates_towards_previous() -> None:
    dim, k = 10, 4
    truth = orthonormal(dim, dim, seed=16)
    pool = OrthogonalPooling(dim, k)
    set_basis(pool, truth[:, :k])
    variances = torch.tensor([9.0, 5.0, 5.0, 5.0, 1.0] + [0.5] * 5, dtype=torch.float64)
    cov = truth @ torch.diag(variances) @ truth.T
    set_statistics(pool, cov, torch.zeros(dim, dtype=torch.float64), 100.0)
    with pytest.warns(NearEqualEigenvaluesWarning, match="λ1=5, λ2=5, λ3=5"):
        pool.refresh()
    torch.testing.assert_close(pool.basis.double(), truth[:, :k], atol=1e-6, rtol=0)


def test_too_few_samples_and_non_finite_statistics() -> None:
    pool = OrthogonalPooling(4, 1)
    with pytest.raises(DegenerateStatisticsError, match="at least 2 samples, got 0"):
        pool.refresh()
    pool.accumulate(torch.randn(1, 4))
    with pytest.raises(DegenerateStatisticsError, match="at least 2 samples, got 1"):
        pool.refresh()
    pool.accumulate(torch.randn(5, 4))
    pool.stat_outer[0, 0] = float("inf")
    with pytest.raises(DegenerateStatisticsError, match="not finite"):
        pool.refresh()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool.reset_statistics()
    assert pool.stat_count.item() == 0
