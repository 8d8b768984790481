"""Detaux's stage 2 (paper section 4.2): embed the data, pick the subspace(s), cluster, save.

``<run_dir>/discovery/`` receives ``aux_labels.npy`` (training split, (N, k)),
``aux_labels_val.npy`` and ``aux_labels_test.npy`` (labelled by their nearest clustered
neighbours), ``discovery.json`` (every subspace's score, the cluster sizes, agreement with the
principal task and with the ground-truth factors) and the interpretation plots. It is written
once, atomically (a temporary directory renamed), and read back by ``resume`` and ``load``.

The subspaces are scored on held-out pairs: those of the validation split. The k best live
subspaces are clustered, each into its own auxiliary task; one that yields a single cluster is
skipped for the next one, and recorded.
"""

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orthomtl.data import TaskData, with_labels
from orthomtl.discovery import (
    AuxiliaryTaskDiscovery,
    DiscoveryFailed,
    factor_agreement,
    label_agreement,
    rank_subspaces,
)
from orthomtl.methods.detaux._autoencoder import ProductSpaceAutoencoder
from orthomtl.methods.detaux._embedding import embed
from orthomtl.methods.detaux._plots import save_plots
from orthomtl.tasks import Task

DIRECTORY = "discovery"
SPLITS = ("train", "val", "test")
_PLOT_IMAGES = 64
"""Validation images among which the traversal plot picks its pairs."""
_RANKING_KEYS = ("subspace_rule", "margin", "dead_threshold", "max_pairs", "random_state")


def label_file(split: str) -> str:
    """The file of a split's auxiliary labels in the discovery directory."""
    return "aux_labels.npy" if split == "train" else f"aux_labels_{split}.npy"


@dataclass(frozen=True)
class DiscoveryOptions:
    """``detaux``'s ``num_aux_tasks`` and ``discovery`` options.

    Attributes:
        num_aux_tasks: k, one auxiliary task per best live subspace.
        estimator: keyword options of ``AuxiliaryTaskDiscovery`` (``subspace_rule``,
            ``clusterer``, ``min_cluster_size``, ``n_clusters``, ``max_samples``, ...).
        plots: write the interpretation PNGs.
        batch_size: images per batch when embedding the data.
        max_principal_nmi: a subspace whose clusters have a higher NMI with the principal labels
            is skipped for the next one, as a single cluster is (``None``: never). Our guard: a
            subspace holding a faint copy of the principal factor scores well by the paper's
            rule, since pairs that share the principal label hardly move in it.
    """

    num_aux_tasks: int = 1
    estimator: dict[str, Any] = field(default_factory=dict)
    plots: bool = True
    batch_size: int = 512
    max_principal_nmi: float | None = 0.5

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, Any] | None,
        *,
        num_aux_tasks: int,
        principal_subspace: int,
        margin: float,
    ) -> "DiscoveryOptions":
        """Check ``method.discovery`` now; the subspace score's margin defaults to the
        distance loss's."""
        options = {"margin": margin, **(options or {})}
        plots = bool(options.pop("plots", True))
        batch_size = int(options.pop("batch_size", 512))
        limit = options.pop("max_principal_nmi", 0.5)
        if limit is not None and not 0 <= limit <= 1:
            raise ValueError(f"method.discovery.max_principal_nmi must be in [0, 1], got {limit}.")
        allowed = set(AuxiliaryTaskDiscovery().get_params()) - {"subspace", "principal_subspace"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(
                f"Unknown method.discovery option(s) {unknown}; allowed: "
                f"{sorted(allowed | {'plots', 'batch_size', 'max_principal_nmi'})}."
            )
        estimator = {**options, "principal_subspace": principal_subspace}
        AuxiliaryTaskDiscovery(**estimator)  # the estimator checks its values in fit
        return cls(num_aux_tasks, estimator, plots, batch_size, limit)

    def make(self, subspace: int) -> AuxiliaryTaskDiscovery:
        return AuxiliaryTaskDiscovery(subspace=subspace, **self.estimator)

    def ranking(self) -> dict[str, Any]:
        """The options of ``rank_subspaces``, as the estimator has them."""
        params = AuxiliaryTaskDiscovery(**self.estimator).get_params()
        ranking = {k: params[k] for k in _RANKING_KEYS}
        ranking["rule"] = ranking.pop("subspace_rule")
        return {**ranking, "principal_subspace": params["principal_subspace"]}


def discover(
    network: ProductSpaceAutoencoder,
    data: TaskData,
    principal: str,
    options: DiscoveryOptions,
    directory: Path,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Run stage 2 and write ``directory`` (see the module docstring); returns the record.
    ``run_dir``, the run whose autoencoder and data these are, is recorded (default: the
    directory's parent) for the ``detaux-labels`` dataset.

    Raises:
        DiscoveryFailed: fewer than ``num_aux_tasks`` live subspaces give two clusters or more.
    """
    start = time.perf_counter()
    embedded = {
        name: embed(network, getattr(data, name), principal, options.batch_size) for name in SPLITS
    }
    order, scores, dead = rank_subspaces(
        embedded["val"].codes, embedded["val"].principal, **options.ranking()
    )
    train = embedded["train"]
    tasks, labels, failures = [], {s: [] for s in SPLITS}, []
    for subspace in order:
        if len(tasks) == options.num_aux_tasks:
            break
        estimator = options.make(int(subspace))
        try:
            estimator.fit(train.codes, train.principal)
        except DiscoveryFailed as error:
            failures.append({"subspace": int(subspace), "error": str(error)})
            continue
        agreement = label_agreement(train.principal, estimator.labels_)
        limit = options.max_principal_nmi
        if limit is not None and agreement["nmi"] > limit:
            failures.append(
                {
                    "subspace": int(subspace),
                    "error": f"its clusters repeat the principal task (NMI {agreement['nmi']:.3f} "
                    f"> discovery.max_principal_nmi = {limit})",
                }
            )
            continue
        name = f"aux{len(tasks) + 1}"
        predicted = {"train": estimator.labels_}
        for split in ("val", "test"):
            predicted[split] = estimator.predict(embedded[split].codes)
        for split in SPLITS:
            labels[split].append(predicted[split])
        record = {
            "name": name,
            "subspace": int(subspace),
            "n_clusters": int(estimator.n_clusters_),
            "cluster_sizes": [int(n) for n in estimator.cluster_sizes_],
            "noise_label": estimator.noise_label_,
            "principal_agreement": agreement,
        }
        if train.factors is not None and data.factor_names:
            record["factors"] = factor_agreement(
                estimator.labels_, train.factors, data.factor_names
            )
        tasks.append(record)
    if len(tasks) < options.num_aux_tasks:
        skipped = "; ".join(f"{f['subspace']}: {f['error']}" for f in failures) or "none"
        raise DiscoveryFailed(
            f"Only {len(tasks)} of the {options.num_aux_tasks} auxiliary task(s) asked for were "
            f"found among the {len(order)} live subspace(s) {order.tolist()} (dead: "
            f"{dead.tolist()}; skipped: {skipped}). Lower method.num_aux_tasks or "
            "discovery.dead_threshold; orthomtl discover RUN_DIR reuses the trained autoencoder.",
            subspace_scores=scores,
            cluster_sizes=[],
            subspace=None,
        )
    summary = {
        "principal": principal,
        "principal_subspace": options.ranking()["principal_subspace"],
        "ranking_split": "val",
        "subspace_scores": [None if np.isnan(s) else float(s) for s in scores],
        "dead_subspaces": [int(s) for s in dead],
        "ranking": [int(s) for s in order],
        "skipped": failures,
        "tasks": tasks,
        "estimator": options.estimator,
        "run_dir": str((run_dir or directory.parent).resolve()),
        "factor_names": list(data.factor_names),
    }
    tmp = _fresh(directory)
    for split, arrays in labels.items():
        np.save(tmp / label_file(split), np.stack(arrays, axis=1).astype(np.int64))
    if options.plots:
        val = data.val
        val.set_epoch(0)
        images = val.__getitems__(list(range(min(_PLOT_IMAGES, len(val))))).x
        save_plots(
            network,
            embedded,
            tasks,
            labels,
            tmp,
            images=images,
            principal_subspace=summary["principal_subspace"],
        )
    summary["wall_time_s"] = round(time.perf_counter() - start, 3)
    (tmp / "discovery.json").write_text(json.dumps(summary, indent=1, default=_plain))
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)
    return summary


def _fresh(directory: Path) -> Path:
    """An empty temporary directory beside ``directory``, renamed into place once complete."""
    tmp = directory.with_name(f"{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_discovery(directory: Path) -> dict[str, Any]:
    """``discovery.json`` of a finished discovery."""
    path = Path(directory) / "discovery.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No {path}: the run's discovery stage has not finished; resume the run "
            "(orthomtl resume RUN_DIR) to run it."
        )
    return json.loads(path.read_text())


def auxiliary_tasks(summary: Mapping[str, Any]) -> list[Task]:
    return [Task(t["name"], "classification", t["n_clusters"]) for t in summary["tasks"]]


def labelled_data(data: TaskData, directory: Path, summary: Mapping[str, Any]) -> TaskData:
    """``data`` with the auxiliary labels saved in ``directory`` added as tasks."""
    tasks = auxiliary_tasks(summary)
    labels = {}
    for split in SPLITS:
        array = np.load(directory / label_file(split), allow_pickle=False)
        labels[split] = {task.name: array[:, i] for i, task in enumerate(tasks)}
    return with_labels(data, labels, tasks)
