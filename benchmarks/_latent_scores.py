"""Latent metrics shared by the Domain Expansion benchmarks: baselines scored on PCA axes, DE's
concept algebra checked on the test split, and the markdown cells and rows of their tables.

Baselines (HPS and its aggregators) have no task axes. Their latent is scored on PCA axes fitted
on the training latent, as many per task as DE's layout gives it, split between the tasks on the
test set to maximise the summed metric (``score_on_pca_axes``). Composition uses that mean and
those axes, the class decoder = the HPS head, and for regression and angle tasks a scalar linear
decoder fitted by least squares on the training latent (the HPS angle head outputs cos, sin; a
composition needs a scalar). Class centres come from the training latent, as DE's do. The choices
are ours: the paper does not say how it scores baselines.
"""

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

import orthomtl
from orthomtl.api import load_data
from orthomtl.config import from_dict
from orthomtl.data import TaskDataset
from orthomtl.metrics.functional import (
    class_centres,
    composition_similarity,
    mean_std,
    score_on_pca_axes,
)
from orthomtl.pooling import TaskAxes
from orthomtl.tasks import Task, circular_distance

PAPER = {"solve": "stacked", "class_target": "swap"}
"""The paper's composition: the stacked pseudo-inverse with swapped logits."""


def split_arrays(split: TaskDataset, epoch: int = 0) -> tuple[Tensor, dict[str, np.ndarray]]:
    """A whole split's inputs and labels (the augmentation draws of ``epoch``)."""
    split.set_epoch(epoch)
    batch = split.__getitems__(list(range(len(split))))
    return batch.x, {k: v.numpy() for k, v in batch.targets.items()}


def encode(model: orthomtl.TrainedModel, x: Tensor, chunk: int = 1024) -> np.ndarray:
    return torch.cat([model.encode(part) for part in x.split(chunk)]).double().numpy()


def least_squares(latent: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A scalar decoder y ≈ w·f + b, by least squares on the labelled rows."""
    keep = ~np.isnan(y)
    design = np.hstack([latent[keep], np.ones((int(keep.sum()), 1))])
    solution, *_ = np.linalg.lstsq(design, y[keep], rcond=None)
    return solution[None, :-1], solution[-1:]


def score_baseline(
    run_dir: Any, config: dict[str, Any], seed: int, axes: TaskAxes
) -> dict[str, Any]:
    """Latent metrics of a baseline run (module docstring), with composition floor and ceiling."""
    model = orthomtl.load(run_dir)
    data = load_data(from_dict(config), seed)
    tasks: list[Task] = model.tasks
    x_test, y_test = split_arrays(data.test)
    x_train, y_train = split_arrays(data.train, epoch=0)
    f_test, f_train = encode(model, x_test), encode(model, x_train)
    sizes = [len(columns) for columns in axes]
    scores = score_on_pca_axes(
        f_test, y_test, tasks, axes_per_task=sizes, fit_latent=f_train, seed=0
    )
    out: dict[str, Any] = {f"{t.name}/{scores[t.name].metric}": scores[t.name].value for t in tasks}
    out["pca_axes"] = {t.name: scores[t.name].axes for t in tasks}
    mean = f_train.mean(axis=0)
    _, _, right = np.linalg.svd(f_train - mean, full_matrices=False)
    basis = np.stack([right[a] for t in tasks for a in scores[t.name].axes], axis=1)
    readouts = model.method.linear_readouts()
    if readouts is None:
        raise ValueError("Composition of a baseline needs linear heads (model.head: linear).")
    decoders = []
    for task in tasks:
        if task.kind == "classification":
            weight, bias = readouts[task.name]
            decoders.append((weight.double().numpy(), bias.double().numpy()))
        else:
            decoders.append(least_squares(f_train, y_train[task.name].astype(np.float64)))
    centres = class_centres(f_train, y_train, mean, basis, tasks, axes)
    comp = composition_similarity(
        f_test, mean, basis, decoders, y_test, tasks, axes=axes, centres=centres, seed=0
    )
    out.update(comp.as_dict())
    return out


def _change(task: Task, a: Tensor, b: Tensor) -> Tensor:
    return circular_distance(a - b) if task.kind == "angle" else (a - b).abs()


def algebra_checks(run_dir: Any, config: dict[str, Any], seed: int) -> dict[str, float]:
    """Concept algebra of a DE run on the test split, pairs (p, q) = its first and second half.

    Per class task c, with our composition and with the paper's (``PAPER``): the share of
    compose([c]) decoding to q's class (``algebra/<c>/to_q``) and the mean change of every other
    task's decoded label (``algebra/<c>/<other>_change``, radians for an angle). compose([])
    against f_p (``algebra/identity_max``). Per regression or angle task r, edit(f, r, δ) for
    δ = ±0.3 and 1.0 (radians for an angle, label standard deviations otherwise): the largest
    error of the decoded move (``algebra/<r>/edit_error_max``, in label units). And the
    composition similarity with the paper's solve (``composition/paper_raw``).
    """
    model = orthomtl.load(run_dir)
    algebra = orthomtl.ConceptAlgebra(model)
    x, labels = split_arrays(load_data(from_dict(config), seed).test)
    f = torch.cat([algebra.encode(part) for part in x.split(1024)])
    half = f.shape[0] // 2
    f_p, f_q = f[:half], f[half : 2 * half]
    source, target = algebra.decode(f_p), algebra.decode(f_q)
    tasks: list[Task] = model.tasks
    out: dict[str, float] = {}
    for prefix, options in (("algebra/", {}), ("algebra/paper/", PAPER)):
        for task in (t for t in tasks if t.kind == "classification"):
            mixed = algebra.decode(algebra.compose(f_p, f_q, [task.name], **options))
            hit = (mixed[task.name] == target[task.name]).float().mean()
            out[f"{prefix}{task.name}/to_q"] = float(hit)
            for other in (t for t in tasks if t.kind != "classification"):
                change = _change(other, mixed[other.name], source[other.name])
                out[f"{prefix}{task.name}/{other.name}_change"] = float(change.mean())
    out["algebra/identity_max"] = float((algebra.compose(f_p, f_q, []) - f_p).abs().max())
    decoded = algebra.decode(f)
    for task in (t for t in tasks if t.kind != "classification"):
        unit = 1.0 if task.kind == "angle" else float(np.nanstd(labels[task.name]))
        errors = [
            _change(
                task,
                algebra.decode(algebra.edit(f, task.name, d * unit))[task.name],
                decoded[task.name] + d * unit,
            )
            for d in (0.3, -0.3, 1.0)
        ]
        out[f"algebra/{task.name}/edit_error_max"] = float(torch.cat(errors).max())
    method = model.method
    readouts = method.linear_readouts()
    paper = composition_similarity(
        f.double().numpy(),
        method.pooling.mean.double().numpy(),
        method.pooling.basis.double().numpy(),
        [tuple(a.double().numpy() for a in readouts[t.name]) for t in tasks],
        labels,
        tasks,
        axes=method.axes,
        seed=0,
        **PAPER,
    )
    out["composition/paper_raw"] = paper.raw
    return out


def cell(values: list[float]) -> str:
    """mean ± std of the finite values, "–" if none."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean, std = mean_std(values)
    if 0 < abs(mean) < 1e-3:
        return f"{mean:.1e} ± {std:.1e}"
    return f"{mean:.3f} ± {std:.3f}"


def rows(
    runs: list[dict[str, Any]], columns: list[tuple[str, str]], methods: dict[str, str]
) -> list[str]:
    """A markdown table: one row per method (key → label) with runs, mean ± std over seeds."""
    lines = ["| method | seeds | " + " | ".join(h for _, h in columns) + " |"]
    lines.append("|---" * (len(columns) + 2) + "|")
    for method, label in methods.items():
        mine = [r for r in runs if r["method"] == method]
        if mine:
            cells = [cell([r["metrics"].get(k, math.nan) for r in mine]) for k, _ in columns]
            lines.append(f"| {label} | {len(mine)} | " + " | ".join(cells) + " |")
    return lines


def verdicts(
    runs: list[dict[str, Any]], targets: dict[str, tuple[float, str]], label: str
) -> list[str]:
    """One line per target: the mean over ``runs`` and whether it is met."""
    lines = []
    for key, (target, sense) in targets.items():
        values = [r["metrics"][key] for r in runs if key in r["metrics"]]
        if values:
            mean = float(np.mean(values))
            met = mean >= target if sense == ">=" else mean <= target
            lines.append(
                f"{label} target {key} {sense} {target:g}: {mean:.4g} "
                f"({'met' if met else 'MISSED'})."
            )
    return lines
