"""The run report's figures, as PNG bytes.

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas (no pyplot, no global state),
saved at ``DPI``. A figure is a grid of panels, each a set of lines, with one legend below the
grid (``panels_png``); the
cross-task head cosines are heat-maps (``heatmaps_png``) and the dual encoder's gains bars with
error bars (``gains_png``). Each run keeps its colour across figures (``colour``); where one run
draws several lines in a panel (one per task), they differ by line style.
"""

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

DPI = 80
MAX_PANELS = 12
"""Panels per figure at most (the first ones are kept)."""
STYLES = ("-", "--", ":", "-.")
LEGEND_COLUMNS = 2
LABEL_WIDTH = 70
"""Legend labels are cut to this many characters."""


@dataclass(frozen=True)
class Line:
    """One line of a panel: ``y`` against ``x``, drawn in ``colour`` and ``style``."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    colour: str
    style: str = "-"
    marker: str = ""


@dataclass(frozen=True)
class Panel:
    """One axes of a figure; ``log`` draws y on a log scale (non-positive values left out)."""

    title: str
    lines: list[Line]
    xlabel: str
    ylabel: str = ""
    log: bool = False


def colour(index: int) -> str:
    """The colour of the ``index``-th line family (run, or task within one run)."""
    return f"C{index % 10}"


def style(index: int) -> str:
    """The line style of the ``index``-th line of one colour."""
    return STYLES[index % len(STYLES)]


def panels_png(panels: Sequence[Panel], title: str = "", columns: int = 3) -> bytes:
    """A grid of line panels, ``columns`` wide (fewer when there are fewer panels), with one
    legend below them for every distinct line label."""
    panels = list(panels)[:MAX_PANELS]
    cols = min(columns, len(panels))
    rows = math.ceil(len(panels) / cols)
    legend: dict[str, Artist] = {}
    for panel in panels:
        for line in panel.lines:
            x, y = np.asarray(line.x, float), np.asarray(line.y, float)
            keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if panel.log else True)
            if keep.any():
                legend.setdefault(
                    line.label, Line2D([], [], color=line.colour, linestyle=line.style)
                )
    top, bottom = 0.55, 0.6 + 0.2 * math.ceil(len(legend) / LEGEND_COLUMNS)  # inches
    width, height = 4.6 * cols, 3.2 * rows + top + bottom
    figure = Figure(figsize=(width, height))  # margins set by hand: constrained layout is slow
    figure.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.2 / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=0.35,
        hspace=0.5,
    )
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        drawn = False
        for line in panel.lines:
            x, y = np.asarray(line.x, float), np.asarray(line.y, float)
            keep = np.isfinite(x) & np.isfinite(y) & ((y > 0) if panel.log else True)
            if keep.any():
                marker = line.marker or None
                ax.plot(x[keep], y[keep], line.style, color=line.colour, marker=marker, ms=4)
                drawn = True
        if panel.log and drawn:
            ax.set_yscale("log")
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(panel.xlabel, fontsize=9)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title, fontsize=11, y=1 - 0.06 / height, va="top")
    if legend:
        labels = [textwrap.shorten(label, LABEL_WIDTH, placeholder=" …") for label in legend]
        figure.legend(
            list(legend.values()),
            labels,
            loc="lower center",
            ncols=min(LEGEND_COLUMNS, len(labels)),
            fontsize=8,
            frameon=False,
        )
    return _png(figure)


@dataclass(frozen=True)
class Heatmap:
    """|cos| between the rows of the task heads: ``matrix`` (K × K), task ``tasks[i]``'s rows
    starting at ``offsets[i]``."""

    title: str
    matrix: Sequence[Sequence[float]]
    tasks: Sequence[str]
    offsets: Sequence[int]


def heatmaps_png(maps: Sequence[Heatmap], columns: int = 3) -> bytes:
    """One heat-map per item on a shared 0–1 colour scale, task blocks outlined."""
    maps = list(maps)[:MAX_PANELS]
    cols = min(columns, len(maps))
    rows = math.ceil(len(maps) / cols)
    figure = Figure(layout="constrained", figsize=(4.4 * cols + 0.8, 4.0 * rows))
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    image = None
    for ax, item in zip(axes, maps, strict=False):
        matrix = np.asarray(item.matrix, float)
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap=colormaps["magma"])
        size = len(matrix)
        bounds = [*item.offsets, size]
        for edge in bounds[1:-1]:
            ax.axhline(edge - 0.5, color="white", linewidth=1)
            ax.axvline(edge - 0.5, color="white", linewidth=1)
        centres = [(a + b - 1) / 2 for a, b in pairwise(bounds)]
        ax.set_xticks(centres, list(item.tasks), fontsize=8)
        ax.set_yticks(centres, list(item.tasks), fontsize=8)
        ax.set_title(item.title, fontsize=9)
    for ax in axes[len(maps) :]:
        ax.set_visible(False)
    if image is not None:
        figure.colorbar(image, ax=list(axes[: len(maps)]), fraction=0.03, label="|cos|")
    return _png(figure)


@dataclass(frozen=True)
class Gains:
    """One run's per-task gains with their standard errors."""

    label: str
    gain: Sequence[float]
    standard_error: Sequence[float]
    colour: str


def gains_png(tasks: Sequence[str], runs: Sequence[Gains], ylabel: str) -> bytes:
    """Grouped bars, one group per task and one bar per run, ± one standard error."""
    figure = Figure(layout="constrained", figsize=(max(5.0, 0.5 * len(tasks) * len(runs) + 2), 3.8))
    ax = figure.subplots()
    width = 0.8 / len(runs)
    positions = np.arange(len(tasks))
    for i, run in enumerate(runs):
        ax.bar(
            positions + (i - (len(runs) - 1) / 2) * width,
            np.asarray(run.gain, float),
            width,
            yerr=np.asarray(run.standard_error, float),
            capsize=3,
            color=run.colour,
            label=run.label,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(positions, list(tasks), fontsize=8, rotation=90 if len(tasks) > 10 else 0)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(fontsize=7)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
