"""Two augmented views of every image, for contrastive losses (Domain Expansion, stage 1).

A view shifts the image by a random whole number of pixels (up to ``max_shift`` each way, filling
with zeros) and adds Gaussian pixel noise; labels are unchanged. These are our choices for rotated
digits (the paper leaves them open): a shift of up to ±2 px and σ = 0.05.

Every draw is a pure function of ``(seed, epoch, index, view)``, on a stream of its own (so it never
coincides with the dataset's augmentation draws), which keeps 1-process, N-process and resumed
runs identical.
"""

import numpy as np
import torch
from torch import Tensor

from orthomtl.data._augment import random_bits

_VIEWS_TAG = 0x5649_4557  # separates this stream from the dataset's augmentation streams


def _view_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, _VIEWS_TAG]).generate_state(1, np.uint32)[0])


def _shift(x: Tensor, dy: Tensor, dx: Tensor, max_shift: int) -> Tensor:
    """Shift image b by (dy[b], dx[b]) pixels, zero fill; vectorised over the batch."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    rows = (torch.arange(h) + max_shift - dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w) + max_shift - dx[:, None])[:, None, :]  # (B, 1, W)
    batch = torch.arange(b)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def two_views(
    x: Tensor, index: Tensor, *, seed: int, epoch: int, max_shift: int = 2, noise_std: float = 0.05
) -> tuple[Tensor, Tensor]:
    """Two views, each shaped like ``x`` (B, C, H, W), of the images with dataset indices
    ``index``."""
    if x.dim() != 4:
        raise ValueError(f"two_views expects images (B, C, H, W), got shape {tuple(x.shape)}.")
    if max_shift < 0 or noise_std < 0:
        raise ValueError(f"max_shift and noise_std must be >= 0, got {max_shift}, {noise_std}.")
    stream = _view_seed(seed)
    keys = index.cpu().numpy().astype(np.uint64)[:, None] * np.uint64(2) + np.arange(
        2, dtype=np.uint64
    )
    pixels = int(np.prod(x.shape[1:]))
    views = []
    for view in range(2):
        key = keys[:, view]
        out = x
        if max_shift > 0:
            bits = random_bits(key * np.uint64(2), seed=stream, epoch=epoch, fixed=False)
            span = np.uint64(2 * max_shift + 1)
            dy = torch.from_numpy(((bits >> np.uint64(32)) % span).astype(np.int64) - max_shift)
            dx = torch.from_numpy(
                ((bits & np.uint64(0xFFFFFFFF)) % span).astype(np.int64) - max_shift
            )
            out = _shift(out, dy, dx, max_shift)
        if noise_std > 0:
            counters = (key * np.uint64(2) + np.uint64(1))[:, None] * np.uint64(pixels)
            bits = random_bits(
                counters + np.arange(pixels, dtype=np.uint64), seed=stream, epoch=epoch, fixed=False
            )
            u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
            u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
            gauss = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box–Muller
            out = out + noise_std * torch.from_numpy(gauss).to(x.dtype).reshape(x.shape)
        views.append(out.to(x.device))
    return views[0], views[1]
