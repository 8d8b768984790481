"""The options of ``OrthogonalPooling``: one frozen dataclass, validated once when it is built."""

import math
from dataclasses import dataclass
from typing import Literal, get_args

RefreshMode = Literal["epoch", "steps", "frozen"]
Solver = Literal["auto", "eigh", "subspace"]


@dataclass(frozen=True)
class PoolingOptions:
    """How ``OrthogonalPooling`` gathers statistics and when and how it recomputes its basis.

    Args:
        cov_fraction: the share of training rows whose features enter the covariance (the paper's
            B_cov; it finds 10% of the training data enough).
        refresh: ``"epoch"`` recomputes the basis at every epoch start, ``"steps"`` after every
            ``refresh_every_steps``-th optimisation step (counted over the whole run, never at an
            epoch start), ``"frozen"`` at epoch starts up to and including epoch
            ``freeze_after_epoch`` and never after.
        refresh_every_steps: required by ``refresh="steps"``, and only by it.
        freeze_after_epoch: required by ``refresh="frozen"``, and only by it.
        solver: ``"eigh"`` (``torch.linalg.eigh``), ``"subspace"`` (warm-started subspace iteration)
            or ``"auto"``: eigh for D ≤ ``subspace_threshold``, subspace iteration above.
        subspace_threshold: the latent dimension above which ``"auto"`` uses subspace iteration.
        subspace_iters: subspace iteration's budget before it falls back to eigh with a warning.
        subspace_tol: subspace iteration stops at this relative Ritz residual.
        eps: eigenvalues at most ``eps``·E‖f‖² count as zero variance.
        degenerate_tol: consecutive eigenvalues with a relative gap at most this count as equal.
        seed: seeds the row sampling (when no sample mask is given) and the solver's random start.

    Raises:
        ValueError: naming the first option that is out of range.
    """

    cov_fraction: float = 0.1
    refresh: RefreshMode = "epoch"
    refresh_every_steps: int | None = None
    freeze_after_epoch: int | None = None
    solver: Solver = "auto"
    subspace_threshold: int = 512
    subspace_iters: int = 200
    subspace_tol: float = 1e-6
    eps: float = 1e-10
    degenerate_tol: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_fraction("cov_fraction", self.cov_fraction, one=True)
        _check_choice("refresh", self.refresh, get_args(RefreshMode))
        _check_choice("solver", self.solver, get_args(Solver))
        for name, value, mode, least in (
            ("refresh_every_steps", self.refresh_every_steps, "steps", 1),
            ("freeze_after_epoch", self.freeze_after_epoch, "frozen", 0),
        ):
            if (value is not None) != (self.refresh == mode):
                raise ValueError(f"{name} is required by refresh={mode!r} and only by it.")
            if value is not None:
                check_int(name, value, least)
        check_int("subspace_threshold", self.subspace_threshold, 1)
        check_int("subspace_iters", self.subspace_iters, 1)
        check_fraction("subspace_tol", self.subspace_tol)
        check_fraction("eps", self.eps)
        check_fraction("degenerate_tol", self.degenerate_tol, zero=True)
        check_int("seed", self.seed, 0)


def check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}.")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")


def check_fraction(name: str, value: object, *, zero: bool = False, one: bool = False) -> None:
    """``value`` must be a real number between 0 and 1, each end included when asked."""
    real = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (real and (value >= 0 if zero else value > 0) and (value <= 1 if one else value < 1)):
        interval = ("[" if zero else "(") + "0, 1" + ("]" if one else ")")
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}.")
