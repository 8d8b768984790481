"""Stroke distortions of digit images, to make the digit datasets harder: thickness and elastic.

- **Thickness**: with probability ``thickness`` an image's strokes are made thicker (grey-level
  dilation, a 3×3 max filter) or thinner (erosion, a 3×3 min filter), each half of the time.
- **Elastic** (Simard et al., ICDAR 2003): each pixel is displaced by a random field, i.i.d.
  uniform in [−1, 1] per pixel and axis, smoothed by a Gaussian of std ``elastic_sigma`` px and
  scaled so that its largest displacement is ``elastic`` px; the image is resampled bilinearly.

Like every augmentation here the draws are a pure function of ``(seed, epoch, index)``
(``_augment``): the training split distorts afresh every epoch, evaluation splits once per index.
"""

import math
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from orthomtl.data._augment import random_uniform

_DISTORT_TAG = 0x5354524B  # "STRK": the distortions' stream, apart from the rotations'


def check_distortion(thickness: float, elastic: float, elastic_sigma: float, where: str) -> None:
    """Raise ``ValueError`` unless thickness ∈ [0, 1], elastic ≥ 0 and elastic_sigma > 0."""
    for option, value, low in (("thickness", thickness, 0.0), ("elastic", elastic, 0.0)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(f"{where}: data.{option} must be a number, got {value!r}.")
        if value < low:
            raise ValueError(f"{where}: data.{option} must be >= {low:g}, got {value}.")
    if thickness > 1:
        raise ValueError(f"{where}: data.thickness is a probability in [0, 1], got {thickness}.")
    if isinstance(elastic_sigma, bool) or not isinstance(elastic_sigma, Real) or elastic_sigma <= 0:
        raise ValueError(f"{where}: data.elastic_sigma must be > 0, got {elastic_sigma!r}.")


def _gaussian_blur(field: Tensor, sigma: float) -> Tensor:
    """``field`` (B, C, H, W) smoothed by a separable Gaussian of std ``sigma`` px (zero-padded)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=field.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = field.shape[1]
    rows = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    field = F.conv2d(field, rows, padding=(radius, 0), groups=channels)
    return F.conv2d(field, cols, padding=(0, radius), groups=channels)


class StrokeDistortion:
    """A batch transform (``ArrayDataset``'s ``BatchTransform``): thickness then elastic.

    Args:
        thickness: probability of a thicker or thinner stroke, in [0, 1].
        elastic: the largest elastic displacement, in px (0: none).
        elastic_sigma: the smoothness of the displacement field, px.
        seed: the augmentation seed.
        fixed: one distortion per index forever (evaluation splits).
    """

    def __init__(
        self, thickness: float, elastic: float, elastic_sigma: float, seed: int, fixed: bool
    ) -> None:
        check_distortion(thickness, elastic, elastic_sigma, "StrokeDistortion")
        self.thickness, self.elastic, self.elastic_sigma = thickness, elastic, elastic_sigma
        self.seed = int(
            np.random.SeedSequence([seed, _DISTORT_TAG]).generate_state(1, np.uint32)[0]
        )
        self.fixed = fixed

    def _uniform(self, counters: np.ndarray, epoch: int) -> np.ndarray:
        return random_uniform(counters, seed=self.seed, epoch=epoch, fixed=self.fixed)

    def __call__(
        self, x: Tensor, indices: np.ndarray, epoch: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        keys = np.asarray(indices, dtype=np.uint64)
        if self.thickness > 0:
            u = torch.from_numpy(self._uniform(keys * np.uint64(2), epoch))
            thicker = F.max_pool2d(x, 3, stride=1, padding=1)
            thinner = -F.max_pool2d(-x, 3, stride=1, padding=1)
            pick = (u < self.thickness / 2)[:, None, None, None]
            x = torch.where(pick, thicker, x)
            pick = ((u >= self.thickness / 2) & (u < self.thickness))[:, None, None, None]
            x = torch.where(pick, thinner, x)
        if self.elastic > 0:
            x = self._elastic(x, keys, epoch)
        return x, {}

    def _elastic(self, x: Tensor, keys: np.ndarray, epoch: int) -> Tensor:
        batch, _, height, width = x.shape
        size = 2 * height * width
        counters = (keys * np.uint64(2) + np.uint64(1))[:, None] * np.uint64(size)
        u = self._uniform(counters + np.arange(size, dtype=np.uint64), epoch)
        field = torch.from_numpy(2.0 * u - 1.0).view(batch, 2, height, width)
        field = _gaussian_blur(field, self.elastic_sigma)
        peak = field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)
        field = field / peak * self.elastic  # (B, 2, H, W) displacement in px: (dx, dy)
        ys, xs = torch.meshgrid(
            torch.arange(height, dtype=torch.float64),
            torch.arange(width, dtype=torch.float64),
            indexing="ij",
        )
        grid_x = (xs + field[:, 0] + 0.5) / width * 2 - 1
        grid_y = (ys + field[:, 1] + 0.5) / height * 2 - 1
        grid = torch.stack([grid_x, grid_y], dim=-1).to(x.dtype)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
