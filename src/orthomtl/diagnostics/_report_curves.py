"""The report's training curves, from each stage's ``metrics.csv``.

Per stage (stages of the same name of different runs share their plots, one colour per run):
one panel per loss, the training value against the step (solid) and the validation value at the
same step (dashed, points). The losses are each task's (``train/<task>/loss``,
``val/<task>/loss``), each loss term logged for both splits (Detaux's ``train/rec`` and
``val/rec``), and the total (``train/total``, ``val/loss``). Then every other validation metric
against the epoch.
"""

from collections.abc import Sequence

from orthomtl.diagnostics._report_document import Image, Note, Section
from orthomtl.diagnostics._report_plots import MAX_PANELS, Line, Panel, colour, panels_png
from orthomtl.diagnostics._report_runs import Member, RunRecord, stage_groups


def _series(rows: list[dict[str, float]], key: str, x: str) -> tuple[list[float], list[float]]:
    having = [r for r in rows if key in r and x in r]
    return [r[x] for r in having], [r[key] for r in having]


def losses(keys: list[str]) -> list[tuple[str, str, str]]:
    """(panel title, training key, validation key) of each loss among ``keys``, the total last."""
    present = set(keys)
    found: dict[str, tuple[str, str]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3 and parts[0] in ("train", "val") and parts[2] == "loss":
            found[parts[1]] = (f"train/{parts[1]}/loss", f"val/{parts[1]}/loss")
        elif len(parts) == 2 and parts[0] == "train" and f"val/{parts[1]}" in present:
            found.setdefault(parts[1], (key, f"val/{parts[1]}"))
    found.pop("total", None)
    return [(name, train, val) for name, (train, val) in found.items()] + [
        ("total", "train/total", "val/loss")
    ]


def _keys(members: list[Member]) -> list[str]:
    keys: dict[str, None] = {}
    for _, _, stage in members:
        for row in stage.rows:
            keys.update(dict.fromkeys(row))
    return list(keys)


def _cut(count: int, what: str) -> str:
    return f" (the first {MAX_PANELS} of {count} {what})" if count > MAX_PANELS else ""


def curves(runs: list[RunRecord]) -> Section:
    """The loss curves and validation metrics of every stage; see the module docstring."""
    section = Section("Training curves")
    for name, members in stage_groups(runs).items():
        section.blocks += [Note(s.metrics_note) for _, _, s in members if s.metrics_note]
        logged = [m for m in members if m[2].rows]
        if not logged:
            continue
        keys = _keys(logged)
        pairs = losses(keys)
        panels = []
        for title, train, val in pairs:
            lines = []
            for i, run, stage in logged:
                lines.append(Line(run.label, *_series(stage.rows, train, "step"), colour(i)))
                lines.append(
                    Line(run.label, *_series(stage.rows, val, "step"), colour(i), "--", "o")
                )
            panels.append(Panel(title, [line for line in lines if line.x], "step", "loss"))
        panels = [p for p in panels if p.lines]
        add_panels(
            section,
            f"loss-{name}",
            panels,
            f"stage {name}: losses",
            f"stage {name}: each loss against the step, training (solid) and validation "
            f"(dashed, points){_cut(len(panels), 'losses')}",
        )
        plotted = {k for _, train, val in pairs for k in (train, val)}
        metrics = [k for k in keys if k.startswith("val/") and k not in plotted]
        panels = [
            Panel(
                key[len("val/") :],
                [
                    Line(run.label, *_series(stage.rows, key, "epoch"), colour(i), "-", "o")
                    for i, run, stage in logged
                ],
                "epoch",
            )
            for key in metrics
        ]
        add_panels(
            section,
            f"val-{name}",
            panels,
            f"stage {name}: validation metrics",
            f"stage {name}: validation metrics against the epoch{_cut(len(panels), 'metrics')}",
        )
    return section


def add_panels(
    section: Section, key: str, panels: Sequence[Panel], title: str, caption: str
) -> None:
    """Append the panels that have data as one figure ``key`` (nothing when none has)."""
    shown = [p for p in panels if any(line.x for line in p.lines)]
    if shown:
        section.blocks.append(Image(key, panels_png(shown, title), caption))
