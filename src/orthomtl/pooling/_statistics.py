"""Streamed feature statistics of ``orthomtl.pooling.OrthogonalPooling``.

The statistics are sums (count, Σf, fᵀf) in float64, so those of batches and of processes simply
add up; they stay float64 even when the module is cast (e.g. ``.half()``).

Adding a batch's few rows r to fᵀf costs a pass over the whole D×D matrix (a rank-r ``addmm_``
runs far below the matrix product's peak), so rows wait in a buffer of ``PENDING_ROWS`` and enter
fᵀf in one float64 product when it is full; the count and Σf take every row right away (the same
operations as without the buffer). The buffer is no module buffer, so DDP never broadcasts it.
Whatever reads or replaces the statistics flushes the buffer first: ``reduce_statistics``, the
moments of a refresh, ``state_dict`` (so a checkpoint holds every row), ``load_state_dict`` and
``.to()``/casts; ``reset_statistics`` drops it. Code that reads ``stat_outer`` directly calls
``flush_statistics``.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

ReduceSum = Callable[[Tensor], Tensor]
STATISTICS = ("stat_count", "stat_sum", "stat_outer")
PENDING_ROWS = 256
"""Rows that wait (detached, float64) before one product adds them to fᵀf; the buffer holds
``PENDING_ROWS``×D float64, 1/8 of fᵀf at D = 2048."""


class DegenerateStatisticsError(RuntimeError):
    """The gathered statistics do not define M axes (too few samples, low rank, non-finite)."""


class StreamingStatistics(nn.Module):
    """Base of a module holding the float64 buffers ``STATISTICS`` of D-dimensional feature rows;
    the subclass registers them with ``_register_statistics`` and adds rows with ``_add``. Rows
    wait in a buffer of ``PENDING_ROWS`` before they enter ``stat_outer`` (see the module
    docstring)."""

    stat_count: Tensor
    stat_sum: Tensor
    stat_outer: Tensor

    def _register_statistics(self, dim: int) -> None:
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("stat_outer", torch.zeros(dim, dim, dtype=torch.float64))
        self._pending: Tensor | None = None  # PENDING_ROWS × D, allocated by the first _add
        self._pending_rows = 0

    @torch.no_grad()
    def flush_statistics(self) -> None:
        """Add the rows waiting in the buffer to ``stat_outer`` (the count and Σf have them)."""
        if self._pending_rows:
            assert self._pending is not None
            rows = self._pending[: self._pending_rows]
            self.stat_outer.addmm_(rows.T, rows)
            self._pending_rows = 0

    def reduce_statistics(self, reduce_sum: ReduceSum) -> None:
        """Replace the statistics (waiting rows included) by their sum over processes, with one
        all-reduce of the flattened [count, Σf, fᵀf]."""
        self.flush_statistics()
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
        """Zero the statistics and drop the waiting rows."""
        self._pending_rows = 0
        for name in STATISTICS:
            getattr(self, name).zero_()

    @torch.no_grad()
    def _add(self, f: Tensor) -> None:
        """Add the rows of ``f`` (B×D, detached) to the count and Σf now and to fᵀf through the
        buffer; a batch of ``PENDING_ROWS`` rows or more goes into fᵀf at once, after the waiting
        rows."""
        count = f.shape[0]
        if self._pending_rows + count > PENDING_ROWS:
            self.flush_statistics()
        if count >= PENDING_ROWS:
            rows = f.detach().to(torch.float64)
            self.stat_outer.addmm_(rows.T, rows)
        else:
            if self._pending is None:
                self._pending = self.stat_outer.new_empty(PENDING_ROWS, self.stat_outer.shape[0])
            rows = self._pending[self._pending_rows : self._pending_rows + count]
            rows.copy_(f.detach())
            self._pending_rows += count
        self.stat_count.add_(count)
        self.stat_sum.add_(rows.sum(dim=0))

    def _moments(self) -> tuple[float, Tensor, Tensor]:
        """The sample count, mean and (biased) covariance of the statistics; raises
        ``DegenerateStatisticsError`` if they are not finite or hold fewer than 2 samples."""
        self.flush_statistics()
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

    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        self.flush_statistics()  # a checkpoint holds every row
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        self.flush_statistics()  # the waiting rows belong to the statistics being replaced
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "StreamingStatistics":
        # The buffer is reallocated on the statistics' (possibly new) device by the next _add.
        self.flush_statistics()
        self._pending = None
        # Casting the module (e.g. ``.half()``, Fabric's "16-true") must not cast the statistics.
        kept = {name: getattr(self, name) for name in STATISTICS}
        super()._apply(fn, recurse)
        for name, old in kept.items():
            if getattr(self, name).dtype != torch.float64:
                self._buffers[name] = old.to(getattr(self, name).device, torch.float64)
        return self
