"""``orthomtl report``: report.html is one self-contained, well-formed page whose images decode and
which names every run; report.md holds the same with its PNGs beside it; missing pieces are
lines that say how to get them; the CLI's exit statuses; and Chromium renders the page.

The run directories come from tiny real runs (HPS with two seeds, Domain Expansion with its
readouts stage, the dual encoder with a compared baseline, Detaux with its discovery and MTL
stage), trained without the diagnostics callbacks; their ``diagnostics.json`` files are written
by hand in the callbacks' schema, with known values.
"""

import base64
import io
import json
import math
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

import orthomtl
from orthomtl.cli import main
from orthomtl.diagnostics import Thresholds, write_report
from orthomtl.diagnostics._report_sections import _running_mean
from tests.conftest import tiny_config
from tests.methods.detaux import blobs
from tests.methods.dual_encoder import helpers as dual

pytestmark = pytest.mark.usefixtures("one_thread")

PNG = b"\x89PNG\r\n\x1a\n"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}
CHROMIUM = Path("/usr/bin/chromium")
OFF = {"neural_collapse_every_n_epochs": 0, "gradient_conflict_every_n_steps": 0}
"""The diagnostics callbacks off: the tests write diagnostics.json by hand, with known values."""


def nc_record(epoch: int, tasks: dict[str, int], latent_dim: int) -> dict[str, Any]:
    """A neural_collapse record of the callbacks' schema, NC1 shrinking with the epoch."""
    metrics: dict[str, float] = {"effective_rank": latent_dim / (epoch + 2)}
    for name in tasks:
        metrics |= {f"{name}/nc1": 2.0 / (epoch + 1) ** 2, f"{name}/nc2_means": 0.3}
    record = {
        "epoch": epoch,
        "step": 10 * (epoch + 1),
        "metrics": metrics,
        "latent_dim": latent_dim,
        "spectrum": sorted(np.random.default_rng(epoch).random(latent_dim).tolist())[::-1],
    }
    if len(tasks) > 1:
        size = sum(tasks.values())
        matrix = np.full((size, size), 0.03)
        offsets = np.cumsum([0, *tasks.values()])[:-1].tolist()
        for start, k in zip(offsets, tasks.values(), strict=True):
            matrix[start : start + k, start : start + k] = 0.0
        record["coherence"] = {"tasks": list(tasks), "offsets": offsets, "matrix": matrix.tolist()}
        metrics |= {"coherence_max": 0.03, "coherence_mean": 0.02}
        metrics |= {f"{name}/nc3": 0.1 for name in tasks}
    return record


def grad_record(step: int, tasks: list[str], cos: float) -> dict[str, Any]:
    return {
        "epoch": step // 20,
        "step": step,
        "tasks": tasks,
        "cosine": [[1.0, cos], [cos, 1.0]],
        "negative_share": float(cos < 0),
    }


def write_diagnostics(stage_dir: Path, **records: list[dict[str, Any]]) -> None:
    (stage_dir / "diagnostics.json").write_text(json.dumps(records))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report-runs")
    small = {"data": {"batch_size": 64}, "trainer": {"max_epochs": 2}, "diagnostics": OFF}
    hps = orthomtl.run(tiny_config(runs_dir=str(root / "hps"), seeds=[0, 1], **small)).run_dirs
    de = orthomtl.run(
        tiny_config(
            method={"name": "domain-expansion", "cov_fraction": 0.5, "readout_epochs": 1},
            runs_dir=str(root / "de"),
            **small,
        )
    ).run_dirs[0]
    encoder = dual.config(
        root / "dual", {"name": "dual-encoder", "single_task_dims": [8]}, trainer={"max_epochs": 4}
    )
    encoder |= {"compare": [{"method": {"name": "single-task-ridge"}}], "diagnostics": OFF}
    dual_run = orthomtl.run(encoder).run_dirs[0]
    detaux = orthomtl.run(
        {
            "data": {"name": blobs.NAME, "batch_size": 32},
            "model": {"encoder": "product-space", "decoder": "product-space"},
            "method": {
                "name": "detaux",
                "compile": False,
                "subspaces": 3,
                "subspace_dim": 4,
                "hinge": "authors",
                "discovery": {"clusterer": "kmeans", "n_clusters": 2},
                "mtl_model": {"latent_dim": 8, "encoder_options": {"channels": [4, 8]}},
                "mtl_trainer": {"max_epochs": 1},
            },
            "optim": {"name": "adamw", "lr": 1e-3},
            "trainer": {"max_epochs": 1, "progress_bar": False},
            "runs_dir": str(root / "detaux"),
            "diagnostics": OFF,
        }
    ).run_dirs[0]
    write_diagnostics(
        hps[0],
        neural_collapse=[nc_record(e, {"digit": 10}, 16) for e in range(2)],
        gradient_conflict=[
            grad_record(s, ["digit", "angle"], c) for s, c in ((5, -0.2), (15, 0.1))
        ],
    )
    write_diagnostics(de / "readouts", neural_collapse=[nc_record(0, {"digit": 10}, 16)])
    write_diagnostics(
        detaux / "mtl",
        neural_collapse=[nc_record(0, {"column": 2, "aux1": 2}, 8)],
        gradient_conflict=[grad_record(8, ["column", "aux1"], -0.4)],
    )
    return {"hps0": hps[0], "hps1": hps[1], "de": de, "dual": dual_run, "detaux": detaux}


@pytest.fixture(scope="module")
def report(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    paths = write_report(list(runs.values()), out)
    assert paths.html == out / "report.html" and paths.markdown == out / "report.md"
    return out


class Page(HTMLParser):
    """Checks that tags nest and close, and collects the links, the ids and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.links: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data"):
                self.links.append((tag, name, value or ""))
            if name == "id":
                self.ids.add(value or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_the_page_is_well_formed_and_self_contained(report: Path) -> None:
    html = (report / "report.html").read_text()
    page = parse(html)
    assert not page.errors and not page.stack, (page.errors, page.stack)
    assert html.startswith("<!DOCTYPE html>")
    for tag, name, value in page.links:
        if tag == "img" and name == "src":
            assert value.startswith("data:image/png;base64,"), value[:80]
        else:
            assert name == "href" and value.startswith("#"), (tag, name, value)
            assert value[1:] in page.ids, value
    assert page.links, "no link at all: the table of contents is missing"
    lowered = html.lower()
    for external in ("http://", "https://", "file:", "<script", "<link", "@import", "url("):
        assert external not in lowered, external


def test_every_inline_image_is_a_png_that_decodes(report: Path) -> None:
    page = parse((report / "report.html").read_text())
    images = [v for tag, name, v in page.links if tag == "img"]
    assert len(images) >= 12  # curves, diagnostics, DE, dual encoder, Detaux's own PNGs
    for source in images:
        data = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert data.startswith(PNG)
        pixels = imread(io.BytesIO(data), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50


def test_every_run_and_every_section_is_in_the_page(report: Path, runs: dict[str, Path]) -> None:
    text = "".join(parse((report / "report.html").read_text()).text)
    for run_dir in runs.values():
        assert str(run_dir) in text
    compared = next((runs["dual"] / "compare").iterdir())
    assert str(compared) in text  # the compared baseline joins the runs
    for label in ("hps s0", "hps s1"):
        assert label in text
    for title in (
        "Results",
        "Diagnosis",
        "Training curves",
        "Latent spectrum and effective rank",
        "Neural collapse over epochs",
        "Cross-task head cosines",
        "Gradient conflict",
        "Domain Expansion: basis alignment",
        "Dual encoder: gain of sharing",
        "Detaux: discovered tasks",
    ):
        assert title in text, title
    assert "digit and angle gradients conflict on 50% of sampled steps" in text
    assert "heads of column and aux1 are orthogonal (max |cos| 0.03)" in text
    assert "traversals.png" in text and "aux1_factors.png" in text


def test_missing_pieces_say_how_to_get_them(report: Path, runs: dict[str, Path]) -> None:
    text = unescape((report / "report.html").read_text())
    assert f"no diagnostics.json in {runs['hps1']}: train with diagnostics on" in text
    assert "neural_collapse_every_n_epochs" in text and "see README, Diagnostics" in text
    readouts = runs["de"] / "readouts"
    assert f"no gradient_conflict records in {readouts}/diagnostics.json" in text


def test_the_markdown_holds_the_same_sections_and_its_images(report: Path) -> None:
    markdown = (report / "report.md").read_text()
    html = parse((report / "report.html").read_text())
    titles = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    assert titles and all(t in "".join(html.text) for t in titles)
    references = [line.split("](", 1)[1][:-1] for line in markdown.splitlines() if "![" in line]
    assert len(references) == sum(1 for tag, _, _ in html.links if tag == "img")
    for reference in references:
        assert reference.startswith("report_files/")
        assert (report / reference).read_bytes().startswith(PNG)


def test_a_run_without_metrics_csv_is_reported_and_labels_do_not_clash(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy-of-hps-s0"
    shutil.copytree(runs["hps0"], copy)
    (copy / "metrics.csv").unlink()
    paths = write_report([runs["hps0"], copy], tmp_path / "out")
    text = unescape(paths.html.read_text())
    assert f"no metrics.csv in {copy}" in text
    assert runs["hps0"].name in text and copy.name in text  # same label and seed: directory names


def test_cli_writes_into_the_run_directory_or_into_report(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    single = tmp_path / "single"
    shutil.copytree(runs["hps1"], single)
    assert main(["report", str(single)]) == 0
    assert (single / "report.html").is_file() and (single / "report.md").is_file()
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(runs["hps0"]), str(single), "--threshold", "gain_se=2"]) == 0
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "report_files").is_dir()
    assert "report.html" in capsys.readouterr().out


def test_cli_refuses_a_directory_that_is_not_a_run(
    runs: dict[str, Path], tmp_path: Path, capsys
) -> None:
    assert main(["report", str(runs["hps0"]), str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path} is not a run directory" in error and "results.json" in error
    assert not (tmp_path / "o" / "report.html").exists()


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ("conflict=0.3", "conflict_share, collapsed_rank, orthogonal_cos"),
        ("conflict_share", "NAME=VALUE"),
        ("conflict_share=often", "must be a number"),
        ("shared_cos=1.5", "shared_cos must be a number in [0, 1]"),
    ],
)
def test_cli_refuses_a_bad_threshold(
    runs: dict[str, Path], tmp_path: Path, capsys, threshold: str, message: str
) -> None:
    argv = ["report", str(runs["hps0"]), "-o", str(tmp_path), "--threshold", threshold]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_thresholds_change_the_verdicts(runs: dict[str, Path], tmp_path: Path) -> None:
    paths = write_report([runs["hps0"]], tmp_path, Thresholds(conflict_share=0.6))
    assert "rarely conflict: negative on 50% of sampled steps" in paths.html.read_text()


def test_chromium_renders_the_page(report: Path, tmp_path: Path) -> None:
    browser = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if browser is None:
        pytest.skip("no Chromium to render report.html: apt-get install chromium")
    shot = tmp_path / "out.png"
    subprocess.run(
        [
            str(browser),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            (report / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1200)
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, "the screenshot is nearly one colour: the page did not render"


def test_the_conflict_share_is_plotted_as_a_running_mean() -> None:
    values = _running_mean([float("nan"), 1.0, float("nan"), 0.0, 1.0])
    assert math.isnan(values[0]) and values[1:] == [1.0, 1.0, 0.5, 2 / 3]
