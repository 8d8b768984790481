"""Validation of ``orthomtl.pooling.OrthogonalPooling``'s options, with errors naming the option."""

from typing import Literal, get_args

RefreshMode = Literal["epoch", "steps", "frozen"]
Solver = Literal["auto", "eigh", "subspace"]


def check_options(
    *,
    dim: int,
    num_axes: int,
    cov_fraction: float,
    refresh: RefreshMode,
    refresh_every_steps: int | None,
    freeze_after_epoch: int | None,
    solver: Solver,
    subspace_threshold: int,
    subspace_iters: int,
    subspace_tol: float,
    eps: float,
    degenerate_tol: float,
    seed: int,
) -> None:
    """Raise ``ValueError`` naming the first option that ``OrthogonalPooling`` does not accept."""
    _check_int("dim", dim, 1)
    _check_int("num_axes", num_axes, 1)
    if num_axes > dim:
        raise ValueError(
            f"num_axes (M) cannot exceed the latent dimension D; lower the number of tasks per "
            f"axis or raise latent_dim (got M={num_axes}, D={dim})."
        )
    _check_fraction("cov_fraction", cov_fraction, one=True)
    _check_choice("refresh", refresh, get_args(RefreshMode))
    _check_choice("solver", solver, get_args(Solver))
    for name, value, mode, least in (
        ("refresh_every_steps", refresh_every_steps, "steps", 1),
        ("freeze_after_epoch", freeze_after_epoch, "frozen", 0),
    ):
        if (value is not None) != (refresh == mode):
            raise ValueError(f"{name} is required by refresh={mode!r} and only by it.")
        if value is not None:
            _check_int(name, value, least)
    _check_int("subspace_threshold", subspace_threshold, 1)
    _check_int("subspace_iters", subspace_iters, 1)
    _check_fraction("subspace_tol", subspace_tol)
    _check_fraction("eps", eps)
    _check_fraction("degenerate_tol", degenerate_tol, zero=True)
    _check_int("seed", seed, 0)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}.")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}.")


def _check_fraction(name: str, value: object, *, zero: bool = False, one: bool = False) -> None:
    """``value`` must be a real number between 0 and 1, each end included when asked."""
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (real and (value >= 0 if zero else value > 0) and (value <= 1 if one else value < 1)):
        interval = ("[" if zero else "(") + "0, 1" + ("]" if one else ")")
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}.")
