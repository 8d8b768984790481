"""``hetero-sim``: simulated heterogeneous tasks that share part of their signal (dual encoder).

Our design (the dual-encoder paper's simulation text is not available here): the model, its
defaults and the order of its random draws are in ``_hetero_design``. This module serves it as
multi-source data: per task, ``n`` labelled rows cut into validation and training, and fresh test
rows; or, with ``new_tasks``, tasks of the same design held out from training (transfer).
"""

import numpy as np

from orthomtl.data._base import DatasetInfo, TaskData, select_tasks
from orthomtl.data._hetero_design import SimulatedTasks, simulate_tasks
from orthomtl.data._multi_source import Kind, multi_source_data, source_task
from orthomtl.registry import DATASETS

NAME = "hetero-sim"


def load_hetero_sim(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    num_tasks: int = 6,
    features: int = 20,
    shared_dim: int = 5,
    task_dim: int = 3,
    shift: float = 0.5,
    rho_max: float = 0.6,
    delta: float = 1.0,
    noise: float = 0.5,
    n: int | list[int] = 100,
    val_fraction: float = 0.2,
    test_size: int = 1000,
    kind: Kind = "regression",
    new_tasks: int = 0,
) -> TaskData:
    """Simulate ``hetero-sim`` as multi-source data: per task, ``n`` labelled rows cut into
    validation (a share ``val_fraction``) and training, and ``test_size`` fresh test rows.

    The other options are those of ``simulate_tasks``. ``tasks`` keeps some of ``task1..taskR``;
    the design and every task's rows stay those of all R tasks. With ``new_tasks`` = k > 0 the
    data is instead k new tasks ``task{R+1}…`` of the same design (its shared nonlinearity and
    centres; their own inputs, nonlinearity and coefficients), ``n`` labelled rows each: a task
    to transfer a trained model to (``dual-encoder-transfer``).

    Raises:
        ValueError: on a path, an unknown task, or an option out of range.
    """
    if path is not None:
        raise ValueError(
            f"{NAME}: the dataset is simulated and takes no path; got path={path!r}. Remove "
            "data.path."
        )
    sim = simulate_tasks(
        seed=seed,
        num_tasks=num_tasks,
        features=features,
        shared_dim=shared_dim,
        task_dim=task_dim,
        shift=shift,
        rho_max=rho_max,
        delta=delta,
        noise=noise,
        n=n,
        test_size=test_size,
        kind=kind,
        extra_tasks=new_tasks,
    )
    if new_tasks:
        return _new_tasks(sim, seed, new_tasks, n, test_size, val_fraction, kind)
    names = sim.task_names
    chosen = [
        names.index(t.name)
        for t in select_tasks([source_task(m, kind) for m in names], tasks, NAME)
    ]
    return multi_source_data(
        NAME,
        [sim.features[r] for r in chosen],
        [sim.targets[r] for r in chosen],
        [names[r] for r in chosen],
        kind=kind,
        seed=seed,
        val_fraction=val_fraction,
        test=([sim.test_features[r] for r in chosen], [sim.test_targets[r] for r in chosen]),
    )


def _new_tasks(
    sim: SimulatedTasks,
    seed: int,
    count: int,
    n: int | list[int],
    test_size: int,
    val_fraction: float,
    kind: Kind,
) -> TaskData:
    """The ``count`` held-out tasks of ``sim.design``, drawn from their own seed stream."""
    first = len(sim.features)
    sizes = n if isinstance(n, list) else [n] * count
    if len(sizes) != count:
        raise ValueError(f"{NAME}: n lists {len(sizes)} sizes for {count} new tasks.")
    streams = np.random.SeedSequence([seed, 1, first]).spawn(2 * count)
    labelled = [
        sim.design.sample(first + j, sizes[j], np.random.default_rng(streams[2 * j]))
        for j in range(count)
    ]
    test = [
        sim.design.sample(first + j, test_size, np.random.default_rng(streams[2 * j + 1]))
        for j in range(count)
    ]
    return multi_source_data(
        NAME,
        [x for x, _ in labelled],
        [y for _, y in labelled],
        [f"task{first + j + 1}" for j in range(count)],
        kind=kind,
        seed=seed,
        val_fraction=val_fraction,
        test=([x for x, _ in test], [y for _, y in test]),
    )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_hetero_sim,
        summary="simulated heterogeneous tasks with a shared and a task-specific nonlinear signal",
        tasks="task1..taskR, all regression or all binary",
        source="simulated (our design; see orthomtl.data.simulate_tasks)",
        options={
            "num_tasks": "R, number of tasks (default 6)",
            "features": "d, number of features (default 20)",
            "shared_dim": "outputs of the shared nonlinearity tanh(W_h x) (default 5)",
            "task_dim": "outputs of each task's nonlinearity relu(W_r x) (default 3)",
            "shift": "norm of each task's feature mean (default 0.5)",
            "rho_max": "AR(1) feature correlations are uniform on [0, rho_max] (default 0.6)",
            "delta": "distance of each task's coefficients from the centres (default 1.0)",
            "noise": "standard deviation of the regression noise (default 0.5)",
            "n": "labelled rows per task, one number or one per task (default 100)",
            "val_fraction": "share of the labelled rows for validation (default 0.2)",
            "test_size": "fresh test rows per task (default 1000)",
            "kind": "regression (default) or binary (y ~ Bernoulli(sigmoid(eta)))",
            "new_tasks": "k > 0: serve k new tasks of the same design instead (for transfer)",
        },
    )
)
