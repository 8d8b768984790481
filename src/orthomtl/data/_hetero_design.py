"""The ``hetero-sim`` simulation: its true design and its draws (the dataset is ``_hetero_sim``).

This is our design: the simulation text of the dual-encoder paper (arXiv 2505.24281) is not
available here, so the model below follows its setting (a shared and a task-specific part,
coefficients scattered around common centres) but none of its numbers.

Model. Task r (r = 1..R) has features x ∈ R^d drawn from N(μ_r, Σ_r), with μ_r = shift·u_r (u_r a
random unit vector) and an AR(1) covariance Σ_ij = ρ_r^|i−j|, ρ_r ~ U[0, rho_max]. A shared
nonlinearity h(x) = tanh(W_h x) ∈ R^p (p = ``shared_dim``) and a task nonlinearity
g_r(x) = relu(W_r x) ∈ R^q (q = ``task_dim``), all entries of W_h and W_r ~ N(0, 1/d), give the
noiseless value

    η_r(x) = α*_rᵀ g_r(x) + β*_rᵀ h(x),   α*_r = ᾱ* + δ·a_r,   β*_r = β̄* + δ·b_r,

with ᾱ*, β̄* ~ N(0, I) and a_r, b_r random unit vectors: δ (``delta``) is how far each task's
coefficients stray from the common centres (δ = 0: one set of coefficients). Regression:
y = η + ε, ε ~ N(0, noise²), so the Bayes risk in mean squared error is noise². Binary:
y ~ Bernoulli(sigmoid(η)).

Random draws, in a fixed order. ``np.random.SeedSequence(seed)`` spawns the design (child 0) and
the samples (child 1). The design's child 0 draws W_h, ᾱ*, β̄*, in this order; its child r draws
task r's u_r, ρ_r, W_r, a_r, b_r (r = 1, 2, ...). The samples' child 0 spawns one generator per
task for its labelled rows, child 1 one per task for its test rows; each draws the standard
normals behind x, then the noise (normals, or uniforms for the Bernoulli draws). So the design
depends on neither ``n``, ``test_size`` nor ``kind``; task r's design not on the number of tasks;
and the test rows not on ``n``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from orthomtl.data._multi_source import Kind

NAME = "hetero-sim"


@dataclass(frozen=True, eq=False)
class HeteroDesign:
    """The true design of ``hetero-sim`` (see the module docstring), for T tasks.

    Attributes:
        means: μ_r, (T, d).
        rhos: ρ_r, (T,).
        shared_weights: W_h, (p, d).
        task_weights: W_r, (T, q, d).
        alpha: α*_r, (T, q).
        beta: β*_r, (T, p).
        alpha_centre: ᾱ*, (q,).
        beta_centre: β̄*, (p,).
        noise: the standard deviation of ε (unused when ``kind`` is ``binary``).
        kind: ``regression`` or ``binary``.
    """

    means: np.ndarray
    rhos: np.ndarray
    shared_weights: np.ndarray
    task_weights: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    alpha_centre: np.ndarray
    beta_centre: np.ndarray
    noise: float
    kind: Kind

    @property
    def num_tasks(self) -> int:
        return len(self.rhos)

    @property
    def bayes_error(self) -> float | None:
        """The lowest attainable mean squared error, noise² (regression); ``None`` for binary."""
        return self.noise**2 if self.kind == "regression" else None

    def covariance(self, task: int) -> np.ndarray:
        """Σ_r of task ``task`` (0-based), (d, d): Σ_ij = ρ_r^|i−j|."""
        lags = np.arange(self.means.shape[1])
        return self.rhos[task] ** np.abs(lags[:, None] - lags[None, :])

    def noiseless(self, task: int, x: np.ndarray) -> np.ndarray:
        """η_r(x) = α*_rᵀ relu(W_r x) + β*_rᵀ tanh(W_h x) for rows x (n, d); (n,)."""
        own = np.maximum(x @ self.task_weights[task].T, 0.0)
        return own @ self.alpha[task] + np.tanh(x @ self.shared_weights.T) @ self.beta[task]

    def sample(self, task: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` fresh rows of task ``task`` (0-based): x (n, d), and y (n,), real or 0/1 int64.

        Draws the (n, d) standard normals behind x first, then n noise normals (regression) or
        n uniforms (binary).
        """
        chol = np.linalg.cholesky(self.covariance(task))
        x = self.means[task] + rng.standard_normal((n, self.means.shape[1])) @ chol.T
        eta = self.noiseless(task, x)
        if self.kind == "binary":
            return x, (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
        return x, eta + self.noise * rng.standard_normal(n)


@dataclass(frozen=True, eq=False)
class SimulatedTasks:
    """What ``simulate_tasks`` returns: per task, labelled and test rows, and the true design.

    ``design`` may hold more tasks than the data (``extra_tasks``), for transfer experiments:
    ``design.sample(num_tasks, n_new, rng)`` draws rows of the first held-out task.
    """

    features: list[np.ndarray]
    targets: list[np.ndarray]
    test_features: list[np.ndarray]
    test_targets: list[np.ndarray]
    design: HeteroDesign

    @property
    def task_names(self) -> list[str]:
        return [f"task{r}" for r in range(1, len(self.features) + 1)]


def _unit(rng: np.random.Generator, size: int) -> np.ndarray:
    vector = rng.standard_normal(size)
    return vector / np.linalg.norm(vector)


def _check_options(
    ints: dict[str, tuple[int, int]], reals: dict[str, tuple[float, float, float]]
) -> None:
    """Integers at least their bound; reals within [low, high)."""
    for option, (value, low) in ints.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise ValueError(f"{NAME}: {option} must be an integer >= {low}, got {value!r}.")
    for option, (value, low, high) in reals.items():
        if not low <= value < high:
            bounds = f"in [{low}, {high})" if high < np.inf else f">= {low}"
            raise ValueError(f"{NAME}: {option} must be {bounds}, got {value!r}.")


def simulate_tasks(
    *,
    seed: int = 0,
    num_tasks: int = 6,
    features: int = 20,
    shared_dim: int = 5,
    task_dim: int = 3,
    shift: float = 0.5,
    rho_max: float = 0.6,
    delta: float = 1.0,
    noise: float = 0.5,
    n: int | Sequence[int] = 100,
    test_size: int = 1000,
    kind: Kind = "regression",
    extra_tasks: int = 0,
) -> SimulatedTasks:
    """Draw a design and each task's rows (see the module docstring for the model and the order).

    Args:
        seed: the root of every draw; seed ``k`` is replication ``k``.
        num_tasks: R, the number of tasks with data.
        features: d, the number of features.
        shared_dim: p, the outputs of the shared nonlinearity h.
        task_dim: q, the outputs of each task's nonlinearity g_r.
        shift: the norm of each task's feature mean μ_r.
        rho_max: the AR(1) correlations ρ_r are uniform on [0, rho_max].
        delta: δ, each task's coefficient distance from the common centres.
        noise: the standard deviation of ε (regression).
        n: labelled rows per task: one number, or one per task.
        test_size: fresh test rows per task.
        kind: ``regression`` or ``binary``.
        extra_tasks: tasks added to the design only, without rows (for transfer experiments).

    Raises:
        ValueError: on an option out of range, or an ``n`` list that is not one count per task.
    """
    _check_options(
        {
            "num_tasks": (num_tasks, 1),
            "features": (features, 1),
            "shared_dim": (shared_dim, 1),
            "task_dim": (task_dim, 1),
            "test_size": (test_size, 1),
            "extra_tasks": (extra_tasks, 0),
        },
        {
            "shift": (shift, 0, np.inf),
            "rho_max": (rho_max, 0, 1),
            "delta": (delta, 0, np.inf),
            "noise": (noise, 0, np.inf),
        },
    )
    if kind not in ("regression", "binary"):
        raise ValueError(f"{NAME}: kind must be 'regression' or 'binary', got {kind!r}.")
    sizes = [n] * num_tasks if isinstance(n, Integral) else list(n)
    if len(sizes) != num_tasks:
        raise ValueError(
            f"{NAME}: n lists {len(sizes)} sizes for {num_tasks} tasks; give one number, or one "
            "per task."
        )
    _check_options({f"n[{r}]": (size, 1) for r, size in enumerate(sizes)}, {})
    design_seq, samples_seq = np.random.SeedSequence(seed).spawn(2)
    shared, *per_task = map(np.random.default_rng, design_seq.spawn(1 + num_tasks + extra_tasks))
    scale = 1 / np.sqrt(features)
    shared_weights = shared.normal(0, scale, (shared_dim, features))
    alpha_centre, beta_centre = shared.standard_normal(task_dim), shared.standard_normal(shared_dim)
    means, rhos, task_weights, alpha, beta = [], [], [], [], []
    for rng in per_task:
        means.append(shift * _unit(rng, features))
        rhos.append(rng.uniform(0, rho_max))
        task_weights.append(rng.normal(0, scale, (task_dim, features)))
        alpha.append(alpha_centre + delta * _unit(rng, task_dim))
        beta.append(beta_centre + delta * _unit(rng, shared_dim))
    design = HeteroDesign(
        *map(np.array, (means, rhos)),
        shared_weights,
        *map(np.array, (task_weights, alpha, beta)),
        alpha_centre,
        beta_centre,
        float(noise),
        kind,
    )
    labelled_seq, test_seq = samples_seq.spawn(2)
    labelled = [
        design.sample(r, size, np.random.default_rng(child))
        for r, (size, child) in enumerate(zip(sizes, labelled_seq.spawn(num_tasks), strict=True))
    ]
    test = [
        design.sample(r, test_size, np.random.default_rng(child))
        for r, child in enumerate(test_seq.spawn(num_tasks))
    ]
    return SimulatedTasks(
        [x for x, _ in labelled],
        [y for _, y in labelled],
        [x for x, _ in test],
        [y for _, y in test],
        design,
    )
