"""OrthogonalPooling's exact low-rank refresh: statistics of n ≤ D/2 held rows go through the n×n
Gram matrix (``_eigen.gram_eigh``) and must give the dense path's basis, mean and logs."""

import io
import warnings

import pytest
import torch
from torch import Tensor

from orthomtl.pooling import (
    DegenerateStatisticsError,
    NearEqualEigenvaluesWarning,
    OrthogonalPooling,
    PoolingOptions,
    gram_rows,
    row_capacity,
)
from orthomtl.pooling import _eigen as eigen
from tests.pooling.ranks import refresh_as_two_ranks
from tests.pooling.test_pooling import orthonormal, spectrum_data

TOL = 1e-9


@pytest.fixture
def gram_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The row count of every ``gram_eigh`` call (the Gram path's solver)."""
    calls: list[int] = []
    solve = eigen.gram_eigh

    def counted(centred: Tensor, k: int, degenerate_tol: float) -> eigen.Eigenpairs:
        calls.append(centred.shape[0])
        return solve(centred, k, degenerate_tol)

    monkeypatch.setattr(eigen, "gram_eigh", counted)
    return calls


def refreshed(
    batches: list[Tensor], num_axes: int, previous: Tensor | None = None, **options: object
) -> tuple[OrthogonalPooling, dict[str, float]]:
    """A pooling fed ``batches`` (a few rows at a time, as training does) and refreshed, from the
    basis ``previous`` if given; cast to float64, so its basis keeps the refresh's precision."""
    pool = OrthogonalPooling(batches[0].shape[1], num_axes, PoolingOptions(**options))  # type: ignore[arg-type]
    pool.double()
    if previous is not None:
        pool.basis.copy_(previous)
        pool.initialized.fill_(True)
    for batch in batches:
        for rows in batch.split(5):
            pool.accumulate(rows)
    return pool, pool.refresh()


def assert_same_refresh(
    gram: tuple[OrthogonalPooling, dict[str, float]],
    dense: tuple[OrthogonalPooling, dict[str, float]],
) -> None:
    """Same axes in the same order with the same signs (cos = 1 − O(1e-9), orthonormal), the same
    mean and the same logs to ~1e-9."""
    (pool, log), (reference, reference_log) = gram, dense
    basis, expected = pool.basis.double(), reference.basis.double()
    torch.testing.assert_close(
        basis.T @ basis, torch.eye(basis.shape[1], dtype=torch.float64), atol=TOL, rtol=0
    )
    cos = (basis * expected).sum(0)
    torch.testing.assert_close(cos, torch.ones_like(cos), atol=TOL, rtol=0)
    torch.testing.assert_close(pool.mean, reference.mean, atol=1e-12, rtol=0)
    assert log.keys() == reference_log.keys()
    for key, value in log.items():
        assert value == pytest.approx(reference_log[key], abs=TOL), key


@pytest.mark.parametrize(("dim", "rows", "num_axes"), [(64, 20, 4), (200, 100, 8), (48, 24, 3)])
def test_gram_refresh_equals_the_dense_one(
    gram_calls: list[int], dim: int, rows: int, num_axes: int
) -> None:
    """First refresh (canonical signs) and a later one (aligned to a previous basis): the Gram
    path (``solver="auto"``, n ≤ D/2 rows held) against full eigh of the D×D covariance."""
    x = spectrum_data(rows, dim, seed=dim, decay=0.85).float()
    first = refreshed([x], num_axes)
    assert_same_refresh(first, refreshed([x], num_axes, solver="eigh"))
    later = spectrum_data(rows, dim, seed=dim + 1, decay=0.8)  # other axes, other order
    previous = first[0].basis.clone()
    assert_same_refresh(
        refreshed([later], num_axes, previous),
        refreshed([later], num_axes, previous, solver="eigh"),
    )
    assert gram_calls == [rows, rows]


def test_gram_refresh_equals_warm_started_subspace_iteration(gram_calls: list[int]) -> None:
    """Above ``subspace_threshold`` the dense path iterates (to ``subspace_tol``); the Gram path
    is exact, so both agree to the iteration's tolerance and the Gram path to eigh's."""
    x = spectrum_data(150, 320, seed=3, decay=0.9)
    previous = refreshed([spectrum_data(150, 320, seed=4, decay=0.9)], 5, solver="eigh")[0].basis
    gram = refreshed([x], 5, previous.clone(), subspace_threshold=64)
    assert_same_refresh(gram, refreshed([x], 5, previous.clone(), solver="eigh"))
    subspace = refreshed([x], 5, previous.clone(), solver="subspace", subspace_tol=1e-10)
    assert subspace[1]["solver_iterations"] > 0 == gram[1]["solver_iterations"]
    cos = (gram[0].basis.double() * subspace[0].basis.double()).sum(0)
    assert cos.min() > 1 - 1e-9
    assert gram_calls == [150]


@pytest.mark.parametrize("num_axes", [4, 2])  # a run of equal eigenvalues inside, or straddling
def test_near_equal_runs_are_rotated_as_on_the_dense_path(
    gram_calls: list[int], num_axes: int
) -> None:
    """Variances 9, 5, 5, 5, 1, ... exactly (rows ±a_i q_i): λ1 = λ2 = λ3 is inside the top 4 and
    straddles the top 2, so ``gram_eigh`` must hand ``align`` the whole run (4 pairs, not 2), and
    both paths rotate it towards the previous basis."""
    dim, variances = 40, torch.tensor([9.0, 5.0, 5.0, 5.0, 1.0, 0.5], dtype=torch.float64)
    axes = orthonormal(dim, 6, seed=21)
    half = torch.diag(variances.sqrt()) @ axes.T  # rows ±√λ_i q_i: Σ = Q diag(λ) Qᵀ exactly
    x = torch.cat([half, -half]) * (6**0.5) + 0.5  # n = 12 rows, mean 0.5
    previous = torch.linalg.qr(axes[:, :num_axes] + 0.2 * orthonormal(dim, num_axes, 22)).Q
    with pytest.warns(NearEqualEigenvaluesWarning, match="λ1=5, λ2=5, λ3=5"):
        gram = refreshed([x], num_axes, previous.clone())
    with pytest.warns(NearEqualEigenvaluesWarning, match="λ1=5, λ2=5, λ3=5"):
        dense = refreshed([x], num_axes, previous.clone(), solver="eigh")
    assert_same_refresh(gram, dense)
    pairs = eigen.gram_eigh(x.double() - x.double().mean(0), num_axes, 1e-3)
    assert pairs.values.shape == (4,) and pairs.vectors.shape == (dim, 4)
    assert gram_calls == [12, 12]


def test_more_rows_than_half_of_d_fall_back_to_the_dense_path(gram_calls: list[int]) -> None:
    dim = 64
    just_below = spectrum_data(gram_rows(dim), dim, seed=5)
    assert_same_refresh(refreshed([just_below], 3), refreshed([just_below], 3, solver="eigh"))
    assert gram_calls == [gram_rows(dim)]
    for rows in (gram_rows(dim) + 1, dim + 10):
        x = spectrum_data(rows, dim, seed=rows)
        pool, log = refreshed([x], 3)
        reference, reference_log = refreshed([x], 3, solver="eigh")
        assert torch.equal(pool.basis, reference.basis) and log == reference_log
    assert gram_calls == [gram_rows(dim)]  # both fell back
    capacity = row_capacity(2048)
    assert gram_rows(2048) == capacity == 1024 and row_capacity(64) == 256


def test_flushed_reduced_or_loaded_rows_go_the_dense_way(gram_calls: list[int]) -> None:
    """The Gram path needs the rows to be the whole sample: after a flush, a reduction over two
    processes or a loaded fᵀf, the refresh is dense (and still right)."""
    x = spectrum_data(20, 64, seed=6)
    pool = OrthogonalPooling(64, 3).double()
    pool.accumulate(x[:12])
    pool.flush_statistics()
    pool.accumulate(x[12:])
    reference = refreshed([x], 3, solver="eigh")
    assert_same_refresh((pool, pool.refresh()), reference)
    pool.accumulate(x)
    pool.reduce_statistics(lambda t: 2 * t)  # two processes with the same rows
    assert pool.stat_count.item() == 40 and pool._pending_rows == 0
    previous = pool.basis.clone()
    assert_same_refresh((pool, pool.refresh()), refreshed([x, x], 3, previous, solver="eigh"))
    assert gram_calls == []
    pool.accumulate(x)
    pool.refresh(lambda t: t)  # one process: the rows stay held
    assert gram_calls == [20]


def test_gram_rank_and_sample_checks(gram_calls: list[int]) -> None:
    pool = OrthogonalPooling(64, 4)
    pool.accumulate(torch.randn(4, 64))  # 3 directions, 4 axes
    with pytest.raises(DegenerateStatisticsError, match=r"from 4 samples has rank 3, fewer than "):
        pool.refresh()
    pool.reset_statistics()
    pool.accumulate(torch.full((10, 64), 2.0))
    with pytest.raises(DegenerateStatisticsError, match=r"rank 0"):
        pool.refresh()
    pool.reset_statistics()
    pool.accumulate(torch.randn(1, 64))
    with pytest.raises(DegenerateStatisticsError, match="at least 2 samples, got 1"):
        pool.refresh()
    pool.stat_sum[0] = float("nan")
    pool.accumulate(torch.randn(5, 64))
    with pytest.raises(DegenerateStatisticsError, match="not finite"):
        pool.refresh()
    pool.reset_statistics()
    pool.accumulate(torch.randn(10, 64))
    pool.stat_outer[0, 0] = float("inf")  # written directly: the rows are no longer the sample
    with pytest.raises(DegenerateStatisticsError, match="not finite"):
        pool.refresh()
    assert gram_calls == [4, 10]
    assert not bool(pool.initialized)


def test_checkpoint_with_held_rows_resumes_bit_for_bit(gram_calls: list[int]) -> None:
    """The waiting rows are saved (extra state), so the resumed refresh is the Gram one too."""
    batches = spectrum_data(40, 96, seed=7).float().split(4)
    straight = refreshed([spectrum_data(30, 96, seed=8)], 3)[0]
    buffer = io.BytesIO()
    torch.save(straight.state_dict(), buffer)
    interrupted = OrthogonalPooling(96, 3).double()
    buffer.seek(0)
    interrupted.load_state_dict(torch.load(buffer, weights_only=True))
    for batch in batches[:6]:
        straight.accumulate(batch)
        interrupted.accumulate(batch)
    buffer = io.BytesIO()
    torch.save(interrupted.state_dict(), buffer)
    buffer.seek(0)
    resumed = OrthogonalPooling(96, 3).double()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed._pending_rows == 24 and not resumed.stat_outer.any()
    for batch in batches[6:]:
        straight.accumulate(batch)
        resumed.accumulate(batch)
    assert straight.refresh() == resumed.refresh()
    assert torch.equal(straight.basis, resumed.basis) and torch.equal(straight.mean, resumed.mean)
    assert gram_calls == [30, 40, 40]


def test_two_simulated_ranks_sum_their_rows(gram_calls: list[int]) -> None:
    """Under DDP the rows are flushed and the dense sums all-reduced: the same basis as one
    process holding all the rows (which takes the Gram path)."""
    x = spectrum_data(30, 80, seed=9)
    single = refreshed([x], 4)
    ranks = [OrthogonalPooling(80, 4).double(), OrthogonalPooling(80, 4).double()]
    for rank, part in zip(ranks, (x[:11], x[11:]), strict=True):
        rank.accumulate(part)
    refresh_as_two_ranks(ranks)
    assert torch.equal(ranks[0].basis, ranks[1].basis)
    assert_same_refresh((ranks[0], ranks[0].history[-1]), single)
    assert gram_calls == [30]


def test_a_wrongly_scaled_gram_solver_fails_the_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison detects a broken Gram path: v = Xcᵀu/√λ (missing the 1/√n) is parallel to
    the right axis, only not unit, and is caught."""
    x = spectrum_data(20, 64, seed=10)
    dense = refreshed([x], 3, solver="eigh")
    solve = eigen.gram_eigh

    def unscaled(centred: Tensor, k: int, degenerate_tol: float) -> eigen.Eigenpairs:
        pairs = solve(centred, k, degenerate_tol)
        return eigen.Eigenpairs(
            pairs.values, pairs.vectors * centred.shape[0] ** 0.5, 0, converged=True
        )

    monkeypatch.setattr(eigen, "gram_eigh", unscaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broken = refreshed([x], 3)
    with pytest.raises(AssertionError):
        assert_same_refresh(broken, dense)
