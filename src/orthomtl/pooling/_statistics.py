"""Streamed feature statistics of ``orthomtl.pooling.OrthogonalPooling``.

The statistics are sums (count, Σf, fᵀf) in float64, so those of batches and of processes simply
add up; they stay float64 even when the module is cast (e.g. ``.half()``).
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn

ReduceSum = Callable[[Tensor], Tensor]
STATISTICS = ("stat_count", "stat_sum", "stat_outer")


class DegenerateStatisticsError(RuntimeError):
    """The gathered statistics do not define M axes (too few samples, low rank, non-finite)."""


class StreamingStatistics(nn.Module):
    """Base of a module holding the float64 buffers ``STATISTICS`` of D-dimensional feature rows;
    the subclass registers them with ``_register_statistics``."""

    stat_count: Tensor
    stat_sum: Tensor
    stat_outer: Tensor

    def _register_statistics(self, dim: int) -> None:
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("stat_outer", torch.zeros(dim, dim, dtype=torch.float64))

    def reduce_statistics(self, reduce_sum: ReduceSum) -> None:
        """Replace the statistics by their sum over processes, with one all-reduce of the flattened
        [count, Σf, fᵀf]."""
        dim = self.stat_sum.shape[0]
        flat = torch.cat([self.stat_count.reshape(1), self.stat_sum, self.stat_outer.reshape(-1)])
        reduced = reduce_sum(flat)
        if reduced.shape != flat.shape:
            raise ValueError(
                f"reduce_sum returned shape {tuple(reduced.shape)}, not {flat.numel()}."
            )
        reduced = reduced.to(flat)
        self.stat_count.copy_(reduced[0])
        self.stat_sum.copy_(reduced[1 : 1 + dim])
        self.stat_outer.copy_(reduced[1 + dim :].view(dim, dim))

    def reset_statistics(self) -> None:
        for name in STATISTICS:
            getattr(self, name).zero_()

    @torch.no_grad()
    def _add(self, f: Tensor) -> None:
        rows = f.detach().to(torch.float64)
        self.stat_count.add_(rows.shape[0])
        self.stat_sum.add_(rows.sum(dim=0))
        self.stat_outer.addmm_(rows.T, rows)

    def _moments(self) -> tuple[float, Tensor, Tensor]:
        """The sample count, mean and (biased) covariance of the statistics; raises
        ``DegenerateStatisticsError`` if they are not finite or hold fewer than 2 samples."""
        count = float(self.stat_count)
        total = sum(getattr(self, name).sum() for name in STATISTICS)  # inf/NaN propagate
        if not bool(torch.isfinite(total)):
            raise DegenerateStatisticsError(
                "The pooling statistics are not finite (overflow, or a corrupt checkpoint or "
                "reduce_sum); cannot compute the basis. Call reset_statistics() and gather again."
            )
        if count < 2:
            raise DegenerateStatisticsError(
                f"refresh() needs statistics from at least 2 samples, got {count:.0f}. Gather "
                "statistics first (training forward passes or accumulate()), or raise cov_fraction."
            )
        mean = self.stat_sum / count
        # Σ = fᵀf/n − μμᵀ in one pass; eigh reads one triangle, so Σ is not re-symmetrised.
        cov = torch.addr(self.stat_outer, mean, mean, beta=1 / count, alpha=-1.0)
        return count, mean, cov

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "StreamingStatistics":
        # Casting the module (e.g. ``.half()``, Fabric's "16-true") must not cast the statistics.
        kept = {name: getattr(self, name) for name in STATISTICS}
        super()._apply(fn, recurse)
        for name, old in kept.items():
            if getattr(self, name).dtype != torch.float64:
                self._buffers[name] = old.to(getattr(self, name).device, torch.float64)
        return self
