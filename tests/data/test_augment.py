"""Counter-based random draws and salt-and-pepper noise (``orthomtl.data._augment``)."""

import numpy as np
import pytest
import torch

from orthomtl.data._augment import (
    SaltAndPepper,
    check_noise,
    random_bits,
    random_uniform,
    salt_and_pepper,
    salt_and_pepper_tensor,
    stream_key,
)

GREY = 0.5


def grey(n: int, channels: int = 3, size: int = 16, dtype: type = np.float32) -> np.ndarray:
    return np.full((n, channels, size, size), GREY, dtype=dtype)


def noisy(fraction: float, keys: np.ndarray, size: int = 16, **stream) -> np.ndarray:
    options = {"seed": 0, "epoch": 0, "fixed": False} | stream
    return salt_and_pepper(grey(len(keys), size=size), fraction, index=keys, **options)


# --- counter-based draws -------------------------------------------------------------------------


def test_draws_are_independent_of_the_batch_composition() -> None:
    counters = np.arange(5_000)
    u = random_uniform(counters, seed=3, epoch=2, fixed=False)
    order = np.random.default_rng(0).permutation(5_000)[:700]
    np.testing.assert_array_equal(random_uniform(order, seed=3, epoch=2, fixed=False), u[order])
    grid = random_bits(counters.reshape(50, 100), seed=3, epoch=2, fixed=False)
    assert grid.shape == (50, 100) and grid.dtype == np.uint64
    np.testing.assert_array_equal(grid.ravel(), random_bits(counters, seed=3, epoch=2, fixed=False))


def test_uniform_values_are_uniform() -> None:
    u = random_uniform(np.arange(200_000), seed=0, epoch=0, fixed=False)
    assert u.dtype == np.float64 and u.min() >= 0 and u.max() < 1
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    assert np.abs(counts / len(u) - 0.05).max() < 0.002
    bits = random_bits(np.arange(100_000), seed=0, epoch=0, fixed=False)
    ones = (bits[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    assert np.abs(ones.mean(axis=0) - 0.5).max() < 0.01  # every bit is balanced


def test_streams_differ_by_seed_epoch_and_fixedness() -> None:
    counters = np.arange(1_000)

    def draw(seed: int, epoch: int, fixed: bool) -> np.ndarray:
        return random_uniform(counters, seed=seed, epoch=epoch, fixed=fixed)

    base = draw(0, 0, False)
    for other in (draw(1, 0, False), draw(0, 1, False), draw(0, 0, True), draw(1, 0, True)):
        assert np.abs(other - base).min() > 0 and abs(np.corrcoef(other, base)[0, 1]) < 0.1
    np.testing.assert_array_equal(draw(0, 0, True), draw(0, 9, True))  # fixed ignores the epoch
    np.testing.assert_array_equal(draw(-1, 0, False), draw(2**64 - 1, 0, False))
    keys = {stream_key(seed, epoch, False) for seed in range(20) for epoch in range(20)}
    keys |= {stream_key(seed, epoch, True) for seed in range(20) for epoch in range(3)}
    assert len(keys) == 20 * 20 + 20  # per-epoch streams and fixed streams never coincide


# --- salt-and-pepper -----------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 0.95])
def test_noise_fraction_and_black_white_balance(fraction: float) -> None:
    x = noisy(fraction, np.arange(200), size=32)
    black, white = (x == 0).all(axis=1), (x == 1).all(axis=1)
    kept = (x == GREY).all(axis=1)
    assert np.all(black | white | kept)  # every channel of a pixel is replaced together
    assert abs((black | white).mean() - fraction) < 0.005
    assert abs(black.mean() - white.mean()) < 0.005


def test_noise_is_a_pure_function_of_seed_epoch_key() -> None:
    keys = np.array([5, 0, 123_456, 7])
    x = noisy(0.3, keys)
    order = [2, 3, 0]
    np.testing.assert_array_equal(noisy(0.3, keys[order]), x[order])  # batch-independent
    np.testing.assert_array_equal(noisy(0.3, np.array([5, 5])), x[[0, 0]])
    assert not np.array_equal(x[0], x[1])  # each key has its own noise
    assert not np.array_equal(noisy(0.3, keys, seed=1), x)
    assert not np.array_equal(noisy(0.3, keys, epoch=1), x)
    fixed = noisy(0.3, keys, fixed=True)
    assert not np.array_equal(fixed, x)
    np.testing.assert_array_equal(noisy(0.3, keys, epoch=4, fixed=True), fixed)
    assert not np.array_equal(noisy(0.3, keys, seed=1, fixed=True), fixed)


def test_noise_on_odd_sizes_float64_and_tensors() -> None:
    odd = noisy(0.5, np.arange(3), size=5)  # 25 pixels, not a multiple of four per hash
    assert ((odd == 0) | (odd == 1)).mean() > 0.3
    wide = salt_and_pepper(
        grey(3, size=5, dtype=np.float64), 0.5, seed=0, epoch=0, index=np.arange(3)
    )
    assert wide.dtype == np.float64 and np.array_equal(wide, odd)
    tensor = torch.from_numpy(grey(3, size=5))
    out = salt_and_pepper_tensor(tensor, 0.5, seed=0, epoch=0, index=np.arange(3))
    assert out is tensor and np.array_equal(tensor.numpy(), odd)
    clean = grey(2)
    assert np.array_equal(salt_and_pepper(clean, 0.0, seed=0, epoch=0, index=np.arange(2)), grey(2))


def test_transform_keys_by_index_and_keeps_eval_noise_fixed() -> None:
    indices = np.array([4, 1, 9])
    train, evaluation = SaltAndPepper(0.2, seed=3, fixed=False), SaltAndPepper(0.2, 0, fixed=True)
    x, extra = train(torch.from_numpy(grey(3)), indices, 2)
    assert extra == {} and x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), noisy(0.2, indices, seed=3, epoch=2))
    first = evaluation(torch.from_numpy(grey(3)), indices, 0)[0]
    assert torch.equal(evaluation(torch.from_numpy(grey(3)), indices, 5)[0], first)
    assert not torch.equal(train(torch.from_numpy(grey(3)), indices, 3)[0], x)


@pytest.mark.parametrize("amount", [1.0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_noise_amount_is_checked(amount: object) -> None:
    message = r"data\.noise must be a fraction of pixels in \[0, 1\)"
    with pytest.raises(ValueError, match=f"shapes3d: {message}"):
        check_noise(amount, "shapes3d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        SaltAndPepper(amount, seed=0, fixed=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        noisy(amount, np.arange(2))  # type: ignore[arg-type]
    assert check_noise(0) == 0.0 and isinstance(check_noise(0), float)


def test_salt_and_pepper_rejects_bad_images() -> None:
    keys = np.arange(2)
    with pytest.raises(ValueError, match="floating-point images"):
        salt_and_pepper(np.zeros((2, 3, 4, 4), np.uint8), 0.1, seed=0, epoch=0, index=keys)
    with pytest.raises(ValueError, match=r"keys of shape \(3,\)"):
        salt_and_pepper(grey(2), 0.1, seed=0, epoch=0, index=np.arange(3))
    frozen = grey(2)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        salt_and_pepper(frozen, 0.1, seed=0, epoch=0, index=keys)
