"""OrthogonalPooling: options, input, projection, statistics, state and reduction (the refresh
itself is tested in ``test_pooling_refresh``)."""

import io
import threading
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from orthomtl.pooling import OrthogonalPooling, PoolingOptions, statistics_buffer_names


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
    x = torch.randn(20, 4)
    pool = OrthogonalPooling(4, 2)
    pool.accumulate(x)
    assert pool.stat_count.item() == 20
    torch.testing.assert_close(pool.stat_sum, x.double().sum(0))
    torch.testing.assert_close(pool.stat_outer, x.double().T @ x.double())
    before = pool.stat_outer.clone()
    pool.half()
    assert pool.basis.dtype == torch.float16
    assert all(getattr(pool, n).dtype == torch.float64 for n in ("stat_count", "stat_sum"))
    assert torch.equal(pool.stat_outer, before)


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
    deposits: list[Tensor] = [torch.empty(0), torch.empty(0)]
    barrier = threading.Barrier(2)
    calls = [0, 0]

    def make_reduce(index: int) -> Callable[[Tensor], Tensor]:
        def reduce_sum(flat: Tensor) -> Tensor:
            calls[index] += 1
            deposits[index] = flat.clone()
            barrier.wait()
            return deposits[0] + deposits[1]

        return reduce_sum

    threads = [
        threading.Thread(target=rank.refresh, args=(make_reduce(i),))
        for i, rank in enumerate(ranks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1, 1]  # one flattened all-reduce per refresh
    assert torch.equal(ranks[0].basis, ranks[1].basis) and torch.equal(ranks[0].mean, ranks[1].mean)
    torch.testing.assert_close(ranks[0].basis, single.basis, atol=1e-6, rtol=0)
    torch.testing.assert_close(ranks[0].mean, single.mean)
    assert ranks[0].history[-1]["num_samples"] == 600
