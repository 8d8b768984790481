"""Finished run directories read into typed records, for the run report.

A run directory (it has ``results.json``) holds one directory per stage: the first stage is the
run directory itself, each later one ``<run_dir>/<stage>/`` as ``results.json``'s ``stages``
lists them, each with its ``metrics.csv`` and, when the diagnostics callbacks ran,
``diagnostics.json``. Beside them lie the method's files (Domain Expansion's
``basis_history.json``, the dual encoder's ``dual_encoder.json``, Detaux's ``discovery/``) and,
when the config had ``compare:``, the runs of other methods on the same data in
``compare/<i>-<method>/``, run directories of their own.

Only a missing ``results.json`` is an error. A stage's missing ``metrics.csv`` or
``diagnostics.json`` is recorded as a sentence saying what is missing and how to get it
(``StageRun.metrics_note``, ``StageRun.diagnostics_note``); missing method files leave their
fields empty.
"""

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orthomtl.diagnostics._record import FILE_NAME, read_diagnostics
from orthomtl.engine import read_results

DIAGNOSTICS_FILE = FILE_NAME
_KEYS = ("neural_collapse", "gradient_conflict")
HOW_TO_DIAGNOSE = (
    "train with diagnostics on (the config's diagnostics section: "
    "neural_collapse_every_n_epochs, gradient_conflict_every_n_steps; see README, Diagnostics)"
)


@dataclass
class StageRun:
    """One stage of a run: its ``metrics.csv`` rows and its diagnostics records.

    Attributes:
        name: ``main`` for the first stage, else the stage's directory name.
        path: the stage's directory.
        rows: the rows of ``metrics.csv``, each with its numeric cells only.
        neural_collapse: ``diagnostics.json``'s ``neural_collapse`` records.
        gradient_conflict: its ``gradient_conflict`` records.
        metrics_note: why there are no rows and how to get them; empty when there are.
        diagnostics_note: the same for ``diagnostics.json``.
    """

    name: str
    path: Path
    rows: list[dict[str, float]] = field(default_factory=list)
    neural_collapse: list[dict[str, Any]] = field(default_factory=list)
    gradient_conflict: list[dict[str, Any]] = field(default_factory=list)
    metrics_note: str = ""
    diagnostics_note: str = ""


@dataclass
class RunRecord:
    """A finished run directory as the report reads it.

    Attributes:
        path: the run directory.
        results: its ``results.json``.
        label: the name the report gives the run (``assign_labels``).
        stages: its stages, in training order.
        basis_history: Domain Expansion's ``basis_history.json`` (one record per refresh).
        dual_encoder: the dual encoder's ``dual_encoder.json``.
        discovery: Detaux's ``discovery/discovery.json``.
        discovery_images: the discovery's PNGs by file name, those that exist.
        compared: the run directories under ``compare/``.
        parent: the run this one was compared in, for a ``compare/`` run.
    """

    path: Path
    results: dict[str, Any]
    label: str = ""
    stages: list[StageRun] = field(default_factory=list)
    basis_history: list[dict[str, float]] | None = None
    dual_encoder: dict[str, Any] | None = None
    discovery: dict[str, Any] | None = None
    discovery_images: dict[str, Path] = field(default_factory=dict)
    compared: list[Path] = field(default_factory=list)
    parent: str | None = None


def read_run(path: str | Path) -> RunRecord:
    """Read ``path``, a finished run directory; see the module docstring.

    Raises:
        FileNotFoundError: ``path`` is not a run directory (no ``results.json`` in it).
    """
    path = Path(path)
    if not (path / "results.json").is_file():
        what = "does not exist" if not path.exists() else "has no results.json"
        raise FileNotFoundError(
            f"{path} is not a run directory: it {what}. Give the directory of a finished run "
            "(runs/<date>-<time>-<method>-<dataset>-s<seed>/); a run that has not finished has "
            "no results.json yet."
        )
    results = read_results(path)
    run = RunRecord(path=path, results=results)
    stages = results.get("stages") or [{"stage": "main"}]
    run.stages = [
        _read_stage(s["stage"], path if s["stage"] == "main" else path / s["stage"]) for s in stages
    ]
    run.basis_history = _json(path / "basis_history.json")
    run.dual_encoder = _json(path / "dual_encoder.json")
    discovery = path / "discovery"
    run.discovery = _json(discovery / "discovery.json")
    if run.discovery is not None:
        run.discovery_images = {p.name: p for p in sorted(discovery.glob("*.png"))}
    compare = path / "compare"
    if compare.is_dir():
        run.compared = sorted(p for p in compare.iterdir() if (p / "results.json").is_file())
    return run


def assign_labels(runs: list[RunRecord]) -> None:
    """Name each run by its ``results.json`` label (else its method) and seed; where two runs
    would share a name, by their directory names; where those clash too, by their paths."""
    names = [
        f"{r.results.get('label', r.results['method'])} s{r.results.get('seed', 0)}" for r in runs
    ]
    for fallback in (lambda r: r.path.name, lambda r: str(r.path)):
        clashing = {n for n in names if names.count(n) > 1}
        names = [fallback(r) if n in clashing else n for r, n in zip(runs, names, strict=True)]
    for run, name in zip(runs, names, strict=True):
        run.label = name


Member = tuple[int, RunRecord, StageRun]
"""A run's index among the report's runs (its colour), the run, and one of its stages."""


def stage_groups(runs: list[RunRecord]) -> dict[str, list[Member]]:
    """The runs' stages grouped by stage name (``main``, ``readouts``, ...), in order of first
    appearance: the report draws a group's stages on the same plots."""
    groups: dict[str, list[Member]] = {}
    for i, run in enumerate(runs):
        for stage in run.stages:
            groups.setdefault(stage.name, []).append((i, run, stage))
    return groups


def display_name(run: RunRecord, stage: StageRun) -> str:
    """The run's label, with the stage's name for a stage after the first."""
    return run.label if stage.name == "main" else f"{run.label} ({stage.name})"


def finite(value: Any) -> bool:
    """Whether ``value`` is a number that is neither NaN nor infinite (JSON may hold NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_stage(name: str, path: Path) -> StageRun:
    stage = StageRun(name=name, path=path)
    csv_path = path / "metrics.csv"
    if csv_path.is_file():
        stage.rows = _rows(csv_path)
    else:
        stage.metrics_note = (
            f"no metrics.csv in {path}, so no curves for this stage: the engine writes it while "
            "training (every trainer.log_every_n_steps steps and at each validation); train the "
            "run again to get it"
        )
    diagnostics = path / DIAGNOSTICS_FILE
    if not diagnostics.is_file():
        stage.diagnostics_note = f"no {DIAGNOSTICS_FILE} in {path}: {HOW_TO_DIAGNOSE}"
        return stage
    try:
        content = read_diagnostics(path)
    except ValueError as error:
        stage.diagnostics_note = f"{error} Then train again with the diagnostics callbacks."
        return stage
    records = {k: content.get(k) if isinstance(content.get(k), list) else [] for k in _KEYS}
    stage.gradient_conflict = [r for r in records["gradient_conflict"] if isinstance(r, dict)]
    stage.neural_collapse = [
        {**r, "metrics": r["metrics"] if isinstance(r.get("metrics"), dict) else {}}
        for r in records["neural_collapse"]
        if isinstance(r, dict)
    ]
    return stage


def _rows(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as file:
        return [
            {k: float(v) for k, v in row.items() if k and v not in (None, "") and _numeric(v)}
            for row in csv.DictReader(file)
        ]


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _json(path: Path) -> Any:
    """The JSON in ``path``; None when there is no such file or it does not parse."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
