"""Streamed feature statistics of ``orthomtl.pooling.OrthogonalPooling``.

The statistics are sums (count, Σf, fᵀf) in float64, so those of batches and of processes simply
add up; they stay float64 even when the module is cast (e.g. ``.half()``).

Adding a batch's few rows r to fᵀf costs a pass over the whole D×D matrix (a rank-r ``addmm_``
runs far below the matrix product's peak), so rows wait in a float64 buffer of
``row_capacity(D)`` rows and enter fᵀf in one product when it is full; the count and Σf take
every row right away. fᵀf therefore holds the count − waiting rows that have been flushed. While
no row has been flushed since the last reset, the waiting rows are the whole sample, and a
refresh of up to ``gram_rows(D)`` of them works on the rows themselves (the n×n Gram matrix, see
``_eigen.gram_eigh``) without ever forming fᵀf.

The buffer is no module buffer, so DDP never broadcasts it. ``state_dict`` saves the waiting
rows beside the sums (``get_extra_state``), so a checkpoint holds every row and a resumed run
refreshes exactly as an uninterrupted one; ``load_state_dict`` replaces them, ``.to()``/casts move
them (still float64), ``reset_statistics`` drops them. ``reduce_statistics`` first counts the
processes with one 1-element all-reduce; only with more than one does it flush and sum the
flattened statistics. Code that reads or writes ``stat_outer`` directly calls
``flush_statistics`` first.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

ReduceSum = Callable[[Tensor], Tensor]
STATISTICS = ("stat_count", "stat_sum", "stat_outer")
PENDING_ROWS = 256
"""The fewest rows that wait (detached, float64) before one product adds them to fᵀf."""
GRAM_MAX_ROWS = 1024
"""The most rows a refresh takes through the Gram matrix, at any D."""


def gram_rows(dim: int) -> int:
    """The most rows whose refresh goes through their n×n Gram matrix instead of the D×D
    covariance: min(``GRAM_MAX_ROWS``, D/2)."""
    return min(GRAM_MAX_ROWS, dim // 2)


def row_capacity(dim: int) -> int:
    """The rows the buffer holds: max(``PENDING_ROWS``, ``gram_rows(D)``), i.e. 256 up to
    D = 512, D/2 up to D = 2048 (half of fᵀf's memory), then 1024."""
    return max(PENDING_ROWS, gram_rows(dim))


class DegenerateStatisticsError(RuntimeError):
    """The gathered statistics do not define M axes (too few samples, low rank, non-finite)."""


class StreamingStatistics(nn.Module):
    """Base of a module holding the float64 buffers ``STATISTICS`` of D-dimensional feature rows;
    the subclass registers them with ``_register_statistics``, adds rows with ``_add`` and merges
    ``get_extra_state``/``set_extra_state`` (the waiting rows) into its own. Rows wait in a buffer
    of ``row_capacity(D)`` before they enter ``stat_outer`` (see the module docstring)."""

    stat_count: Tensor
    stat_sum: Tensor
    stat_outer: Tensor

    def _register_statistics(self, dim: int) -> None:
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("stat_sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("stat_outer", torch.zeros(dim, dim, dtype=torch.float64))
        self._pending: Tensor | None = None  # row_capacity(D) × D, allocated by the first _add
        self._pending_rows = 0

    @torch.no_grad()
    def flush_statistics(self) -> None:
        """Add the rows waiting in the buffer to ``stat_outer`` (the count and Σf have them)."""
        if self._pending_rows:
            rows = self._waiting()
            self.stat_outer.addmm_(rows.T, rows)
            self._pending_rows = 0

    def reduce_statistics(self, reduce_sum: ReduceSum) -> None:
        """Replace the statistics (waiting rows included) by their sum over processes.

        One all-reduce of a 1-element tensor counts the processes. With one, the statistics are
        already their sum and stay as they are, rows waiting; with more, the waiting rows enter
        fᵀf and one all-reduce of the flattened [count, Σf, fᵀf] sums them."""
        one = torch.ones(1, dtype=torch.float64, device=self.stat_count.device)
        processes = self._checked_reduce(reduce_sum, one)
        if float(processes[0]) == 1.0:
            return
        self.flush_statistics()
        dim = self.stat_sum.shape[0]
        flat = torch.cat([self.stat_count.reshape(1), self.stat_sum, self.stat_outer.reshape(-1)])
        reduced = self._checked_reduce(reduce_sum, flat)
        self.stat_count.copy_(reduced[0])
        self.stat_sum.copy_(reduced[1 : 1 + dim])
        self.stat_outer.copy_(reduced[1 + dim :].view(dim, dim))

    @staticmethod
    def _checked_reduce(reduce_sum: ReduceSum, flat: Tensor) -> Tensor:
        reduced = reduce_sum(flat)
        if reduced.shape != flat.shape:
            raise ValueError(
                f"reduce_sum returned shape {tuple(reduced.shape)}, not {flat.numel()}."
            )
        return reduced.to(flat)

    def reset_statistics(self) -> None:
        """Zero the statistics and drop the waiting rows."""
        self._pending_rows = 0
        for name in STATISTICS:
            getattr(self, name).zero_()

    @torch.no_grad()
    def _add(self, f: Tensor) -> None:
        """Add the rows of ``f`` (B×D, detached) to the count and Σf now and to fᵀf through the
        buffer; a batch of ``row_capacity(D)`` rows or more goes into fᵀf at once, after the
        waiting rows."""
        count, capacity = f.shape[0], row_capacity(self.stat_outer.shape[0])
        if self._pending_rows + count > capacity:
            self.flush_statistics()
        if count >= capacity:
            rows = f.detach().to(torch.float64)
            self.stat_outer.addmm_(rows.T, rows)
        else:
            if self._pending is None:
                self._pending = self.stat_outer.new_empty(capacity, self.stat_outer.shape[0])
            rows = self._pending[self._pending_rows : self._pending_rows + count]
            rows.copy_(f.detach())
            self._pending_rows += count
        self.stat_count.add_(count)
        self.stat_sum.add_(rows.sum(dim=0))

    def _waiting(self) -> Tensor:
        """The rows waiting in the buffer (a view, n×D float64)."""
        assert self._pending is not None or not self._pending_rows
        if self._pending is None:
            return self.stat_outer.new_empty(0, self.stat_outer.shape[0])
        return self._pending[: self._pending_rows]

    def _held_rows(self) -> Tensor | None:
        """The waiting rows when they are the whole sample (their number is the count and fᵀf,
        whose trace is zero only when it holds no row, is empty), else None."""
        if not self._pending_rows or self._pending_rows != float(self.stat_count):
            return None
        if float(self.stat_outer.trace()) != 0.0:
            return None
        return self._waiting()

    def _checked_count(self, total: Tensor) -> float:
        """The sample count; raises ``DegenerateStatisticsError`` if ``total`` (a sum over the
        statistics) is not finite or the count is below 2."""
        if not bool(torch.isfinite(total)):
            raise DegenerateStatisticsError(
                "The pooling statistics are not finite (overflow, or a corrupt checkpoint or "
                "reduce_sum); cannot compute the basis. Call reset_statistics() and gather again."
            )
        count = float(self.stat_count)
        if count < 2:
            raise DegenerateStatisticsError(
                f"refresh() needs statistics from at least 2 samples, got {count:.0f}. Gather "
                "statistics first (training forward passes or accumulate()), or raise cov_fraction."
            )
        return count

    def _moments(self) -> tuple[float, Tensor, Tensor]:
        """The sample count, mean and (biased) covariance of the statistics, the waiting rows
        flushed first; raises ``DegenerateStatisticsError`` if they are not finite or hold fewer
        than 2 samples."""
        self.flush_statistics()
        count = self._checked_count(sum(getattr(self, name).sum() for name in STATISTICS))
        mean = self.stat_sum / count
        # Σ = fᵀf/n − μμᵀ in one pass; eigh reads one triangle, so Σ is not re-symmetrised.
        cov = torch.addr(self.stat_outer, mean, mean, beta=1 / count, alpha=-1.0)
        return count, mean, cov

    def _row_moments(self, rows: Tensor) -> tuple[float, Tensor, Tensor]:
        """The sample count, mean and centred rows X − μ (so Σ = (X − μ)ᵀ(X − μ)/n) of
        statistics whose whole sample is ``rows`` (``_held_rows``); raises as ``_moments``."""
        count = self._checked_count(self.stat_count + self.stat_sum.sum() + rows.sum())
        mean = self.stat_sum / count
        return count, mean, rows - mean

    def get_extra_state(self) -> dict[str, Any]:
        return {"waiting_rows": self._waiting().clone()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restores the waiting rows (none in a checkpoint saved before they were kept)."""
        self._pending_rows = 0
        rows = state.get("waiting_rows")
        if rows is not None and rows.shape[0]:
            self._add_waiting(rows)

    def _add_waiting(self, rows: Tensor) -> None:
        """Put ``rows`` in the buffer without counting them (the count and Σf have them)."""
        capacity, dim = row_capacity(self.stat_outer.shape[0]), self.stat_outer.shape[0]
        if rows.ndim != 2 or rows.shape[1] != dim or rows.shape[0] > capacity:
            raise ValueError(
                f"waiting_rows must be at most {capacity} rows of {dim}, got {tuple(rows.shape)}."
            )
        if self._pending is None:
            self._pending = self.stat_outer.new_empty(capacity, dim)
        self._pending[: rows.shape[0]].copy_(rows)
        self._pending_rows = rows.shape[0]

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
        self._pending_rows = 0  # the waiting rows belong to the statistics being replaced
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "StreamingStatistics":
        # Casting the module (e.g. ``.half()``, Fabric's "16-true") must not cast the statistics;
        # the waiting rows follow the statistics' device and stay float64.
        kept = {name: getattr(self, name) for name in STATISTICS}
        super()._apply(fn, recurse)
        for name, old in kept.items():
            if getattr(self, name).dtype != torch.float64:
                self._buffers[name] = old.to(getattr(self, name).device, torch.float64)
        if self._pending is not None:
            self._pending = self._pending.to(self.stat_outer.device)
        return self
