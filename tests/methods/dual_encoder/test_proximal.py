"""The dual encoder's coefficient step: group soft thresholding, the proximal map toward a
centre, Weiszfeld's centre step, and proximal gradient on per-task linear problems (ridge,
least squares, the tied model, the centre penalty)."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch import Tensor

from orthomtl.methods.dual_encoder import (
    Coefficients,
    Penalties,
    TaskLinearProblem,
    group_soft_threshold,
    penalty_value,
    prox_toward_centre,
    proximal_steps,
)
from orthomtl.nn import RowGroups

F64 = torch.float64
SIZES = (30, 18, 24)
Q, P = 2, 2  # the feature columns are split into an α block (Q) and a β block (P)


# --- the proximal maps ----------------------------------------------------------------------------
def test_group_soft_threshold_is_its_closed_form() -> None:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=generator, dtype=F64)
    z[1] = 0
    norm = z.norm(dim=-1)
    threshold = torch.tensor([0.3, 0.5, 0.0, 1.0, 2.0, 0.1], dtype=F64)
    threshold[3] = norm[3]  # t = ‖z‖ exactly
    threshold[4] = norm[4] * 1.5  # t > ‖z‖
    got = group_soft_threshold(z, threshold)
    for i in range(6):
        scale = max(0.0, 1 - threshold[i].item() / norm[i].item()) if norm[i] > 0 else 0.0
        torch.testing.assert_close(got[i], scale * z[i], rtol=1e-14, atol=1e-15)
    assert torch.equal(got[1], torch.zeros(4, dtype=F64))  # z = 0
    assert torch.equal(got[3], torch.zeros(4, dtype=F64))  # t = ‖z‖
    assert torch.equal(got[4], torch.zeros(4, dtype=F64))  # t > ‖z‖
    torch.testing.assert_close(got[2], z[2], rtol=0, atol=0)  # t = 0
    # the threshold broadcasts against the leading dims
    block = torch.randn(2, 3, 4, generator=generator, dtype=F64)
    torch.testing.assert_close(
        group_soft_threshold(block, torch.tensor(0.4, dtype=F64).expand(2, 3)),
        group_soft_threshold(block, torch.full((2, 3), 0.4, dtype=F64)),
    )


def _prox_objective(theta: np.ndarray, z: np.ndarray, centre: np.ndarray, t: float) -> float:
    return 0.5 * float(np.sum((theta - z) ** 2)) + t * float(np.linalg.norm(theta - centre))


@pytest.mark.parametrize("t", [0.0, 0.2, 1.0, 5.0])
def test_prox_toward_centre_is_the_argmin(t: float) -> None:
    generator = torch.Generator().manual_seed(1)
    z, centre = torch.randn(2, 5, generator=generator, dtype=F64)
    theta = prox_toward_centre(z, centre, torch.tensor(t, dtype=F64))
    offset = theta - centre
    if offset.norm() > 0:  # 0 ∈ θ − z + t(θ − c)/‖θ − c‖
        residual = theta - z + t * offset / offset.norm()
        assert residual.abs().max() < 1e-12
    else:  # 0 ∈ c − z + t·B(0, 1)
        assert (z - centre).norm() <= t
    assert (offset.norm() == 0) == ((z - centre).norm() <= t)
    args = (z.numpy(), centre.numpy(), t)
    start = (z.numpy() + centre.numpy()) / 2
    numeric = minimize(_prox_objective, start, args=args, method="Powell", tol=1e-12)
    ours = _prox_objective(theta.numpy(), *args)
    assert ours <= numeric.fun + 1e-10
    np.testing.assert_allclose(theta.numpy(), numeric.x, atol=1e-4)


def _median_objective(c: np.ndarray, points: np.ndarray, weights: np.ndarray) -> float:
    return float((weights * np.linalg.norm(points - c, axis=1)).sum())


# --- per-task linear problems -------------------------------------------------------------------
def tasks(seed: int, loss: str = "squared") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per task r, features x (n_r, Q + P) and targets (related coefficients, own intercepts)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=Q + P)
    xs, ys = [], []
    for r, n in enumerate(SIZES):
        x = rng.normal(size=(n, Q + P)) + 0.3 * r
        eta = x @ (shared + 0.5 * rng.normal(size=Q + P)) + r - 1
        if loss == "squared":
            y = eta + 0.3 * rng.normal(size=n)
        else:
            y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.float64)
        xs.append(x)
        ys.append(y)
    return xs, ys


def problem(xs: list[np.ndarray], ys: list[np.ndarray], loss: str = "squared") -> TaskLinearProblem:
    """``TaskLinearProblem`` of one configuration on the rows [x, 1], packed per task."""
    source = torch.repeat_interleave(torch.arange(len(xs)), torch.tensor([len(x) for x in xs]))
    x = torch.from_numpy(np.concatenate(xs))
    rows = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], 1)
    y = torch.from_numpy(np.concatenate(ys))
    groups = RowGroups.of(source, len(xs))
    mask = groups.pack(torch.ones(len(y), 1, dtype=F64))[..., 0] > 0
    return TaskLinearProblem(groups.pack(rows)[None], groups.pack(y[:, None])[..., 0], mask, loss)


def start(seed: int | None = None) -> Coefficients:
    R, k = len(SIZES), Q + P + 1
    if seed is None:
        return Coefficients(torch.zeros(1, R, k, dtype=F64), torch.zeros(1, Q + P, dtype=F64), Q, P)
    generator = torch.Generator().manual_seed(seed)
    theta = torch.randn(1, R, k, generator=generator, dtype=F64)
    return Coefficients(theta, torch.randn(1, Q + P, generator=generator, dtype=F64), Q, P)


def penalties(alpha: float, beta: float, kind: str = "centre", tied: bool = False) -> Penalties:
    R = len(SIZES)
    a = torch.full((1, R), alpha, dtype=F64)
    b = torch.full((1, R), beta, dtype=F64)
    return Penalties(a, b, kind, tied)  # type: ignore[arg-type]


def objective(prob: TaskLinearProblem, coefficients: Coefficients, pen: Penalties) -> float:
    return float(prob.value(coefficients.theta).sum(-1) + penalty_value(coefficients, pen))


def with_intercept(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def test_the_problem_holds_each_tasks_gram_moment_and_step() -> None:
    xs, ys = tasks(0)
    prob = problem(xs, ys)
    for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
        z = with_intercept(x)
        np.testing.assert_allclose(prob.gram[0, r].numpy(), z.T @ z / len(z), rtol=1e-12)
        np.testing.assert_allclose(prob.moment[0, r].numpy(), z.T @ y / len(z), rtol=1e-12)
        largest = np.linalg.eigvalsh(z.T @ z / len(z))[-1]
        assert prob.lipschitz[0, r].item() == pytest.approx(largest, rel=1e-12)
    assert prob.count.tolist() == list(SIZES)


def test_ridge_converges_to_the_normal_equations_with_a_free_intercept() -> None:
    xs, ys = tasks(1)
    lam = 0.7
    fitted = proximal_steps(problem(xs, ys), start(), penalties(lam, lam, "ridge"), 3000)
    for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
        z, n = with_intercept(x), len(x)
        penalised = np.diag([lam] * (Q + P) + [0.0])  # I' is zero on the intercept
        closed = np.linalg.solve(z.T @ z / n + penalised, z.T @ y / n)
        np.testing.assert_allclose(fitted.theta[0, r].numpy(), closed, atol=1e-8)


def test_centre_penalty_with_c_zero_is_least_squares_per_task() -> None:
    xs, ys = tasks(2)
    fitted = proximal_steps(problem(xs, ys), start(), penalties(0.0, 0.0), 3000)
    for r, (x, y) in enumerate(zip(xs, ys, strict=True)):
        closed, *_ = np.linalg.lstsq(with_intercept(x), y, rcond=None)
        np.testing.assert_allclose(fitted.theta[0, r].numpy(), closed, atol=1e-8)


def pooled_least_squares(xs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
    """argmin Σ_r (1/n_r) Σ_i ½(y − xβ − b_r)²: (R, d + 1), each task's [β, b_r]."""
    R = len(xs)
    design = np.vstack([np.hstack([x, np.eye(R)[[r] * len(x)]]) for r, x in enumerate(xs)])
    weight = np.concatenate([np.full(len(x), 1 / len(x)) for x in xs]) ** 0.5
    solution, *_ = np.linalg.lstsq(
        design * weight[:, None], np.concatenate(ys) * weight, rcond=None
    )
    d = xs[0].shape[1]
    return np.stack([np.append(solution[:d], solution[d + r]) for r in range(R)])


def test_tied_is_pooled_least_squares_with_task_intercepts() -> None:
    xs, ys = tasks(3)
    # only β is tied: put every feature in the β block
    prob = problem(xs, ys)
    R, k = len(SIZES), Q + P + 1
    coefficients = Coefficients(
        torch.zeros(1, R, k, dtype=F64), torch.zeros(1, Q + P, dtype=F64), 0, Q + P
    )
    pen = Penalties(torch.zeros(1, R, dtype=F64), torch.zeros(1, R, dtype=F64), "centre", True)
    fitted = proximal_steps(prob, coefficients, pen, 3000)
    np.testing.assert_allclose(fitted.theta[0].numpy(), pooled_least_squares(xs, ys), atol=1e-7)
    torch.testing.assert_close(fitted.centre[0], fitted.theta[0, 0, :-1])


def test_tied_ridge_is_pooled_ridge_and_minimises_the_objective_it_reports() -> None:
    """One β for all tasks, its ridge penalty (λ/2)‖β‖² counted once: the closed form
    (Σ_r Z_rᵀZ_r/n_r + λI')θ = Σ_r Z_rᵀy_r/n_r, with one-hot task intercepts in Z."""
    xs, ys = tasks(3)
    prob = problem(xs, ys)
    R, k, lam = len(SIZES), Q + P + 1, 2.0
    zero = Coefficients(torch.zeros(1, R, k, dtype=F64), torch.zeros(1, Q + P, dtype=F64), 0, Q + P)
    pen = Penalties(torch.zeros(1, R, dtype=F64), torch.full((1, R), lam, dtype=F64), "ridge", True)
    fitted = proximal_steps(prob, zero, pen, 3000)
    design = np.vstack([np.hstack([x, np.eye(R)[[r] * len(x)]]) for r, x in enumerate(xs)])
    weight = np.concatenate([np.full(len(x), 1 / len(x)) for x in xs])
    gram = design.T @ (design * weight[:, None])
    moment = design.T @ (np.concatenate(ys) * weight)
    solution = np.linalg.solve(gram + np.diag([lam] * (Q + P) + [0.0] * R), moment)
    closed = np.stack([np.append(solution[: Q + P], solution[Q + P + r]) for r in range(R)])
    np.testing.assert_allclose(fitted.theta[0].numpy(), closed, atol=1e-8)
    # the objective it reports (value + penalty_value) is minimal there
    best = torch.from_numpy(closed)[None]
    for shift in (1e-3, -1e-3):
        moved = best.clone()
        moved[..., : Q + P] += shift
        nearby = Coefficients(moved, moved[:, 0, :-1].clone(), 0, Q + P)
        assert objective(prob, fitted, pen) < objective(prob, nearby, pen)


@pytest.mark.parametrize("c", [1.0, 1e3])
def test_a_large_centre_penalty_ties_the_tasks(c: float) -> None:
    xs, ys = tasks(3)
    prob = problem(xs, ys)
    R, k = len(SIZES), Q + P + 1
    zero = Coefficients(torch.zeros(1, R, k, dtype=F64), torch.zeros(1, Q + P, dtype=F64), 0, Q + P)
    pen = Penalties(torch.zeros(1, R, dtype=F64), torch.full((1, R), c, dtype=F64))
    fitted = proximal_steps(prob, zero, pen, 3000)
    pooled = torch.from_numpy(pooled_least_squares(xs, ys))[None]
    tied = Coefficients(pooled, pooled[:, 0, :-1].clone(), 0, Q + P)
    # the tied fit is feasible with zero penalty: the minimum cannot be above it
    assert objective(prob, fitted, pen) <= objective(prob, tied, pen) + 1e-9
    if c > 100:  # beyond every task's gradient at the tied fit, the tied fit is the minimum
        np.testing.assert_allclose(fitted.theta.numpy(), pooled.numpy(), atol=1e-6)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize(
    "pen",
    [
        penalties(0.3, 0.2),
        penalties(0.05, 2.0),
        penalties(0.4, 0.6, "ridge"),
        penalties(0.3, 0.0, tied=True),
        penalties(0.4, 2.0, "ridge", tied=True),
    ],
    ids=["centre", "centre-strong-beta", "ridge", "tied", "tied-ridge"],
)
def test_every_proximal_step_lowers_the_objective(loss: str, pen: Penalties) -> None:
    xs, ys = tasks(4, loss)
    prob = problem(xs, ys, loss)
    coefficients = start(seed=5)
    if pen.tied:  # a tied model starts, as it stays, with one β for all tasks
        coefficients.theta[..., Q : Q + P] = coefficients.theta[:, :1, Q : Q + P]
    values = [objective(prob, coefficients, pen)]
    for _ in range(50):
        coefficients = proximal_steps(prob, coefficients, pen, 1)
        values.append(objective(prob, coefficients, pen))
    for before, after in itertools.pairwise(values):
        assert after <= before + 1e-12 * abs(before)
    assert values[-1] < values[0] - 1e-3


def test_logistic_gradient_is_the_gradient_of_the_value() -> None:
    xs, ys = tasks(6, "logistic")
    prob = problem(xs, ys, "logistic")
    theta = start(seed=7).theta.requires_grad_()
    (autograd,) = torch.autograd.grad(prob.value(theta).sum(), theta)
    torch.testing.assert_close(prob.gradient(theta.detach()), autograd, rtol=0, atol=1e-12)
    squared = problem(*tasks(6))
    (autograd,) = torch.autograd.grad(squared.value(theta).sum(), theta)
    torch.testing.assert_close(squared.gradient(theta.detach()), autograd, rtol=0, atol=1e-12)


def test_padded_rows_do_not_count() -> None:
    """Task 1 has fewer rows than the block: whatever sits in its padding changes nothing."""
    xs, ys = tasks(8)
    prob = problem(xs, ys)
    features, targets, mask = prob.features.clone(), prob.targets.clone(), prob.weight > 0
    features[:, ~mask] = 7.0
    targets[~mask] = -3.0
    dirty = TaskLinearProblem(features, targets, mask, "squared")
    theta: Tensor = start(seed=9).theta
    torch.testing.assert_close(dirty.value(theta), prob.value(theta))
    torch.testing.assert_close(dirty.gradient(theta), prob.gradient(theta))
