"""``detaux-labels``: the data of a finished Detaux discovery, with its auxiliary tasks.

``data: {name: detaux-labels, path: RUN_DIR/discovery}`` serves the dataset the Detaux run was
trained on (rebuilt from the run's ``config.yaml``) with the principal task and the discovered
auxiliary tasks, so the MTL stage can be trained alone, with any method: ``hps`` with any
weighting or aggregator, or ``stl`` on the principal task (``data.tasks: [scale]``) for the
comparison. The base data is built with the Detaux run's seed, whatever the training seed, since
the saved labels follow that seed's splits; the split sizes are checked against the labels.
"""

from pathlib import Path

import numpy as np

from orthomtl.config import from_dict
from orthomtl.data import DatasetInfo, TaskData, with_labels
from orthomtl.engine import read_config
from orthomtl.methods.detaux._discover import (
    DIRECTORY,
    SPLITS,
    auxiliary_tasks,
    label_file,
    read_discovery,
)
from orthomtl.registry import DATASETS

NAME = "detaux-labels"


def load_detaux_labels(
    *, seed: int = 0, path: str | None = None, tasks: list[str] | None = None
) -> TaskData:
    """The Detaux run's data with the auxiliary labels of its discovery directory.

    Args:
        seed: the training seed (not used for the data; see the module docstring).
        path: the discovery directory, or the Detaux run directory holding it.
        tasks: the tasks to serve, among the principal task and ``aux1``, ``aux2``, ...; the
            principal task is always served. ``None``: all of them.

    Raises:
        ValueError: without a path, on an unknown task, or labels that do not fit the data.
        FileNotFoundError: if the directory holds no finished discovery.
    """
    if path is None:
        raise ValueError(
            f"{NAME} needs data.path: a Detaux run's discovery directory (RUN_DIR/{DIRECTORY})."
        )
    directory = Path(path)
    if (directory / DIRECTORY).is_dir():
        directory = directory / DIRECTORY
    summary = read_discovery(directory)
    run = from_dict(read_config(Path(summary.get("run_dir", directory.parent))))
    config, run_seed = run.data, run.seeds[0]
    base = DATASETS.get(config.name).loader(
        seed=run_seed, path=config.path, tasks=config.tasks, **config.options
    )
    available = [summary["principal"], *(t.name for t in auxiliary_tasks(summary))]
    wanted = available if tasks is None else list(tasks)
    if unknown := [name for name in wanted if name not in available]:
        raise ValueError(f"{NAME}: no task(s) {unknown} in {directory}; it has {available}.")
    chosen = [t for t in auxiliary_tasks(summary) if t.name in wanted]
    labels = {}
    for split in SPLITS:
        array = np.load(directory / label_file(split), allow_pickle=False)
        if len(array) != len(getattr(base, split)):
            raise ValueError(
                f"{NAME}: {directory / label_file(split)} holds {len(array)} labels but the "
                f"{split} split of {config.name!r} has {len(getattr(base, split))} samples; the "
                "run's data has changed since its discovery. Rerun the discovery."
            )
        columns = [t["name"] for t in summary["tasks"]]
        labels[split] = {t.name: array[:, columns.index(t.name)] for t in chosen}
    return with_labels(base, labels, chosen)


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_detaux_labels,
        summary="a Detaux run's data with its discovered auxiliary tasks (for MTL or STL alone)",
        tasks="the principal task and aux1, aux2, ... (classification)",
        needs_path=True,
        source="the discovery directory of a detaux run (RUN_DIR/discovery)",
    )
)
