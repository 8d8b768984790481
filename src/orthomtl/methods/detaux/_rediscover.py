"""Detaux's discovery alone, from a run whose autoencoder stage has finished.

    orthomtl discover RUN_DIR clusterer=kmeans n_clusters=10 --out RUN_DIR/discovery-kmeans

re-embeds the run's data with its trained autoencoder and discovers the auxiliary task(s) again
with other options, without training anything. The new directory is served to any method by the
``detaux-labels`` dataset, like the run's own.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orthomtl.config import from_dict
from orthomtl.engine import read_checkpoint, read_config
from orthomtl.methods.detaux._discover import DIRECTORY, discover
from orthomtl.methods.detaux._method import Detaux
from orthomtl.registry import DATASETS

_METHOD_KEYS = ("num_aux_tasks",)


def discover_from_run(
    run_dir: str | Path, out: str | Path | None = None, options: Mapping[str, Any] | None = None
) -> Path:
    """Run the discovery stage of a Detaux run again, with its trained autoencoder.

    Args:
        run_dir: the run directory (its ``checkpoints/`` hold the autoencoder).
        out: the new discovery directory; by default ``RUN_DIR/discovery``, which must not exist.
        options: ``method.discovery`` options to change (e.g. ``clusterer``, ``subspace_rule``),
            and ``num_aux_tasks``.

    Returns:
        The discovery directory written.

    Raises:
        ValueError: if the run is not a Detaux run, or on an unknown option.
        FileExistsError: if ``out`` exists.
        FileNotFoundError: if the run has no autoencoder checkpoint.
    """
    run_dir = Path(run_dir)
    config = from_dict(read_config(run_dir))
    if config.method.name != "detaux":
        raise ValueError(f"{run_dir} is a {config.method.name!r} run, not a detaux run.")
    target = run_dir / DIRECTORY if out is None else Path(out)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose another directory with out=/--out.")
    changes = dict(options or {})
    method_options = dict(config.method.options)
    for key in _METHOD_KEYS:
        if key in changes:
            method_options[key] = changes.pop(key)
    method_options["discovery"] = {**(method_options.get("discovery") or {}), **changes}
    method_options["compile"] = False  # a few forward passes: not worth compiling
    data_config = config.data
    data = DATASETS.get(data_config.name).loader(
        seed=config.seeds[0],
        path=data_config.path,
        tasks=data_config.tasks,
        **data_config.options,
    )
    method = Detaux(data.tasks, data.input_shape, config.model, **method_options)
    checkpoints = run_dir / "checkpoints"
    best, last = checkpoints / "best.ckpt", checkpoints / "last.ckpt"
    chosen = best if config.trainer.final == "best" and best.is_file() else last
    method.network.load_state_dict(read_checkpoint(chosen)["model"])
    discover(method.network, data, method.principal.name, method.discovery, target, run_dir)
    return target
