"""The dual encoder and its baselines, each registered as a method.

Every one is a ``TabularMTL`` with a fixed structure, selecting among the configurations its
options span (lists of values: every combination, at most 8) on validation:

| method | shared block | task block | coefficients |
|---|---|---|---|
| ``dual-encoder`` | MLP C (p) | MLP S_r (q) | centre penalties on α and β, λ_o |
| ``shared-only`` | MLP C (p) | – | β-centre penalty (c = 0: HPS with linear heads) |
| ``specific-only`` | – | MLP S_r (q) | α-centre penalty |
| ``single-task-mlp`` | – | MLP S_r (q) | free; selected per task |
| ``pooled-mlp`` | MLP C (p) | – | one β for all tasks, task intercepts |
| ``armul`` | raw features | – | centre penalty, λ_r = c√(d/n_r) (Duan & Wang, 2023) |
| ``single-task-ridge`` | raw features | – | ridge (λ = c); selected per task |
| ``pooled-ridge`` | raw features | – | ridge, one θ for all tasks, task intercepts |

Every method has a per-task intercept, standardises the inputs on the training split, and stops
early per task.
"""

from collections.abc import Sequence

from orthomtl.config import ModelConfig
from orthomtl.methods.dual_encoder._method import TabularMTL
from orthomtl.methods.dual_encoder._model import as_list, configuration_grid
from orthomtl.registry import METHODS
from orthomtl.tasks import Task

Grid = float | list[float] | tuple[float, ...]
Widths = int | list[int]


@METHODS.register("dual-encoder")
class DualEncoder(TabularMTL):
    """Shared and task-specific encoders, coefficients pulled to centres, orthogonality
    (arXiv 2505.24281 as reconstructed in our notes: the paper's full text is not public).

    Args:
        shared_dim: p, the shared latent's width (a list: selected among).
        task_dim: q, each task latent's width.
        c: the centre penalties' constant, λ_α,r = c√(q/n_r), λ_β,r = c√(p/n_r).
        orthogonality: λ_o.
        centres: which centre penalties are on (``alpha``, ``beta``; fewer for the ablations).
        single_task_dims: widths of the single-task MLPs trained alongside (the gain of
            sharing per task, and ``fallback``).
        fallback: ``stl`` serves a task by its single-task MLP when validation says sharing
            does not help it.
        early_stopping: ``per-task`` (each task served from its best round) or ``joint``.
        hidden, activation: every encoder's hidden widths and activation.
        prox_steps: proximal and centre steps per round.
    """

    summary = "dual encoder: shared + task-specific MLPs, coefficient centres, orthogonality"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        shared_dim: Widths = 8,
        task_dim: Widths = 4,
        c: Grid = 0.1,
        orthogonality: Grid = 0.1,
        centres: tuple[str, ...] = ("alpha", "beta"),
        single_task_dims: tuple[int, ...] = (4,),
        fallback: str = "none",
        early_stopping: str = "per-task",
        hidden: tuple[int, ...] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
    ) -> None:
        grid = configuration_grid(
            as_list(shared_dim), as_list(task_dim), as_list(c), as_list(orthogonality)
        )
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            centres=centres,
            single_task_dims=single_task_dims,
            fallback=fallback,
            early_stopping=early_stopping,
            hidden=hidden,
            activation=activation,
            prox_steps=prox_steps,
        )


@METHODS.register("shared-only")
class SharedOnly(TabularMTL):
    """The shared encoder C with per-task linear heads β_r pulled to a centre (c = 0: HPS)."""

    summary = "baseline: one shared MLP, per-task linear heads pulled to a centre"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        shared_dim: Widths = 8,
        c: Grid = 0.1,
        hidden: tuple[int, ...] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
    ) -> None:
        grid = configuration_grid(as_list(shared_dim), [0], as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            hidden=hidden,
            activation=activation,
            prox_steps=prox_steps,
        )


@METHODS.register("specific-only")
class SpecificOnly(TabularMTL):
    """Task-specific encoders S_r only, their heads α_r pulled to a centre."""

    summary = "baseline: one MLP per task, linear heads pulled to a centre"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        task_dim: Widths = 4,
        c: Grid = 0.1,
        hidden: tuple[int, ...] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
    ) -> None:
        grid = configuration_grid([0], as_list(task_dim), as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            hidden=hidden,
            activation=activation,
            prox_steps=prox_steps,
        )


@METHODS.register("single-task-mlp")
class SingleTaskMLP(TabularMTL):
    """One MLP and linear head per task, nothing shared; the width selected per task."""

    summary = "baseline: one MLP per task, trained alone"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        task_dim: Widths = 4,
        hidden: tuple[int, ...] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
    ) -> None:
        grid = configuration_grid([0], as_list(task_dim), [0.0], [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            per_task_selection=True,
            hidden=hidden,
            activation=activation,
            prox_steps=prox_steps,
        )


@METHODS.register("pooled-mlp")
class PooledMLP(TabularMTL):
    """One MLP for all tasks (one β), with an intercept per task."""

    summary = "baseline: one MLP for all tasks, task intercepts"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        shared_dim: Widths = 8,
        hidden: tuple[int, ...] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
    ) -> None:
        grid = configuration_grid(as_list(shared_dim), [0], [0.0], [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            tied=True,
            hidden=hidden,
            activation=activation,
            prox_steps=prox_steps,
        )


@METHODS.register("armul")
class ARMUL(TabularMTL):
    """Linear ARMUL (Duan & Wang, Annals of Statistics 2023): per-task linear models on the
    standardised features pulled to a common centre, λ_r = c√(d/n_r) (their default c = 0.1).

    Args:
        c: the penalty constant (a list: selected among on validation).
        max_prox_steps: proximal and centre steps of the fit.
    """

    summary = "baseline: linear ARMUL, per-task linear models pulled to a centre"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        c: Grid = 0.1,
        max_prox_steps: int = 5000,
    ) -> None:
        grid = configuration_grid([1], [0], as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            shared="identity",
            max_prox_steps=max_prox_steps,
        )


@METHODS.register("single-task-ridge")
class SingleTaskRidge(TabularMTL):
    """Ridge regression (or ℓ2-penalised logistic regression) per task, λ selected per task.

    Args:
        c: the ridge λ values selected among, per task, on validation.
        max_prox_steps: proximal steps of the fit.
    """

    summary = "baseline: ridge per task"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        c: Grid = (0.01, 0.1, 1.0, 10.0),
        max_prox_steps: int = 5000,
    ) -> None:
        grid = configuration_grid([1], [0], as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            shared="identity",
            penalty="ridge",
            per_task_selection=True,
            max_prox_steps=max_prox_steps,
        )


@METHODS.register("pooled-ridge")
class PooledRidge(TabularMTL):
    """Ridge on all tasks' rows (one θ), with an intercept per task; each task's loss is its
    own mean.

    Args:
        c: the ridge λ values selected among on validation.
        max_prox_steps: proximal steps of the fit.
    """

    summary = "baseline: pooled ridge with task intercepts"

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        c: Grid = (0.01, 0.1, 1.0, 10.0),
        max_prox_steps: int = 5000,
    ) -> None:
        grid = configuration_grid([1], [0], as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            shared="identity",
            penalty="ridge",
            tied=True,
            max_prox_steps=max_prox_steps,
        )
