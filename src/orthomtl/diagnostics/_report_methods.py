"""The report's method-specific sections, each present when a run has its method's files:

- Domain Expansion (``basis_history.json``): per refresh of the basis, each axis's |cos| with its
  predecessor after alignment, and its explained-variance ratio.
- the dual encoder (``dual_encoder.json``): per task, the gain of sharing (the single-task fit's
  validation loss minus the served model's) with its standard error, as bars and as a table.
- Detaux (``discovery/``): the subspace scores, each auxiliary task's clusters and agreement with
  the principal task and the known factors, and the discovery's PNGs (traversal grid, PCA
  scatters, cluster × factor-value heat-maps) as they are.
"""

from orthomtl.diagnostics._report_document import Block, Image, Paragraph, Section, Table
from orthomtl.diagnostics._report_plots import Gains, Line, Panel, colour, gains_png, panels_png
from orthomtl.diagnostics._report_runs import RunRecord, finite


def _number(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if finite(value) else "–"


def basis_alignment(runs: list[RunRecord]) -> Section | None:
    """Domain Expansion's basis over its refreshes."""
    having = [(i, r) for i, r in enumerate(runs) if r.basis_history]
    if not having:
        return None
    cosines, variances, rows = [], [], []
    for i, run in having:
        history = run.basis_history or []
        axes = sorted({k.split("/")[0] for h in history for k in h if k.startswith("axis")})
        axes.sort(key=lambda name: int(name[len("axis") :]))
        refreshes = list(range(1, len(history) + 1))
        for a, axis in enumerate(axes):
            label = f"{run.label} {axis}" if len(having) > 1 else axis
            tone = colour(i) if len(having) > 1 else colour(a)
            dash = ("-", "--", ":", "-.")[a % 4] if len(having) > 1 else "-"
            for lines, key in ((cosines, "cos_prev"), (variances, "explained_variance_ratio")):
                values = [h.get(f"{axis}/{key}", float("nan")) for h in history]
                lines.append(Line(label, refreshes, values, tone, dash, "o"))
        last = history[-1]
        rows.append(
            [
                run.label,
                str(len(history)),
                ", ".join(_number(last.get(f"{axis}/cos_prev"), 3) for axis in axes),
                ", ".join(
                    _number(last.get(f"{axis}/explained_variance_ratio"), 3) for axis in axes
                ),
            ]
        )
    png = panels_png(
        [
            Panel("|cos| with the previous axis", cosines, "refresh"),
            Panel("explained-variance ratio", variances, "refresh", log=True),
        ],
        "Domain Expansion: basis alignment",
    )
    return Section(
        "Domain Expansion: basis alignment",
        [
            Image(
                "de-basis",
                png,
                "each axis's |cos| with its predecessor after the Hungarian alignment (1 on the "
                "first refresh), and its share of the latent variance, per refresh",
            ),
            Table(
                ["run", "refreshes", "last |cos| per axis", "last explained variance per axis"],
                rows,
            ),
        ],
    )


def sharing_gains(runs: list[RunRecord]) -> Section | None:
    """The dual encoder's per-task gain of sharing over its single-task fits."""
    having = [(i, r) for i, r in enumerate(runs) if (r.dual_encoder or {}).get("sharing_gain")]
    if not having:
        return None
    tasks: dict[str, None] = {}
    series, rows = [], []
    for i, run in having:
        record = run.dual_encoder or {}
        gains = record["sharing_gain"]
        names = record.get("tasks") or [str(n) for n in range(len(gains["gain"]))]
        tasks.update((n, None) for n in names)
        configurations = record.get("configurations", [])
        served = record.get("served", [])
        by_task = {}
        for r, name in enumerate(names):
            gain, se = gains["gain"][r], gains["standard_error"][r]
            by_task[name] = (gain, se)
            serving = served[r] if r < len(served) else None
            single = serving is not None and configurations[serving].get("single_task")
            rows.append(
                [
                    run.label,
                    name,
                    _number(gain),
                    _number(se),
                    _number(gains.get("rows", [None] * len(names))[r], 6),
                    "single-task fit" if single else f"configuration {serving}",
                ]
            )
        series.append((i, run.label, by_task))
    order = list(tasks)
    nan = (float("nan"), float("nan"))
    bars = [
        Gains(
            label,
            [by_task.get(t, nan)[0] for t in order],
            [by_task.get(t, nan)[1] for t in order],
            colour(i),
        )
        for i, label, by_task in series
    ]
    return Section(
        "Dual encoder: gain of sharing",
        [
            Image(
                "dual-encoder-gain",
                gains_png(order, bars, "gain (validation loss)"),
                "per task, the single-task fit's validation loss minus the shared model's "
                "(positive: sharing helped), ± one standard error of the paired per-row "
                "differences",
            ),
            Table(["run", "task", "gain", "standard error", "rows", "served by"], rows),
        ],
    )


def discovery(runs: list[RunRecord]) -> list[Section]:
    """Detaux's discovery, one section per run that has one."""
    sections = []
    for n, run in enumerate(r for r in runs if r.discovery):
        summary = run.discovery or {}
        use = {s: "dead" for s in summary.get("dead_subspaces", [])}
        use |= {t["subspace"]: t["name"] for t in summary.get("tasks", [])}
        use[summary.get("principal_subspace")] = "principal"
        scores = [
            [str(s), _number(score), use.get(s, "not clustered")]
            for s, score in enumerate(summary.get("subspace_scores", []))
        ]
        blocks: list[Block] = [
            Paragraph(
                f"{run.label}: principal task {summary.get('principal')}; the live subspaces "
                f"scored on the {summary.get('ranking_split', 'val')} split, by the rule "
                f"{summary.get('estimator', {}).get('subspace_rule', 'distance')}, and tried "
                f"for clustering in the order {', '.join(map(str, summary.get('ranking', [])))}."
            ),
            Table(["subspace", "score", "use"], scores),
        ]
        tasks = summary.get("tasks", [])
        blocks.append(
            Table(
                ["task", "subspace", "clusters", "sizes", "NMI principal", "AMI", "χ² p-value"],
                [
                    [
                        t["name"],
                        str(t["subspace"]),
                        str(t.get("n_clusters")),
                        ", ".join(map(str, t.get("cluster_sizes", []))),
                        *(
                            _number(t.get("principal_agreement", {}).get(k), 3)
                            for k in ("nmi", "ami", "chi2_p_value")
                        ),
                    ]
                    for t in tasks
                ],
            )
        )
        factor_rows = [
            [
                t["name"],
                factor,
                *(_number(v.get(k), 3) for k in ("homogeneity", "completeness", "nmi")),
            ]
            for t in tasks
            for factor, v in (t.get("factors") or {}).items()
        ]
        if factor_rows:
            blocks.append(
                Table(["task", "factor", "homogeneity", "completeness", "NMI"], factor_rows)
            )
        for file_name, path in run.discovery_images.items():
            caption = f"{run.label}, discovery/{file_name}: {_caption(path.stem)}"
            blocks.append(Image(f"detaux-{n}-{path.stem}", path.read_bytes(), caption))
        sections.append(Section(f"Detaux: discovered tasks ({run.label})", blocks))
    return sections


def _caption(stem: str) -> str:
    """What a discovery PNG shows, from its name (``methods.detaux._plots``)."""
    if stem == "traversals":
        return (
            "traversals: row s decodes the codes of image A with subspace s moved linearly to "
            "image B's code"
        )
    task, _, kind = stem.rpartition("_")
    if kind == "pca":
        return (
            f"{task}'s subspace codes of the training split on their two principal axes, by cluster"
        )
    if kind == "factors":
        return (
            f"{task}'s cluster × factor-value contingency table, each row divided by the "
            "cluster's size"
        )
    return stem
