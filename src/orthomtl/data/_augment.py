"""Counter-based random draws for augmentations, and salt-and-pepper noise built on them.

Every augmentation draw is a pure function of ``(seed, epoch, counter)``: the counter (a dataset
index, or a position within one sample) is hashed with SplitMix64 under a key derived from the seed
and the epoch. A draw is therefore the same whichever batch, worker or process asks for it, and a
resumed run sees the draws of an uninterrupted one. Training splits draw afresh every epoch;
evaluation splits use the ``fixed`` stream, which ignores the epoch and is separate from the
per-epoch stream of every seed.
"""

import math
from numbers import Real

import numpy as np
import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX = (
    (np.uint64(30), np.uint64(0xBF58476D1CE4E5B9)),
    (np.uint64(27), np.uint64(0x94D049BB133111EB)),
)
_LANE_BITS = 16
"""Bits of hash per pixel in ``salt_and_pepper``: four pixels per 64-bit hash."""


def stream_key(seed: int, epoch: int, fixed: bool) -> np.uint64:
    """The 64-bit key of the stream ``(seed, epoch)``, or of the fixed stream of ``seed``.

    Args:
        seed: the augmentation seed; any integer (negative ones are taken modulo 2**64).
        epoch: the epoch, non-negative; ignored when ``fixed``.
        fixed: the stream that never changes with the epoch, for evaluation splits.
    """
    entropy = [1, seed & _MASK64] if fixed else [0, seed & _MASK64, epoch]
    return np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]


def random_bits(counters: np.ndarray, *, seed: int, epoch: int, fixed: bool) -> np.ndarray:
    """64 random bits per counter, a pure function of ``(seed, epoch, counter)``.

    The SplitMix64 output at position ``counter`` of the stream keyed by ``stream_key``: vectorised,
    and independent of which other counters are drawn alongside.

    Args:
        counters: non-negative integers, any shape.
        seed: the augmentation seed.
        epoch: the epoch; ignored when ``fixed``.
        fixed: draw from the fixed stream (see ``stream_key``).

    Returns:
        uint64, the shape of ``counters``.
    """
    counters = np.asarray(counters, dtype=np.uint64)
    z = np.add(counters, np.uint64(1), out=np.empty(counters.shape, np.uint64))
    z *= _GAMMA
    z += stream_key(seed, epoch, fixed)
    shifted = np.empty_like(z)
    for shift, multiplier in _MIX:
        np.right_shift(z, shift, out=shifted)
        z ^= shifted
        z *= multiplier
    np.right_shift(z, np.uint64(31), out=shifted)
    z ^= shifted
    return z


def random_uniform(counters: np.ndarray, *, seed: int, epoch: int, fixed: bool) -> np.ndarray:
    """Uniform float64 values in ``[0, 1)``, one per counter; arguments as in ``random_bits``."""
    bits = random_bits(counters, seed=seed, epoch=epoch, fixed=fixed)
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def check_noise(amount: float, where: str = "salt-and-pepper") -> float:
    """``amount`` as a float, if it is a valid salt-and-pepper fraction of pixels.

    Raises:
        ValueError: unless ``amount`` is a real number in ``[0, 1)``; the message starts with
            ``where`` and names the option ``data.noise``.
    """
    if isinstance(amount, bool) or not isinstance(amount, Real) or not 0 <= amount < 1:
        raise ValueError(
            f"{where}: data.noise must be a fraction of pixels in [0, 1), got {amount!r}."
        )
    return float(amount)


def salt_and_pepper(
    images: np.ndarray,
    fraction: float,
    *,
    seed: int,
    epoch: int,
    index: np.ndarray,
    fixed: bool = False,
) -> np.ndarray:
    """Set about ``fraction`` of each image's pixels (all channels) to 0 or 1, in place.

    Pixel ``p`` of the image keyed ``k`` takes 16 bits of ``random_bits`` at counter
    ``k * ceil(P / 4) + p // 4`` (P pixels per image, four to a hash). Read as an integer ``u`` in
    ``0..65535``, the pixel becomes black when ``u < r // 2``, white when ``r // 2 <= u < r``, and
    is kept otherwise, with ``r = floor(fraction * 65536)``: the fraction is exact to 2**-16 and
    half of the replaced pixels are black, half white.

    Args:
        images: (N, C, ...) floating-point images, writeable; N images of C channels.
        fraction: the probability that a pixel is replaced, in ``[0, 1)``.
        seed: the augmentation seed.
        epoch: the epoch of the draw; ignored when ``fixed``.
        index: (N,) non-negative integers, one key per image (e.g. its dataset index).
        fixed: draw from the fixed stream (evaluation splits) rather than the per-epoch one.

    Returns:
        ``images``, each pixel a pure function of ``(seed, epoch, key, pixel)``.

    Raises:
        ValueError: on a fraction out of range, or images that are not writeable floating-point
            (N, C, ...) with one key each.
    """
    fraction = check_noise(fraction)
    keys = np.asarray(index)
    floating = np.issubdtype(images.dtype, np.floating) and images.flags.writeable
    if not floating or images.ndim < 2 or keys.shape != images.shape[:1]:
        raise ValueError(
            f"salt_and_pepper: expected writeable floating-point images (N, C, ...) and N keys, "
            f"got images {images.dtype} {images.shape} and keys of shape {keys.shape}."
        )
    if fraction == 0 or images.size == 0:
        return images
    pixels = math.prod(images.shape[2:])
    hashes = -(-pixels // (64 // _LANE_BITS))
    counters = keys.astype(np.uint64)[:, None] * np.uint64(hashes)
    counters = counters + np.arange(hashes, dtype=np.uint64)
    bits = random_bits(counters, seed=seed, epoch=epoch, fixed=fixed)
    # Little-endian lanes, so the draws are the same on every platform.
    u = bits.astype("<u8", copy=False).view("<u2")[:, :pixels]
    replaced = int(fraction * 2**_LANE_BITS)
    keep = np.greater_equal(u, replaced).astype(images.dtype)
    white = np.greater_equal(u, replaced // 2).astype(images.dtype)
    white -= keep
    shape = (len(images), 1, *images.shape[2:])
    x = torch.from_numpy(images)  # a view: torch's broadcasting multiply-add is the fast path
    torch.addcmul(
        torch.from_numpy(white.reshape(shape)), x, torch.from_numpy(keep.reshape(shape)), out=x
    )
    return images


def salt_and_pepper_tensor(
    x: Tensor,
    fraction: float,
    *,
    seed: int,
    epoch: int,
    index: np.ndarray,
    fixed: bool = False,
) -> Tensor:
    """``salt_and_pepper`` on a CPU floating-point tensor (N, C, ...), in place; returns ``x``."""
    salt_and_pepper(x.numpy(), fraction, seed=seed, epoch=epoch, index=index, fixed=fixed)
    return x


class SaltAndPepper:
    """An ``ArrayDataset`` transform setting a fraction of pixels (all channels) to 0 or 1.

    The batch it receives is modified in place (``ArrayDataset`` hands over a fresh tensor).

    Args:
        amount: the probability that a pixel is replaced, in ``[0, 1)``; half become 0, half 1.
        seed: the augmentation seed.
        fixed: the same noise per index forever (evaluation splits) instead of fresh each epoch.

    Raises:
        ValueError: if ``amount`` is out of range.
    """

    def __init__(self, amount: float, seed: int, fixed: bool) -> None:
        self.amount = check_noise(amount)
        self.seed, self.fixed = seed, fixed

    def __call__(
        self, x: Tensor, indices: np.ndarray, epoch: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        options = {"seed": self.seed, "epoch": epoch, "index": indices, "fixed": self.fixed}
        return salt_and_pepper_tensor(x, self.amount, **options), {}
