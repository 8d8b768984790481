"""The report's diagnosis: plain sentences about a run, each with the evidence it rests on.

Each rule reads records as the run directory holds them (``diagnostics.json``'s
``neural_collapse`` and ``gradient_conflict`` records, ``basis_history.json``,
``dual_encoder.json``, ``discovery.json``) and compares one number with a field of
``Thresholds`` (``_thresholds``); ``diagnose`` applies every rule to every stage of a run. A rule
without its records says nothing; NaN values (a task with no labelled rows in a sampled batch)
are left out of every mean.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orthomtl.diagnostics._report_runs import RunRecord, display_name, finite
from orthomtl.diagnostics._thresholds import Thresholds


@dataclass(frozen=True)
class Finding:
    """One sentence of the diagnosis and the evidence beside it."""

    sentence: str
    evidence: str


def _mean(values: Sequence[Any]) -> float:
    kept = [v for v in values if finite(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def gradient_conflict(records: Sequence[dict[str, Any]], t: Thresholds) -> Finding | None:
    """Whether the tasks' gradients point against each other on many sampled steps, and how
    strongly (their mean cosine and mean |cos|)."""
    sampled = [r for r in records if finite(r.get("negative_share"))]
    if not sampled:
        return None
    share, tasks = _mean([r["negative_share"] for r in sampled]), list(sampled[-1].get("tasks", []))
    cosines = [c for r in sampled for c in _pair_cosines(r)]
    who = f"{_and(tasks)} gradients" if tasks else "the task gradients"
    if len(tasks) == 2:
        verdict = "conflict on" if share >= t.conflict_share else "rarely conflict: negative on"
        sentence = f"{who} {verdict} {share:.0%} of sampled steps"
    else:
        verdict = "conflict" if share >= t.conflict_share else "rarely conflict"
        sentence = f"{who} {verdict}: {share:.0%} of task pairs negative per sampled step"
    magnitude = ""
    if cosines:
        mean, size = _mean(cosines), _mean([abs(c) for c in cosines])
        weak = size <= t.weak_cos
        sentence += (
            ", but they are nearly orthogonal" if weak else ""
        ) + f" (mean cos {mean:+.2g})"
        magnitude = f"; mean |cos| {size:.2g}, nearly orthogonal at ≤ {t.weak_cos} (weak_cos)"
    evidence = (
        f"mean share of negative pairwise cosines over {len(sampled)} samples (steps "
        f"{sampled[0].get('step')}–{sampled[-1].get('step')}); conflict at ≥ "
        f"{t.conflict_share:.0%} (conflict_share){magnitude}"
    )
    return Finding(sentence, evidence)


def _pair_cosines(record: dict[str, Any]) -> list[float]:
    """The finite cosines of a gradient record's pairs of tasks (i < j)."""
    matrix = record.get("cosine")
    if not isinstance(matrix, list):
        return []
    return [
        row[j]
        for i, row in enumerate(matrix)
        if isinstance(row, list)
        for j in range(i + 1, len(row))
        if finite(row[j])
    ]


def _last(records: Sequence[dict[str, Any]], key: str) -> dict[str, Any] | None:
    having = [r for r in records if finite(r.get("metrics", {}).get(key))]
    return having[-1] if having else None


def effective_rank(records: Sequence[dict[str, Any]], t: Thresholds) -> Finding | None:
    """Whether the latent spreads over few of its dimensions."""
    record = _last(records, "effective_rank")
    if record is None or not finite(record.get("latent_dim")) or record["latent_dim"] <= 0:
        return None
    rank, dim = record["metrics"]["effective_rank"], record["latent_dim"]
    ratio = rank / dim
    verdict = (
        "the latent has collapsed" if ratio <= t.collapsed_rank else "the latent is not collapsed"
    )
    return Finding(
        f"effective rank {rank:.3g} of {dim}: {verdict}",
        f"epoch {record.get('epoch')}: effective rank / latent dim = {ratio:.2f}; collapsed at "
        f"≤ {t.collapsed_rank} (collapsed_rank)",
    )


def head_coherence(records: Sequence[dict[str, Any]], t: Thresholds) -> Finding | None:
    """Whether the heads of different tasks are orthogonal or share directions."""
    record = _last(records, "coherence_max")
    if record is None:
        return None
    metrics = record["metrics"]
    largest = metrics["coherence_max"]
    tasks = (record.get("coherence") or {}).get("tasks") or sorted(
        {k.rsplit("/", 1)[0] for k in metrics if k.endswith("/nc3")}
    )
    if largest <= t.orthogonal_cos:
        verdict = "are orthogonal"
    elif largest >= t.shared_cos:
        verdict = "share directions"
    else:
        verdict = "are partly aligned"
    who = f"heads of {_and(tasks)}" if tasks else "the task heads"
    mean = metrics.get("coherence_mean")
    evidence = f"epoch {record.get('epoch')}"
    if finite(mean):
        evidence += f", mean |cos| {mean:.2f}"
    evidence += (
        f"; orthogonal at ≤ {t.orthogonal_cos} (orthogonal_cos), shared at ≥ {t.shared_cos} "
        "(shared_cos)"
    )
    return Finding(f"{who} {verdict} (max |cos| {largest:.2g})", evidence)


FALL = 0.8
"""NC1 "fell" when its last value is at most this times its first (and "rose" at 1/FALL)."""


def class_collapse(records: Sequence[dict[str, Any]], t: Thresholds) -> list[Finding]:
    """Per class task, how NC1 (within-class over between-class variability) moved."""
    keys = sorted({k for r in records for k in r.get("metrics", {}) if k.endswith("/nc1")})
    findings = []
    for key in keys:
        having = [r for r in records if finite(r["metrics"].get(key))]
        if not having:
            continue
        task, first, last = key[: -len("/nc1")], having[0], having[-1]
        start, end = first["metrics"][key], last["metrics"][key]
        if len(having) == 1:
            sentence = f"{task}: NC1 {end:.3g} at epoch {last.get('epoch')}"
        elif end <= FALL * start:
            sentence = f"{task}: NC1 fell from {start:.3g} to {end:.3g} over training"
        elif end >= start / FALL:
            sentence = f"{task}: NC1 rose from {start:.3g} to {end:.3g} over training"
        else:
            sentence = f"{task}: NC1 stayed near {end:.3g} (from {start:.3g}) over training"
        if end <= t.nc1_collapsed:
            sentence += " (collapsed onto the class means)"
        elif len(having) > 1:
            sentence += (
                " (converging geometry)"
                if end <= FALL * start
                else " (no collapse)"
                if end >= start / FALL
                else " (no clear trend)"
            )
        lowest = min(having, key=lambda r: r["metrics"][key])
        evidence = (
            f"{len(having)} records, epochs {first.get('epoch')}–{last.get('epoch')}, lowest "
            f"{lowest['metrics'][key]:.3g} at epoch {lowest.get('epoch')}; a change beyond "
            f"{1 - FALL:.0%} counts as a trend; collapsed at ≤ {t.nc1_collapsed} (nc1_collapsed)"
        )
        findings.append(Finding(sentence, evidence))
    return findings


def basis_stability(history: Sequence[dict[str, float]], t: Thresholds) -> Finding | None:
    """Whether Domain Expansion's axes still turn between the last two refreshes."""
    if len(history) < 2:
        return None
    last = history[-1]
    axes = {k: v for k, v in last.items() if k.endswith("/cos_prev") and finite(v)}
    if not axes:
        return None
    axis, lowest = min(axes.items(), key=lambda item: item[1])
    name = axis[: -len("/cos_prev")]
    if lowest >= t.basis_stable:
        sentence = (
            f"the basis has settled: every axis keeps |cos| ≥ {lowest:.3f} with its predecessor"
        )
    else:
        sentence = f"the basis still turns: {name} keeps |cos| {lowest:.3f} with its predecessor"
    return Finding(
        sentence,
        f"basis_history.json, refresh {len(history)} of {len(history)}; settled at ≥ "
        f"{t.basis_stable} (basis_stable)",
    )


def sharing_gain(record: dict[str, Any], t: Thresholds) -> Finding | None:
    """How many dual-encoder tasks sharing helped or hurt, beyond ``gain_se`` standard errors."""
    gains = record.get("sharing_gain")
    if not gains:
        return None
    tasks = record.get("tasks") or [f"task {i}" for i in range(len(gains["gain"]))]
    rows = list(zip(tasks, gains["gain"], gains["standard_error"], strict=False))
    rows = [(n, g, se) for n, g, se in rows if finite(g)]
    helped = [n for n, g, se in rows if g > t.gain_se * (se if finite(se) else 0.0)]
    hurt = [n for n, g, se in rows if g < -t.gain_se * (se if finite(se) else 0.0)]
    sentence = f"sharing helped {len(helped)} of {len(rows)} tasks"
    if hurt:
        sentence += f" and hurt {len(hurt)} ({_and(hurt[:5])}{', …' if len(hurt) > 5 else ''})"
    shown = ", ".join(f"{n} {g:+.3g} ± {se:.2g}" for n, g, se in rows[:6])
    more = f", … ({len(rows) - 6} more)" if len(rows) > 6 else ""
    return Finding(
        sentence,
        f"single-task validation loss minus the shared model's, ± SE: {shown}{more}; counted "
        f"beyond {t.gain_se} SE (gain_se)",
    )


def auxiliary_tasks(summary: dict[str, Any], t: Thresholds) -> list[Finding]:
    """Per Detaux auxiliary task, whether it repeats the principal task, and the known factor it
    matches best."""
    findings = []
    principal = summary.get("principal", "the principal task")
    for task in summary.get("tasks", []):
        nmi = task.get("principal_agreement", {}).get("nmi")
        if not finite(nmi):
            continue
        head = f"{task['name']} (subspace {task['subspace']})"
        if nmi >= t.principal_nmi:
            sentence = f"{head} largely repeats the principal task {principal}"
        else:
            sentence = f"{head} is a task of its own, apart from {principal}"
        factors = {
            k: v["nmi"] for k, v in (task.get("factors") or {}).items() if finite(v.get("nmi"))
        }
        if factors:
            best = max(factors, key=factors.__getitem__)
            sentence += f"; it matches the factor {best} best (NMI {factors[best]:.2f})"
        sizes = ", ".join(str(s) for s in task.get("cluster_sizes", []))
        findings.append(
            Finding(
                sentence,
                f"NMI with {principal} {nmi:.2f}; {task.get('n_clusters')} clusters ({sizes}); "
                f"repeats at ≥ {t.principal_nmi} (principal_nmi)",
            )
        )
    return findings


def diagnose(run: RunRecord, t: Thresholds) -> list[tuple[str, Finding]]:
    """Every rule's finding on ``run``, each with its subject: the run's label, with the stage's
    name for a stage after the first."""
    found: list[tuple[str, Finding]] = []
    for stage in run.stages:
        subject = display_name(run, stage)
        nc = stage.neural_collapse
        for finding in (
            gradient_conflict(stage.gradient_conflict, t),
            effective_rank(nc, t),
            head_coherence(nc, t),
            *class_collapse(nc, t),
        ):
            if finding is not None:
                found.append((subject, finding))
    extra = [
        basis_stability(run.basis_history or [], t),
        sharing_gain(run.dual_encoder or {}, t),
        *auxiliary_tasks(run.discovery or {}, t),
    ]
    found += [(run.label, finding) for finding in extra if finding is not None]
    return found
