"""The shipped dual-encoder configs from the command line, and ``compare`` in a config."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import orthomtl
from orthomtl.cli import main
from orthomtl.config import ConfigError

BASELINES = 7


def _csv(path: Path) -> Path:
    """Columns named as the shipped tabular config expects: task, target, two features."""
    rng = np.random.default_rng(0)
    frames = []
    for t in range(3):
        x = rng.normal(size=(30, 2))
        frames.append(pd.DataFrame({"task": f"site{t}", "f1": x[:, 0], "f2": x[:, 1]}))
        frames[-1]["target"] = x @ [1.0, -2.0] + t
    pd.concat(frames).to_csv(path, index=False)
    return path


def _results(runs: Path) -> tuple[Path, dict]:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    return run_dir, json.loads((run_dir / "results.json").read_text())


def test_the_tabular_config_runs_on_a_users_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _csv(tmp_path / "my.csv")
    runs = tmp_path / "runs"
    overrides = [f"data.path={data}", "trainer.max_epochs=2", "seeds=[0]", f"runs_dir={runs}"]
    assert main(["run", "dual_encoder_tabular", *overrides]) == 0
    run_dir, results = _results(runs)
    test = results["metrics"]["test"]
    assert {"mse", "site0/mse", "site1/mse", "site2/mse"} <= set(test)
    assert len(results["compare"]) == BASELINES
    for label, entry in results["compare"].items():
        assert np.isfinite(entry["metrics"]["test"]["mse"]), label
        sub = run_dir / entry["run_dir"]
        assert json.loads((sub / "results.json").read_text())["method"] == entry["method"]
    ridge = next(e for e in results["compare"].values() if e["method"] == "single-task-ridge")
    model = orthomtl.load(run_dir / ridge["run_dir"])
    assert set(model.predict(torch.zeros(2, 2))) == {"site0", "site1", "site2"}
    assert model.encode(torch.zeros(2, 2)).shape == (2, 2)  # ridge: the standardised inputs
    specific = next(e for e in results["compare"].values() if e["method"] == "specific-only")
    assert orthomtl.load(run_dir / specific["run_dir"]).encode(torch.zeros(2, 2)).shape == (2, 12)
    assert orthomtl.load(run_dir).encode(torch.zeros(2, 2)).shape == (2, 8)  # C(x), p = 8
    printed = capsys.readouterr().out
    assert "single-task-ridge" in printed and "armul" in printed  # the side-by-side table
    # a resumed finished run trains nothing again and reports the same metrics
    again = orthomtl.resume(run_dir)
    assert again.runs[0].metrics == results["metrics"]
    assert {k: v["metrics"] for k, v in again.runs[0].compared.items()} == {
        k: v["metrics"] for k, v in results["compare"].items()
    }


def test_the_simulation_config_runs_every_baseline(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    overrides = ["trainer.max_epochs=2", "data.n=30", "data.test_size=40", "seeds=[0]"]
    assert main(["run", "dual_encoder_sim", *overrides, f"runs_dir={runs}"]) == 0
    _, results = _results(runs)
    methods = [entry["method"] for entry in results["compare"].values()]
    assert "hps" in methods and "armul" in methods and len(methods) == BASELINES + 1
    assert all(f"task{r}/mse" in results["metrics"]["test"] for r in range(1, 7))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"method": {"name": "armul"}, "data": {"n": 5}}, r"compare\[0\]: sections \['data'\]"),
        ({"method": {"name": "no-such-method"}}, r"compare\[0\]: method.name: unknown method"),
        ({"trainer": {"max_epochs": 1}}, r"compare\[0\]: expected a mapping with a method"),
        ({"method": {"name": "armul", "c": "big"}}, r"compare\[0\]: method.c"),
    ],
)
def test_compare_entries_are_checked_before_training(entry: dict, message: str) -> None:
    config = {"data": {"name": "hetero-sim"}, "method": {"name": "armul"}, "compare": [entry]}
    with pytest.raises(ConfigError, match=message):
        orthomtl.run(config)
