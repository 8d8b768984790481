"""Stroke distortions (thickness, elastic): pure functions of (seed, epoch, index), and what they
do to an image."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import orthomtl
from orthomtl.data import StrokeDistortion


def _images(n: int = 6) -> torch.Tensor:
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a vertical bar
    return x


def test_draws_depend_on_seed_epoch_and_index_only() -> None:
    distort = StrokeDistortion(0.6, 2.0, 4.0, seed=3, fixed=False)
    x, idx = _images(), np.arange(10, 16)
    out, extra = distort(x, idx, epoch=2)
    assert extra == {}
    # The same index gives the same image in another batch, in another order.
    again, _ = distort(x[[4, 1]], idx[[4, 1]], epoch=2)
    torch.testing.assert_close(again, out[[4, 1]])
    assert not torch.equal(distort(x, idx, epoch=3)[0], out)  # training: new draws every epoch
    fixed = StrokeDistortion(0.6, 2.0, 4.0, seed=3, fixed=True)
    torch.testing.assert_close(fixed(x, idx, 0)[0], fixed(x, idx, 7)[0])  # evaluation: once


def test_thickness_dilates_or_erodes_the_strokes() -> None:
    x, idx = _images(40), np.arange(40)
    out, _ = StrokeDistortion(1.0, 0.0, 4.0, seed=0, fixed=False)(x, idx, 0)
    ink = out.sum(dim=(1, 2, 3))
    thicker = F.max_pool2d(x, 3, stride=1, padding=1).sum(dim=(1, 2, 3))
    thinner = -F.max_pool2d(-x, 3, stride=1, padding=1).sum(dim=(1, 2, 3))
    assert torch.all((ink == thicker) | (ink == thinner))
    assert (ink == thicker).any() and (ink == thinner).any()
    same, _ = StrokeDistortion(0.0, 0.0, 4.0, seed=0, fixed=False)(x, idx, 0)
    torch.testing.assert_close(same, x)


def test_elastic_moves_pixels_by_at_most_its_magnitude() -> None:
    x, idx = _images(), np.arange(6)
    out, _ = StrokeDistortion(0.0, 1.5, 3.0, seed=1, fixed=False)(x, idx, 0)
    assert not torch.allclose(out, x)
    # Within 1.5 px: the bar's ink stays inside its box grown by 2 px.
    outside = out.clone()
    outside[:, :, 6:22, 10:18] = 0
    assert outside.abs().max() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"thickness": 1.5}, "probability in"),
        ({"elastic": -1.0}, "data.elastic must be >= 0"),
        ({"elastic_sigma": 0.0}, "data.elastic_sigma must be > 0"),
    ],
)
def test_rotated_digits_options_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        orthomtl.DATASETS.get("rotated-digits").loader(seed=0, **options)


def test_rotated_digits_distorts_every_split_before_rotating() -> None:
    plain = orthomtl.DATASETS.get("rotated-digits").loader(seed=0)
    hard = orthomtl.DATASETS.get("rotated-digits").loader(seed=0, thickness=0.5, elastic=2.0)
    for name in ("train", "val", "test"):
        a = getattr(plain, name).__getitems__(list(range(16)))
        b = getattr(hard, name).__getitems__(list(range(16)))
        assert torch.equal(a.targets["angle"], b.targets["angle"])  # the same rotations
        assert not torch.allclose(a.x, b.x)
