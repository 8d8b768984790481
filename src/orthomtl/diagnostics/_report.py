"""``write_report``: the report of finished run directories, as ``report.html`` and ``report.md``.

The report holds, in order: the runs (with the runs of their ``compare/`` folders, side by side
with them), the results table of ``compare`` on the test split, the diagnosis (``_diagnosis``),
the training curves of every stage, the diagnostics records (latent spectrum and effective rank,
neural collapse, head cosines, gradient conflict), and the sections of the methods whose files
are there (Domain Expansion's basis, the dual encoder's gains, Detaux's discovery). A missing
piece is a line saying what is missing and how to get it.

``report.html`` is one self-contained file (inline CSS, base64 PNGs); ``report.md`` holds the
same content, its images as PNG files in ``report_files/`` beside it.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from orthomtl.diagnostics import _report_methods as methods
from orthomtl.diagnostics import _report_sections as records
from orthomtl.diagnostics._compare import compare
from orthomtl.diagnostics._diagnosis import diagnose
from orthomtl.diagnostics._report_curves import curves
from orthomtl.diagnostics._report_document import (
    Note,
    Paragraph,
    Section,
    Table,
    markdown_table,
)
from orthomtl.diagnostics._report_html import render_html
from orthomtl.diagnostics._report_markdown import render_markdown
from orthomtl.diagnostics._report_runs import RunRecord, assign_labels, read_run
from orthomtl.diagnostics._thresholds import Thresholds
from orthomtl.engine import write_text_atomic

FILES_DIR = "report_files"
TITLE = "orthomtl run report"


@dataclass(frozen=True)
class ReportPaths:
    """Where ``write_report`` wrote: the HTML page, the markdown file and its images' folder."""

    html: Path
    markdown: Path
    files: Path


def default_output(run_dirs: Sequence[str | Path]) -> Path:
    """The run directory itself for one run; ``./report`` for several."""
    return Path(run_dirs[0]) if len(run_dirs) == 1 else Path("report")


def write_report(
    run_dirs: Sequence[str | Path],
    output: str | Path | None = None,
    thresholds: Thresholds | None = None,
) -> ReportPaths:
    """Write ``report.html``, ``report.md`` and ``report_files/`` into ``output``.

    Args:
        run_dirs: finished run directories; the runs in their ``compare/`` folders join them.
        output: the directory to write into (created); None: ``default_output(run_dirs)``.
        thresholds: the diagnosis's limits; None: the defaults.

    Raises:
        ValueError: no run directory is given.
        FileNotFoundError: one of ``run_dirs`` is not a run directory (no ``results.json``).
    """
    if not run_dirs:
        raise ValueError("report: give at least one run directory.")
    unique: dict[Path, Path] = {}  # a directory named twice is reported once
    for path in map(Path, run_dirs):
        unique.setdefault(path.resolve(), path)
    given = [read_run(path) for path in unique.values()]
    runs = list(given)
    for run in given:
        for path in run.compared:
            if path.resolve() in unique:
                continue
            compared = read_run(path)
            compared.parent = str(run.path)
            runs.append(compared)
    assign_labels(runs)
    sections = _sections(runs, thresholds or Thresholds())
    out = Path(default_output(run_dirs) if output is None else output)
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(out / "report.html", out / "report.md", out / FILES_DIR)
    write_text_atomic(paths.html, render_html(TITLE, sections))
    text, files = render_markdown(TITLE, sections, FILES_DIR)
    paths.files.mkdir(exist_ok=True)
    for stale in paths.files.glob("*.png"):  # an earlier report's plots that this one lacks
        if stale.name not in files:
            stale.unlink()
    for name, png in files.items():
        (paths.files / name).write_bytes(png)
    write_text_atomic(paths.markdown, text)
    return paths


def _sections(runs: list[RunRecord], thresholds: Thresholds) -> list[Section]:
    sections = [
        _runs(runs),
        _results(runs),
        _diagnosis(runs, thresholds),
        curves(runs),
        records.diagnostics_notes(runs),
        records.latent(runs),
        records.collapse(runs),
        records.heads(runs),
        records.conflict(runs),
        methods.basis_alignment(runs),
        methods.sharing_gains(runs),
        *methods.discovery(runs),
    ]
    return [s for s in sections if s is not None and s.blocks]


def _runs(runs: list[RunRecord]) -> Section:
    rows = []
    for run in runs:
        r = run.results
        rows.append(
            [
                run.label,
                str(r.get("method")),
                str(r.get("dataset")),
                str(r.get("seed")),
                ", ".join(s.name for s in run.stages),
                str(r.get("epochs")),
                f"{r.get('wall_time_s', float('nan')):.1f}",
                str(run.path),
                run.parent or "",
            ]
        )
    header = ["run", "method", "dataset", "seed", "stages", "epochs", "wall time (s)"]
    return Section("Runs", [Table([*header, "directory", "compared in"], rows)])


def _results(runs: list[RunRecord]) -> Section:
    """``compare``'s table on the test split, one per dataset."""
    section = Section(
        "Results",
        [Paragraph("Test metrics of the final weights, mean ± std over the seeds of each label.")],
    )
    datasets: dict[str, list[Path]] = {}
    for run in runs:
        datasets.setdefault(str(run.results.get("dataset")), []).append(run.path)
    for paths in datasets.values():
        try:
            section.blocks.append(markdown_table(compare(paths, "test")))
        except ValueError as error:
            section.blocks.append(Note(f"no results table: {error}"))
    return section


def _diagnosis(runs: list[RunRecord], thresholds: Thresholds) -> Section:
    found = [(subject, f) for run in runs for subject, f in diagnose(run, thresholds)]
    limits = ", ".join(f"{k} = {v:g}" for k, v in asdict(thresholds).items())
    section = Section("Diagnosis")
    if found:
        rows = [[subject, f.sentence, f.evidence] for subject, f in found]
        section.blocks.append(Table(["run", "finding", "evidence"], rows))
    else:
        section.blocks.append(
            Note(
                "no diagnosis: none of the runs has diagnostics records or method files to "
                "read (see Diagnostics below for how to get them)"
            )
        )
    section.blocks.append(
        Paragraph(f"Thresholds (orthomtl report --threshold NAME=VALUE): {limits}.")
    )
    return section
