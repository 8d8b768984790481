"""The Python API and the CLI: run directories, results.json, multi-seed summaries, errors."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchjd.scalarization import DWA, FAMO, UW

import orthomtl
from orthomtl.cli import main
from orthomtl.methods.hps import load_weighting_state, weighting_state
from tests.conftest import tiny_config, write_config


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> orthomtl.RunResult:
    root = tmp_path_factory.mktemp("api")
    return orthomtl.run(tiny_config(runs_dir=str(root), seeds=[0, 1]))


def test_run_directory_layout_and_results_schema(two_seeds: orthomtl.RunResult) -> None:
    assert len(two_seeds.run_dirs) == 2
    for seed, run_dir in zip((0, 1), two_seeds.run_dirs, strict=True):
        assert re.fullmatch(rf"\d{{8}}-\d{{6}}-hps-rotated-digits-s{seed}(-\d+)?", run_dir.name)
        names = {p.name for p in run_dir.iterdir()}
        assert {"config.yaml", "metrics.csv", "results.json", "checkpoints"} <= names
        assert any(n.startswith("events.out.tfevents") for n in names)
        assert not any(n.startswith("version_") for n in names)
        assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.ckpt", "best.ckpt"}
        results = json.loads((run_dir / "results.json").read_text())
        assert results["schema"] == "orthomtl.results/1"
        assert results["seed"] == seed
        assert set(results["metrics"]) == {"val", "test"}
        assert {"digit/accuracy", "angle/mae"} <= set(results["metrics"]["test"])
        assert set(results["versions"]) >= {"orthomtl", "torch", "python"}
        assert results["wall_time_s"] > 0
        assert "git_commit" in results


def test_multi_seed_summary_is_mean_and_std(two_seeds: orthomtl.RunResult) -> None:
    values = [r.metrics["test"]["digit/accuracy"] for r in two_seeds.runs]
    mean, std = two_seeds.summary()["digit/accuracy"]
    assert mean == pytest.approx(sum(values) / 2)
    assert std == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert values[0] != values[1]  # different seeds train differently
    assert "digit/accuracy" in two_seeds.table() and "±" in two_seeds.table()


def test_load_gives_a_model_for_new_data(two_seeds: orthomtl.RunResult) -> None:
    model = orthomtl.load(two_seeds.run_dirs[0])
    x = torch.rand(3, 1, 28, 28)
    out = model.predict(x)
    assert out["digit"].dtype == torch.int64 and out["angle"].shape == (3,)
    assert model.encode(x).shape == (3, 16)


def test_stl_trains_one_model_per_task(tmp_path: Path) -> None:
    result = orthomtl.run(tiny_config(method={"name": "stl"}, runs_dir=str(tmp_path)))
    model = orthomtl.load(result.run_dirs[0])
    assert model.encode(torch.rand(2, 1, 28, 28)).shape == (2, 32)
    assert set(model.method.network.nets) == {"digit", "angle"}


@pytest.mark.parametrize("kind", ["famo", "dwa", "uw"])
def test_weighting_state_round_trips(kind: str) -> None:
    def make() -> torch.nn.Module:
        return {"famo": lambda: FAMO(2), "dwa": lambda: DWA(), "uw": lambda: UW(2)}[kind]()

    torch.manual_seed(0)
    original = make()
    for _epoch in range(3):
        for _ in range(3):
            losses = torch.rand(2) + 0.5
            original(losses)
            if kind == "famo":
                original.update(losses * 0.9)
        if kind == "dwa":
            original.step()
    copy = make()
    load_weighting_state(copy, weighting_state(original))
    probe = torch.tensor([0.7, 1.3])
    assert torch.allclose(original(probe), copy(probe))
    if kind == "famo":
        original.update(probe * 0.5)
        copy.update(probe * 0.5)
        assert torch.allclose(original._w, copy._w)


def test_cli_lists_datasets_and_methods(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("rotated-digits", "mnist", "dsprites", "shapes3d", "image-npz"):
        assert f"{name}:" in out
    assert "digit (10 classes)" in out
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "hps:" in out and "stl:" in out


def test_cli_run_prints_results_and_run_dir(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config(runs_dir=str(tmp_path / "runs")))
    proc = subprocess.run(
        [sys.executable, "-m", "orthomtl.cli", "run", str(config), "method.aggregator=imtlg"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "digit/accuracy" in proc.stdout and "angle/mae" in proc.stdout
    run_dir = Path(re.search(r"run directory \(seed 0\): (\S+)", proc.stdout).group(1))
    assert (run_dir / "results.json").is_file()
    saved = (run_dir / "config.yaml").read_text()
    assert "aggregator: imtlg" in saved


def test_cli_reports_config_errors_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "c.yaml", tiny_config(runs_dir=str(tmp_path / "runs")))
    assert main(["run", str(config), "trainer.max_epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "orthomtl: error: trainer: unknown key(s) ['max_epoch']" in err
    assert not (tmp_path / "runs").exists()
    assert main(["resume", str(tmp_path / "missing")]) == 2
    assert "not an orthomtl run directory" in capsys.readouterr().err
