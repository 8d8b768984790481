"""The report's sections on the diagnostics records of each stage's ``diagnostics.json``: the
latent spectrum and effective rank, the neural-collapse metrics, the head cosines and the
gradient conflict; with where the records are missing.

Stages of the same name (``main``, ``readouts``, ``mtl``) of different runs share their plots,
one line per run in the run's colour; a run drawing one line per task tells its tasks apart by
line style (by colour when there is one run).
"""

import math
from typing import Any

from orthomtl.diagnostics._report_curves import add_panels
from orthomtl.diagnostics._report_document import Image, Note, Paragraph, Section, Table
from orthomtl.diagnostics._report_plots import (
    Heatmap,
    Line,
    Panel,
    colour,
    heatmaps_png,
    style,
)
from orthomtl.diagnostics._report_runs import Member, RunRecord, display_name, finite, stage_groups


def _line_style(run: int, task: int, runs: int) -> tuple[str, str]:
    return (colour(run), style(task)) if runs > 1 else (colour(task), "-")


def diagnostics_notes(runs: list[RunRecord]) -> Section:
    """Where ``diagnostics.json`` or its records are missing, and how to get them."""
    section = Section(
        "Diagnostics",
        [
            Paragraph(
                "From each stage's diagnostics.json, written during training by the diagnostics "
                "callbacks (the config's diagnostics section): the latent's spectrum and "
                "effective rank, the neural-collapse metrics and the head cosines "
                "(NeuralCollapseCallback), and the cosines between the tasks' gradients "
                "(GradientConflictCallback)."
            )
        ],
    )
    for run in runs:
        for stage in run.stages:
            where = f"{display_name(run, stage)}: "
            if stage.diagnostics_note:
                section.blocks.append(Note(where + stage.diagnostics_note))
                continue
            if not stage.neural_collapse:
                section.blocks.append(
                    Note(
                        f"{where}no neural_collapse records in {stage.path}/diagnostics.json: "
                        "set diagnostics.neural_collapse_every_n_epochs to a positive interval "
                        "(they need a classification task; see README, Diagnostics)"
                    )
                )
            if not stage.gradient_conflict:
                section.blocks.append(
                    Note(
                        f"{where}no gradient_conflict records in {stage.path}/diagnostics.json: "
                        "either the stage shares no trainable parameters between two tasks or "
                        "more (STL, a frozen encoder, a closed-form fit), or "
                        "diagnostics.gradient_conflict_every_n_steps was 0 or longer than the "
                        "stage (see README, Diagnostics)"
                    )
                )
    return section


def _metric_line(member: Member, key: str, label: str, tone: str, dash: str = "-") -> Line:
    """``key`` of a stage's neural-collapse records against the epoch."""
    having = [r for r in member[2].neural_collapse if finite(r["metrics"].get(key))]
    x = [r.get("epoch", n) for n, r in enumerate(having)]
    return Line(label, x, [r["metrics"][key] for r in having], tone, dash, "o")


def latent(runs: list[RunRecord]) -> Section:
    """The covariance spectrum (first and last record) and the effective rank over epochs."""
    section = Section("Latent spectrum and effective rank")
    for name, members in stage_groups(runs).items():
        members = [m for m in members if m[2].neural_collapse]
        spectra, ranks = [], []
        for member in members:
            i, run, stage = member
            having = [r for r in stage.neural_collapse if r.get("spectrum")]
            ends = [(having[0], "--"), (having[-1], "-")] if len(having) > 1 else []
            for record, dash in ends or [(r, "-") for r in having]:
                values = record["spectrum"]
                label = f"{display_name(run, stage)}, epoch {record.get('epoch')}"
                spectra.append(Line(label, range(1, len(values) + 1), values, colour(i), dash))
            ranks.append(
                _metric_line(member, "effective_rank", display_name(run, stage), colour(i))
            )
        panels = [
            Panel("eigen-spectrum of the latent covariance", spectra, "index", "eigenvalue", True),
            Panel("effective rank", ranks, "epoch"),
        ]
        add_panels(
            section,
            f"spectrum-{name}",
            panels,
            f"stage {name}",
            f"stage {name}: eigenvalues of the latent covariance, descending (first "
            "record dashed, last solid), and the effective rank against the epoch",
        )
    return section


def collapse(runs: list[RunRecord]) -> Section:
    """The neural-collapse metrics against the epoch, per task, one panel per metric."""
    section = Section("Neural collapse over epochs")
    for name, members in stage_groups(runs).items():
        members = [m for m in members if m[2].neural_collapse]
        keys: dict[str, None] = {}
        for _, _, stage in members:
            for record in stage.neural_collapse:
                keys.update((k, None) for k in record["metrics"] if k != "effective_rank")
        per_task: dict[str, list[str]] = {}
        for key in keys:
            task, _, metric = key.rpartition("/")
            per_task.setdefault(metric, []).append(task)
        panels = []
        for metric, tasks in per_task.items():
            lines = []
            for t, task in enumerate(tasks):
                key = f"{task}/{metric}" if task else metric
                for member in members:
                    i, run, stage = member
                    tone, dash = _line_style(i, t, len(members))
                    label = f"{display_name(run, stage)} {task}".strip()
                    lines.append(_metric_line(member, key, label, tone, dash))
            panels.append(Panel(metric, lines, "epoch", log=metric in ("nc1", "nc4")))
        add_panels(
            section,
            f"nc-{name}",
            panels,
            f"stage {name}: neural collapse",
            f"stage {name}: per-task NC1–NC4 and the cross-task head coherence against "
            "the epoch (NC1 and NC4 on a log scale)",
        )
    return section


def heads(runs: list[RunRecord]) -> Section:
    """The |cos| between the heads' rows, and the principal angles between the spans of the
    tasks' centred class means, of the last record that has them, per run and stage."""
    maps, angles = [], []
    for run in runs:
        for stage in run.stages:
            name = display_name(run, stage)
            having = [r for r in stage.neural_collapse if (r.get("coherence") or {}).get("matrix")]
            if having:
                c = having[-1]["coherence"]
                title = f"{name}, epoch {having[-1].get('epoch')}"
                maps.append(Heatmap(title, c["matrix"], c["tasks"], c["offsets"]))
            having = [r for r in stage.neural_collapse if r.get("principal_angles")]
            if having:
                last: dict[str, Any] = having[-1]
                angles += [
                    [name, str(last.get("epoch")), pair, ", ".join(f"{a:.1f}" for a in degrees)]
                    for pair, degrees in last["principal_angles"].items()
                ]
    section = Section("Cross-task head cosines and class-mean angles")
    if maps:
        section.blocks.append(
            Image(
                "heads",
                heatmaps_png(maps),
                "|cos| between the centred rows of the task heads at the last record (0 within a "
                "task); task blocks outlined",
            )
        )
    if angles:
        header = ["run", "epoch", "tasks", "principal angles between the class-mean spans (°)"]
        section.blocks.append(Table(header, angles))
    return section


def conflict(runs: list[RunRecord]) -> Section:
    """The share of negative gradient cosines, and each pair's cosine, against the step."""
    section = Section("Gradient conflict")
    for name, members in stage_groups(runs).items():
        members = [m for m in members if m[2].gradient_conflict]
        shares, pairs = [], {}
        for i, run, stage in members:
            records = stage.gradient_conflict
            x = [r.get("step", n) for n, r in enumerate(records)]
            y = _running_mean(_floats([r.get("negative_share") for r in records]))
            shares.append(Line(display_name(run, stage), x, y, colour(i), "-", ""))
            for a, task_a in enumerate(records[-1].get("tasks", [])):
                for b, task_b in enumerate(records[-1]["tasks"][a + 1 :], a + 1):
                    cos = [_entry(r.get("cosine"), a, b) for r in records]
                    line = Line(display_name(run, stage), x, _floats(cos), colour(i), "-", "o")
                    pairs.setdefault(f"cos {task_a}~{task_b}", []).append(line)
        if not members:
            continue
        panels = [Panel("share of negative cosines, so far", shares, "step")]
        panels += [Panel(title, lines, "step", "cosine") for title, lines in pairs.items()]
        add_panels(
            section,
            f"grad-{name}",
            panels,
            f"stage {name}: gradient conflict",
            f"stage {name}: the share of task pairs whose gradients have a negative cosine, "
            "averaged over the samples up to each step (its last value is the diagnosis's), "
            "and each pair's cosine at the sampled steps",
        )
    return section


def _running_mean(values: list[float]) -> list[float]:
    """The mean of the finite values up to each position (NaN before the first)."""
    out, total, count = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            total, count = total + value, count + 1
        out.append(total / count if count else float("nan"))
    return out


def _floats(values: list[Any]) -> list[float]:
    return [float(v) if finite(v) else float("nan") for v in values]


def _entry(matrix: Any, a: int, b: int) -> Any:
    """``matrix[a][b]``, or None where the record has no such entry."""
    try:
        return matrix[a][b]
    except (IndexError, KeyError, TypeError):
        return None
