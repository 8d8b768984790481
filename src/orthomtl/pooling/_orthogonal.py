"""Orthogonal pooling, the core of Domain Expansion (arXiv 2601.20069).

The encoder's feature f (B×D) is projected onto M orthonormal axes v_m, the top-M eigenvectors of
the feature covariance: the coefficient is c_m = ⟨f − μ, v_m⟩ and the paper's "orthogonal pooling"
projection is f^{proj,m} = ⟨f − μ, v_m⟩ v_m. μ and V are buffers, refreshed from statistics
between optimisation steps, so no gradient flows through them; gradients reach f. Each refresh
matches the new axes to the previous ones with the Hungarian algorithm on the cost 1 − |V_prevᵀV|
and flips signs, so axis m keeps meaning the same task(s) as training goes on.

Choices of ours (binding for this library):

- we centre by μ as the paper writes (the authors' code never updates μ);
- statistics stream from the training forward passes (a random ``cov_fraction`` share of each
  batch's rows) instead of an extra pass over the data; a method wanting a separate pass calls
  ``accumulate`` from a no-grad loop;
- statistics are sums (count, Σf, fᵀf) in float64, kept float64 even when the module is cast;
  rows wait in a buffer of ``row_capacity(D)`` before one product adds them to fᵀf
  (``_statistics``);
- a refresh of at most ``gram_rows(D)`` = min(1024, D/2) rows, all still waiting, is exact and
  low-rank: the eigenpairs come from the n×n Gram matrix of the centred rows
  (``_eigen.gram_eigh``) and the explained variances from the rows, never forming the D×D
  covariance (solver ``"auto"`` only; ``"eigh"`` and ``"subspace"`` always go dense);
- degenerate input raises ``DegenerateStatisticsError`` (too few samples, rank below M,
  non-finite statistics) or, for near-equal eigenvalues, warns ``NearEqualEigenvaluesWarning`` and
  keeps, inside each run of near-equal eigenvalues, the rotation closest to the previous basis
  (see ``_eigen.rotate_groups_towards``) before the Hungarian matching.

Under DDP the per-rank statistics differ until ``refresh(reduce_sum)`` adds them up, so they must
not be overwritten by DDP's buffer broadcast (exclude ``statistics_buffer_names(model)`` from it or
disable ``broadcast_buffers``), and a checkpoint holds only the saving rank's share unless the
method first calls ``reduce_statistics`` on every rank and ``reset_statistics`` on all but one.
"""

from typing import Any

import torch
from torch import Tensor, nn

from orthomtl.pooling import _eigen as eigen
from orthomtl.pooling._options import PoolingOptions, check_int
from orthomtl.pooling._statistics import (
    STATISTICS,
    DegenerateStatisticsError,
    ReduceSum,
    StreamingStatistics,
    gram_rows,
)


class OrthogonalPooling(StreamingStatistics):
    """Coefficients c = (f − μ)V of features on M aligned principal axes (arXiv 2601.20069).

    Args:
        dim: the latent dimension D.
        num_axes: the number of axes M (≤ D).
        options: when to refresh, which solver, the statistics share (``PoolingOptions``); the
            defaults when ``None``. ``should_refresh`` applies the schedule.
    """

    mean: Tensor
    basis: Tensor
    initialized: Tensor

    def __init__(self, dim: int, num_axes: int, options: PoolingOptions | None = None) -> None:
        super().__init__()
        check_int("dim", dim, 1)
        check_int("num_axes", num_axes, 1)
        if num_axes > dim:
            raise ValueError(
                f"num_axes (M) cannot exceed the latent dimension D; lower the number of tasks per "
                f"axis or raise latent_dim (got M={num_axes}, D={dim})."
            )
        if options is not None and not isinstance(options, PoolingOptions):
            raise TypeError(f"options must be a PoolingOptions, got {type(options).__name__}.")
        self.dim, self.num_axes = dim, num_axes
        self.options = options or PoolingOptions()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.zeros(dim, num_axes))
        self.register_buffer("initialized", torch.tensor(False))
        self._register_statistics(dim)
        self._generator = torch.Generator().manual_seed(self.options.seed)
        self.history: list[dict[str, float]] = []
        """The log dict of every refresh so far, oldest first (saved in ``state_dict``)."""
        self.collect = True
        """Whether training forward passes add rows to the statistics (off when a method gathers
        them in a pass of its own, or once the basis is frozen)."""

    # --- projection --------------------------------------------------------------------------
    def forward(
        self, f: Tensor, return_projections: bool = False, sample: Tensor | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Coefficients c (B×M) of the features ``f`` (B×D), and with ``return_projections`` also
        the projections c_m v_m (B×M×D). In training mode (with ``collect``) a share of the rows is
        added (detached) to the statistics: the rows where the boolean ``sample`` (B,) is true, or
        without it a random ``cov_fraction`` of them from the module's own generator. A ``sample``
        keyed on the dataset index makes the statistics independent of the number of processes."""
        self._check_features(f)
        if not bool(self.initialized):
            raise RuntimeError(
                "OrthogonalPooling has no basis yet: call refresh() after gathering statistics, "
                "e.g. one pass over cov_fraction of the training data through accumulate()."
            )
        if self.training and self.collect:
            self._accumulate_share(f, sample)
        basis = self.basis.to(f.dtype)
        coefficients = (f - self.mean.to(f.dtype)) @ basis
        if not return_projections:
            return coefficients
        return coefficients, coefficients.unsqueeze(-1) * basis.T

    # --- statistics --------------------------------------------------------------------------
    def accumulate(self, f: Tensor) -> None:
        """Add every row of ``f`` (B×D, detached) to the float64 statistics."""
        self._check_features(f)
        self._add(f)

    def _accumulate_share(self, f: Tensor, sample: Tensor | None) -> None:
        if sample is not None:
            if sample.shape != (f.shape[0],) or sample.dtype != torch.bool:
                raise ValueError(
                    f"sample must be a boolean mask of shape ({f.shape[0]},), got "
                    f"{sample.dtype} {tuple(sample.shape)}."
                )
            f = f[sample.to(f.device)]
        elif self.options.cov_fraction < 1.0:
            keep = torch.rand(f.shape[0], generator=self._generator) < self.options.cov_fraction
            f = f[keep.to(f.device)]
        if f.shape[0]:
            self._add(f)

    # --- refresh -----------------------------------------------------------------------------
    def should_refresh(self, epoch: int, step: int, epoch_start: bool) -> bool:
        """Whether the schedule asks for a refresh now: at epoch ``epoch`` (from 0), after ``step``
        optimisation steps in all, ``epoch_start`` telling whether no batch of this epoch has run
        yet. Always true while there is no basis.

        ``"steps"`` answers only after an optimisation step (``epoch_start=False``), never at an
        epoch start: the step that made ``step`` a multiple of ``refresh_every_steps`` has already
        refreshed, and a second refresh at the next epoch start would find empty statistics."""
        if not bool(self.initialized):
            return True
        if self.options.refresh == "steps":
            assert self.options.refresh_every_steps is not None
            every = self.options.refresh_every_steps
            return not epoch_start and step > 0 and step % every == 0
        if self.options.refresh == "frozen":
            assert self.options.freeze_after_epoch is not None
            return epoch_start and epoch <= self.options.freeze_after_epoch
        return epoch_start

    @torch.no_grad()
    def refresh(self, reduce_sum: ReduceSum | None = None) -> dict[str, float]:
        """Recompute μ and the aligned top-M axes from the statistics, then reset the statistics.

        ``reduce_sum`` (e.g. Fabric's all-reduce with sum) first adds up the statistics of all
        processes, so that every rank computes the same basis. Returns, per axis m,
        ``axis{m}/cos_prev`` (|cos| with its predecessor after alignment, 1.0 on the first
        refresh) and ``axis{m}/explained_variance_ratio`` (vᵀΣv / tr Σ, the eigenvalue's share),
        ``num_samples`` and ``solver_iterations`` (0 for eigh and the Gram path). The first
        refresh orders the axes by descending eigenvalue and makes the largest-magnitude entry of
        each positive; later ones align to the previous basis.
        """
        if reduce_sum is not None:
            self.reduce_statistics(reduce_sum)
        previous = self.basis.double() if bool(self.initialized) else None
        rows = self._held_rows()
        gram = rows is not None and self._use_gram(rows.shape[0])
        if rows is not None and gram:  # spread: the centred rows Xc, Σ = XcᵀXc/n
            count, mean, spread = self._row_moments(rows)
            zero = self.options.eps * float(rows.square().sum()) / count
            pairs = eigen.gram_eigh(spread, self.num_axes, self.options.degenerate_tol)
        else:  # spread: the covariance Σ
            count, mean, spread = self._moments()
            zero = self.options.eps * float(self.stat_outer.trace()) / count
            pairs = self._solve(spread, zero, previous)
        rank = int((pairs.values > zero).sum())
        if rank < self.num_axes:
            raise DegenerateStatisticsError(
                f"The feature covariance from {count:.0f} samples has rank {rank}, fewer than "
                f"num_axes={self.num_axes}, so the top axes are not defined (n samples span at "
                "most n − 1 directions). Gather more samples (raise cov_fraction or accumulate "
                "over more batches) or check that the encoder's features vary."
            )
        basis = eigen.align(pairs, self.num_axes, previous, self.options.degenerate_tol)
        log = self._log(basis, previous, explained_variance(basis, spread, gram), count, pairs)
        self.mean.copy_(mean)
        self.basis.copy_(basis)
        self.initialized.fill_(True)
        self.reset_statistics()
        self.history.append(dict(log))
        return log

    def _use_gram(self, rows: int) -> bool:
        """Whether a refresh of statistics that are ``rows`` held rows goes through their Gram
        matrix: with the ``"auto"`` solver and at most ``gram_rows(D)`` rows."""
        return self.options.solver == "auto" and rows <= gram_rows(self.dim)

    def _solve(self, cov: Tensor, zero: float, previous: Tensor | None) -> eigen.Eigenpairs:
        solver = self.options.solver
        if solver == "eigh" or (solver == "auto" and self.dim <= self.options.subspace_threshold):
            return eigen.full_eigh(cov)
        return eigen.subspace_eigh(
            cov,
            self.num_axes,
            start=previous,
            max_iters=self.options.subspace_iters,
            tol=self.options.subspace_tol,
            floor=zero,
            seed=self.options.seed,
        )

    def _log(
        self,
        basis: Tensor,
        previous: Tensor | None,
        explained: Tensor,
        count: float,
        pairs: eigen.Eigenpairs,
    ) -> dict[str, float]:
        cos = torch.ones(self.num_axes) if previous is None else (previous * basis).sum(0).abs()
        log: dict[str, float] = {}
        for m in range(self.num_axes):
            log[f"axis{m}/cos_prev"] = float(cos[m])
            log[f"axis{m}/explained_variance_ratio"] = float(explained[m])
        log["num_samples"] = count
        log["solver_iterations"] = float(pairs.iterations)
        return log

    # --- checks and state --------------------------------------------------------------------
    def _check_features(self, f: Tensor) -> None:
        if not isinstance(f, Tensor) or f.ndim != 2 or f.shape[1] != self.dim:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise ValueError(
                f"OrthogonalPooling expects features of shape (B, {self.dim}), got {shape}."
            )
        if not f.is_floating_point():
            raise ValueError(f"OrthogonalPooling expects floating-point features, got {f.dtype}.")
        if not bool(torch.isfinite(f).all()):
            raise ValueError("OrthogonalPooling got non-finite features (NaN or inf).")

    def get_extra_state(self) -> dict[str, Any]:
        return {
            **super().get_extra_state(),
            "generator": self._generator.get_state(),
            "history": [dict(h) for h in self.history],
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        super().set_extra_state(state)
        self._generator.set_state(state["generator"].cpu())
        self.history = [dict(h) for h in state["history"]]

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_axes={self.num_axes}, cov_fraction={self.options.cov_fraction}, "
            f"refresh={self.options.refresh!r}, solver={self.options.solver!r}"
        )


def explained_variance(basis: Tensor, spread: Tensor, gram: bool) -> Tensor:
    """vᵀΣv / tr Σ for each column v of ``basis``, from the covariance Σ (``spread``) or, with
    ``gram``, from the centred rows Xc (``spread``, Σ = XcᵀXc/n, the 1/n cancelling)."""
    if gram:
        return (spread @ basis).square().sum(0) / spread.square().sum()
    return ((basis.T @ spread) * basis.T).sum(1) / spread.trace()


def statistics_buffer_names(root: nn.Module) -> list[str]:
    """Qualified names of the statistics of every ``OrthogonalPooling`` in ``root``. They differ
    between DDP ranks until ``refresh`` sums them, so DDP must not broadcast them: pass the names to
    ``DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(root, names)`` before
    wrapping ``root``."""
    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in root.named_modules()
        if isinstance(module, OrthogonalPooling)
        for name in STATISTICS
    ]
