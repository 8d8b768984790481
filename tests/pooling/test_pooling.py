"""OrthogonalPooling: options, input, projection, statistics, state and reduction (the refresh
itself is tested in ``test_pooling_refresh``)."""

import copy
import io

import pytest
import torch
from torch import Tensor

from orthomtl.pooling import (
    PENDING_ROWS,
    OrthogonalPooling,
    PoolingOptions,
    statistics_buffer_names,
)
from orthomtl.pooling._statistics import STATISTICS
from tests.pooling.ranks import refresh_as_two_ranks


def orthonormal(rows: int, cols: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(rows, cols, generator=gen, dtype=torch.float64)).Q


def spectrum_data(n: int, dim: int, seed: int, decay: float = 0.8) -> Tensor:
    """Gaussian features with distinct, geometrically decaying variances and a mean offset."""
    gen = torch.Generator().manual_seed(seed)
    scales = decay ** torch.arange(dim, dtype=torch.float64)
    mixing = orthonormal(dim, dim, seed + 1) * scales
    return torch.randn(n, dim, generator=gen, dtype=torch.float64) @ mixing.T + 2.0


def fitted(x: Tensor, num_axes: int, **options: object) -> OrthogonalPooling:
    pool = OrthogonalPooling(x.shape[1], num_axes, PoolingOptions(**options))  # type: ignore[arg-type]
    pool.accumulate(x)
    pool.refresh()
    return pool


# --- construction and input --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dim": 0}, "dim"),
        ({"num_axes": 0}, "num_axes"),
        ({"num_axes": 2.0}, "num_axes"),
        ({"cov_fraction": 0.0}, "cov_fraction"),
        ({"cov_fraction": 1.5}, "cov_fraction"),
        ({"cov_fraction": float("nan")}, "cov_fraction"),
        ({"refresh": "sometimes"}, "refresh"),
        ({"refresh": "steps"}, "refresh_every_steps"),
        ({"refresh_every_steps": 5}, "refresh_every_steps"),
        ({"refresh": "steps", "refresh_every_steps": 0}, "refresh_every_steps"),
        ({"refresh": "frozen"}, "freeze_after_epoch"),
        ({"refresh": "frozen", "freeze_after_epoch": -1}, "freeze_after_epoch"),
        ({"solver": "lanczos"}, "solver"),
        ({"subspace_threshold": 0}, "subspace_threshold"),
        ({"subspace_iters": 0}, "subspace_iters"),
        ({"subspace_tol": 0.0}, "subspace_tol"),
        ({"eps": -1e-3}, "eps"),
        ({"degenerate_tol": 1.0}, "degenerate_tol"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_bad_options_name_the_option(options: dict, named: str) -> None:
    sizes = {"dim": options.pop("dim", 8), "num_axes": options.pop("num_axes", 2)}
    with pytest.raises(ValueError, match=named):
        OrthogonalPooling(**sizes, options=PoolingOptions(**options))


def test_more_axes_than_dimensions_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"num_axes \(M\) cannot exceed the latent dimension D"):
        OrthogonalPooling(4, 5)


def test_forward_before_refresh_and_bad_features() -> None:
    pool = OrthogonalPooling(6, 2)
    with pytest.raises(RuntimeError, match="no basis yet: call refresh"):
        pool(torch.randn(3, 6))
    pool.accumulate(spectrum_data(50, 6, seed=0).float())
    pool.refresh()
    for bad, message in [
        (torch.randn(3, 5), r"shape \(B, 6\)"),
        (torch.randn(6), r"shape \(B, 6\)"),
        (torch.ones(3, 6, dtype=torch.int64), "floating-point"),
        (torch.full((3, 6), float("nan")), "non-finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            pool(bad)
        with pytest.raises(ValueError, match=message):
            pool.accumulate(bad)


# --- projection --------------------------------------------------------------------------------
def test_coefficients_are_centred_and_uncorrelated_on_the_statistics_sample() -> None:
    x = spectrum_data(500, 12, seed=5).float()
    pool = fitted(x, 5).eval()
    c = pool(x).double()
    assert c.mean(0).abs().max() < 1e-4 * c.std(0).min()
    cov = torch.cov(c.T)
    off = cov - torch.diag(cov.diagonal())
    assert off.abs().max() < 1e-5 * cov.diagonal().max()


def test_gradients_reach_features_but_not_mean_or_basis() -> None:
    pool = fitted(spectrum_data(100, 8, seed=6).float(), 3)
    f = torch.randn(5, 8, requires_grad=True)
    c, projections = pool(f, return_projections=True)
    assert c.shape == (5, 3) and projections.shape == (5, 3, 8)
    torch.testing.assert_close(projections.sum(1), (f - pool.mean) @ pool.basis @ pool.basis.T)
    (c.square().sum() + projections.sum()).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert not pool.mean.requires_grad and not pool.basis.requires_grad
    assert pool.mean.grad is None and pool.basis.grad is None
    assert list(pool.parameters()) == []


# --- statistics, state and reduction -----------------------------------------------------------
def test_statistics_are_float64_sums_and_survive_a_cast() -> None:
    x, y = torch.randn(20, 4), torch.randn(7, 4)
    pool = OrthogonalPooling(4, 2)
    pool.accumulate(x)
    assert pool.stat_count.item() == 20
    torch.testing.assert_close(pool.stat_sum, x.double().sum(0))
    assert not pool.stat_outer.any()  # the rows wait for one product with later ones
    pool.flush_statistics()
    torch.testing.assert_close(pool.stat_outer, x.double().T @ x.double())
    pool.accumulate(y)
    pool.half()  # the waiting rows stay float64 and waiting; the rest is cast
    assert pool.basis.dtype == torch.float16
    assert all(getattr(pool, n).dtype == torch.float64 for n in STATISTICS)
    assert pool._pending_rows == 7
    assert pool._pending is not None and pool._pending.dtype == torch.float64
    pool.flush_statistics()
    both = torch.cat([x, y]).double()
    torch.testing.assert_close(pool.stat_outer, both.T @ both)
    pool.accumulate(x.half())  # float16 rows into the float64 buffer
    pool.flush_statistics()
    assert pool.stat_count.item() == 47


def per_step_statistics(batches: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """The statistics as a float64 update per batch computes them (the path before buffering)."""
    dim = batches[0].shape[1]
    count = torch.zeros((), dtype=torch.float64)
    total = torch.zeros(dim, dtype=torch.float64)
    outer = torch.zeros(dim, dim, dtype=torch.float64)
    for batch in batches:
        rows = batch.double()
        count += rows.shape[0]
        total += rows.sum(0)
        outer.addmm_(rows.T, rows)
    return count, total, outer


def test_buffered_statistics_equal_the_per_step_float64_sums() -> None:
    """Training-sized shares (a few rows), batches that overflow the buffer and batches larger
    than it, over many steps: the count and Σf are the per-step ones bit for bit, fᵀf to float64
    rounding, and the buffer never grows."""
    gen = torch.Generator().manual_seed(18)
    sizes = [int(s) for s in torch.randint(0, 14, (400,), generator=gen)]
    sizes[50:53] = [PENDING_ROWS - 3, 9, PENDING_ROWS + 40]  # row_capacity(24) = PENDING_ROWS
    batches = [3 * torch.randn(n, 24, generator=gen) + 1 for n in sizes]
    pool = OrthogonalPooling(24, 3)
    for batch in batches:
        pool.accumulate(batch)
        assert pool._pending_rows <= PENDING_ROWS
    assert pool._pending is not None and pool._pending.shape == (PENDING_ROWS, 24)
    assert pool._pending_rows > 0  # some rows still wait: the flush below adds them
    pool.flush_statistics()
    count, total, outer = per_step_statistics(batches)
    assert torch.equal(pool.stat_count, count) and torch.equal(pool.stat_sum, total)
    torch.testing.assert_close(pool.stat_outer, outer, rtol=1e-12, atol=0)


def test_waiting_rows_enter_state_dicts_reductions_and_refreshes() -> None:
    x = spectrum_data(100, 6, seed=19).float()
    early, late = x[:60], x[60:]
    expected = per_step_statistics([early, late])
    pool = fitted(early, 2)  # refreshed: statistics empty
    pool.accumulate(late)
    state = copy.deepcopy(pool.state_dict())  # a state dict shares the buffers' storage
    assert pool._pending_rows == 40  # saving keeps the rows waiting, and saves them
    assert not state["stat_outer"].any()
    assert torch.equal(state["_extra_state"]["waiting_rows"], late.double())
    pool.accumulate(early)
    flat: list[Tensor] = []
    pool.reduce_statistics(lambda t: flat.append(t.clone()) or t)  # one process
    assert [t.tolist() for t in flat] == [[1.0]] and pool._pending_rows == 100  # nothing to sum
    pool.reduce_statistics(lambda t: flat.append(t.clone()) or 2 * t)  # two identical processes
    assert pool._pending_rows == 0 and pool.stat_count.item() == 200
    torch.testing.assert_close(flat[-1][-36:].view(6, 6), expected[2], rtol=1e-12, atol=0)
    torch.testing.assert_close(pool.stat_outer, 2 * expected[2], rtol=1e-12, atol=0)
    pool.accumulate(x)
    pool.reset_statistics()  # drops the waiting rows too
    pool.flush_statistics()
    assert not any(getattr(pool, name).any() for name in STATISTICS)
    pool.accumulate(early)
    pool.load_state_dict(state)  # the loaded statistics and rows replace the waiting rows
    assert pool._pending_rows == 40 and pool.stat_count.item() == 40
    resumed = fitted(early, 2)
    resumed.accumulate(late)
    assert pool.refresh() == resumed.refresh()  # refresh() adds the waiting rows first


@pytest.mark.parametrize("fraction", [0.25, 1.0])
def test_training_forward_accumulates_a_cov_fraction_share_of_rows(fraction: float) -> None:
    pool = fitted(spectrum_data(100, 8, seed=7).float(), 2, cov_fraction=fraction)
    batches = [torch.randn(64, 8) for _ in range(50)]
    for batch in batches:
        pool(batch)
    expected = fraction * 64 * 50
    if fraction == 1.0:
        assert pool.stat_count.item() == expected
        torch.testing.assert_close(pool.stat_sum, torch.cat(batches).double().sum(0))
    else:
        assert abs(pool.stat_count.item() - expected) < 5 * (expected * (1 - fraction)) ** 0.5
    count = pool.stat_count.item()
    pool.eval()(batches[0])
    pool.train().collect = False
    pool(batches[0])
    assert pool.stat_count.item() == count  # neither evaluation nor collect=False accumulates


def test_statistics_buffer_names_for_ddp() -> None:
    root = torch.nn.Sequential(torch.nn.Linear(3, 4), OrthogonalPooling(4, 2))
    names = statistics_buffer_names(root)
    assert names == ["1.stat_count", "1.stat_sum", "1.stat_outer"]
    assert set(names) <= set(dict(root.named_buffers()))


def test_checkpoint_mid_accumulation_resumes_exactly() -> None:
    x = spectrum_data(100, 10, seed=8).float()
    batches = [b.float() for b in spectrum_data(320, 10, seed=9, decay=0.75).split(32)]
    straight = fitted(x, 3, cov_fraction=0.3, seed=4)
    interrupted = fitted(x, 3, cov_fraction=0.3, seed=4)
    for batch in batches[:5]:
        straight(batch)
        interrupted(batch)
    buffer = io.BytesIO()
    torch.save(interrupted.state_dict(), buffer)
    buffer.seek(0)
    resumed = OrthogonalPooling(10, 3, PoolingOptions(cov_fraction=0.3, seed=4))
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for batch in batches[5:]:
        straight(batch)
        resumed(batch)
    assert straight.refresh() == resumed.refresh()
    for name, value in straight.state_dict().items():
        if name != "_extra_state":
            assert torch.equal(value, resumed.state_dict()[name]), name
    assert resumed.history == straight.history and len(resumed.history) == 2


def test_reduce_sum_over_two_simulated_ranks_matches_one_process() -> None:
    x = spectrum_data(600, 12, seed=10)
    single = fitted(x, 4)
    ranks = [OrthogonalPooling(12, 4), OrthogonalPooling(12, 4)]
    for rank, half in zip(ranks, x.chunk(2), strict=True):
        rank.accumulate(half)
    calls = refresh_as_two_ranks(ranks)
    assert calls == [2, 2]  # per refresh: the process count, then the flattened statistics
    assert torch.equal(ranks[0].basis, ranks[1].basis) and torch.equal(ranks[0].mean, ranks[1].mean)
    torch.testing.assert_close(ranks[0].basis, single.basis, atol=1e-6, rtol=0)
    torch.testing.assert_close(ranks[0].mean, single.mean)
    assert ranks[0].history[-1]["num_samples"] == 600
