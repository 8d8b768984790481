"""The Python API: ``run(config) -> RunResult``, ``resume(run_dir)`` and ``load(run_dir)``.

    >>> import orthomtl
    >>> result = orthomtl.run("configs/demo.yaml")
    >>> print(result.table())
    >>> model = orthomtl.load(result.run_dirs[0])
    >>> model.predict(x)["digit"]

With ``trainer.strategy: ddp`` and ``trainer.devices: N``, Fabric re-runs the calling script in N
processes; call ``run`` from a script (or the CLI), not from an interactive session.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fabric import Fabric
from lightning_fabric.utilities.seed import seed_everything

from orthomtl.config import (
    Config,
    ConfigError,
    apply_overrides,
    compared_configs,
    from_dict,
    load_config,
    resolved,
)
from orthomtl.data import TaskData
from orthomtl.diagnostics import configured_callbacks, format_mean_std, task_metric_keys
from orthomtl.engine import (
    Callback,
    Method,
    TrainedModel,
    check_callbacks,
    check_readable,
    new_run_dir,
    read_checkpoint,
    read_config,
    read_results,
    save_config,
    train_stages,
    write_results,
)
from orthomtl.metrics.functional import mean_std
from orthomtl.registry import DATASETS, METHODS
from orthomtl.tasks import Task
from orthomtl.typecheck import keyword_defaults


@dataclass
class SeedRun:
    """One seed's run directory and its final metrics per split."""

    seed: int
    run_dir: Path
    metrics: dict[str, dict[str, float]]
    compared: dict[str, Any] = field(default_factory=dict)
    """Per compared method's label: its method, run directory (under ``run_dir``) and metrics."""


@dataclass
class RunResult:
    """All seeds of a config; ``summary`` gives mean ± std over seeds."""

    method: str
    dataset: str
    runs: list[SeedRun] = field(default_factory=list)
    label: str = ""
    rank: int = 0
    """This process's global rank (under DDP every process returns a result)."""

    @property
    def run_dirs(self) -> list[Path]:
        return [r.run_dir for r in self.runs]

    @property
    def compared_run_dirs(self) -> list[Path]:
        """The run directories of the ``compare`` methods, every seed."""
        return [r.run_dir / c["run_dir"] for r in self.runs for c in r.compared.values()]

    def summary(self, split: str = "test") -> dict[str, tuple[float, float]]:
        """``{metric: (mean, std)}`` over seeds (std is 0 for one seed)."""
        keys = self.runs[0].metrics[split].keys()
        return {k: mean_std([r.metrics[split][k] for r in self.runs]) for k in keys}

    def table(self, splits: Sequence[str] = ("val", "test")) -> str:
        """A markdown table of every task metric, mean ± std over seeds."""
        keys = task_metric_keys(self.runs[0].metrics[splits[0]])
        title = f"| {self.label or self.method} on {self.dataset} ({len(self.runs)} seed(s)) | "
        lines = [title + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
        for key in keys:
            cells = [
                format_mean_std([r.metrics[split][key] for r in self.runs]) for split in splits
            ]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def as_config(
    config: Config | Mapping[str, Any] | str | Path, overrides: Sequence[str] = ()
) -> Config:
    if isinstance(config, Config):
        if overrides:
            raise ConfigError("Overrides apply to a YAML path or a dict, not to a Config object.")
        return config
    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    return from_dict(apply_overrides(dict(config), overrides))


def run_label(config: Config) -> str:
    """The method's name and its options that differ from their defaults, e.g.
    ``hps aggregator=upgrad``."""
    cls = METHODS.get(config.method.name)
    defaults = keyword_defaults(cls.__init__, skip=cls.BUILD_ARGS)
    changed = {k: v for k, v in config.method.options.items() if defaults.get(k) != v}
    options = " ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return f"{config.method.name} {options}".strip()


def load_data(config: Config, seed: int) -> TaskData:
    """Build the configured dataset."""
    info = DATASETS.get(config.data.name)
    return info.loader(
        seed=seed, path=config.data.path, tasks=config.data.tasks, **config.data.options
    )


def build_method(config: Config, tasks: Sequence[Task], input_shape: Sequence[int]) -> Method:
    """Instantiate the configured method for these tasks and inputs."""
    cls = METHODS.get(config.method.name)
    return cls(tasks, tuple(input_shape), config.model, **config.method.options)


def _fabric(config: Config) -> Fabric:
    t = config.trainer
    fabric = Fabric(
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        num_nodes=t.num_nodes,
        precision=t.precision,
    )
    fabric.launch()
    return fabric


def _train_in(
    fabric: Fabric,
    config: Config,
    data: TaskData,
    seed: int,
    run_dir: Path,
    resume_from: Path | None,
    callbacks: Sequence[Callback],
    method: Method | None = None,
) -> dict[str, Any]:
    """Train ``config``'s method (``method``, or a new one) on ``data`` in ``run_dir`` (with its
    stages); write and return its ``results.json`` record."""
    if method is None:
        seed_everything(seed, workers=True, verbose=False)
        method = build_method(config, data.tasks, data.input_shape)
    given = {type(c) for c in callbacks}  # a callback the caller passes replaces the configured one
    callbacks = [
        *callbacks,
        *(c for c in configured_callbacks(config.diagnostics) if type(c) not in given),
    ]
    saved = {**resolved(config), "seeds": [seed]}
    if fabric.is_global_zero and not (run_dir / "config.yaml").is_file():
        save_config(run_dir, saved)
    result = train_stages(
        fabric,
        config,
        method,
        data,
        run_dir,
        seed=seed,
        resume_from=resume_from,
        callbacks=callbacks,
        saved_config=saved,
    )
    records = result.records
    record = {
        "method": config.method.name,
        "label": run_label(config),
        "dataset": config.data.name,
        "seed": seed,
        "tasks": [
            {"name": t.name, "kind": t.kind, "num_classes": t.num_classes} for t in data.tasks
        ],
        "input_shape": list(data.input_shape),
        "metrics": result.metrics,
        "checkpoint": records[-1]["checkpoint"],
        "best_epoch": records[-1]["best_epoch"],
        "epochs": records[-1]["epochs"],
        "steps": records[-1]["steps"],
        "wall_time_s": round(sum(r["wall_time_s"] for r in records), 3),
        "stages": records,
    }
    if fabric.is_global_zero:
        write_results(run_dir, record)
    return record


def _train_seed(
    fabric: Fabric,
    config: Config,
    seed: int,
    run_dir: Path | None,
    resume_from: Path | None,
    callbacks: Sequence[Callback],
) -> SeedRun:
    """One seed: the configured method, then each method of ``compare`` on the same data, in
    ``<run_dir>/compare/<i>-<method>/``; the main ``results.json`` lists theirs under
    ``compare``."""
    seed_everything(seed, workers=True, verbose=False)
    data = load_data(config, seed)
    seed_everything(seed, workers=True, verbose=False)
    method = build_method(config, data.tasks, data.input_shape)  # its errors come before any file
    if run_dir is None:
        path = (
            new_run_dir(config.runs_dir, config.method.name, config.data.name, seed)
            if fabric.is_global_zero
            else None
        )
        run_dir = Path(fabric.broadcast(path))
    record = _train_in(fabric, config, data, seed, run_dir, resume_from, callbacks, method)
    compared: dict[str, Any] = {}
    for i, other in enumerate(compared_configs(config)):
        sub = run_dir / "compare" / f"{i}-{other.method.name}"
        if fabric.is_global_zero:
            sub.mkdir(parents=True, exist_ok=True)
        last = sub / "checkpoints" / "last.ckpt"
        start = last if resume_from is not None and last.is_file() else None
        theirs = _train_in(fabric, other, data, seed, sub, start, callbacks)
        label = theirs["label"] if theirs["label"] not in compared else f"{theirs['label']} ({i})"
        compared[label] = {
            "method": other.method.name,
            "run_dir": str(sub.relative_to(run_dir)),
            "metrics": theirs["metrics"],
        }
    if compared and fabric.is_global_zero:
        write_results(run_dir, {**record, "compare": compared})
    return SeedRun(seed=seed, run_dir=run_dir, metrics=record["metrics"], compared=compared)


def run(
    config: Config | Mapping[str, Any] | str | Path,
    overrides: Sequence[str] = (),
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the configured method once per seed; each seed gets its own run directory."""
    cfg = as_config(config, overrides)
    check_callbacks(callbacks)
    fabric = _fabric(cfg)
    result = RunResult(
        method=cfg.method.name, dataset=cfg.data.name, label=run_label(cfg), rank=fabric.global_rank
    )
    for seed in cfg.seeds:
        result.runs.append(_train_seed(fabric, cfg, seed, None, None, callbacks))
    return result


def resume(
    run_dir: str | Path, checkpoint_name: str = "last.ckpt", callbacks: Sequence[Callback] = ()
) -> RunResult:
    """Continue a run from ``run_dir/checkpoints/<checkpoint_name>``, in the same directory."""
    run_dir = Path(run_dir)
    cfg = from_dict(read_config(run_dir))
    ckpt = run_dir / "checkpoints" / checkpoint_name
    check_readable(ckpt)
    check_callbacks(callbacks)
    fabric = _fabric(cfg)
    seed_run = _train_seed(fabric, cfg, cfg.seeds[0], run_dir, ckpt, callbacks)
    return RunResult(
        method=cfg.method.name,
        dataset=cfg.data.name,
        runs=[seed_run],
        label=run_label(cfg),
        rank=fabric.global_rank,
    )


def load(run_dir: str | Path, checkpoint_name: str | None = None) -> TrainedModel:
    """The trained model of a finished run (the weights its results.json reports, by default)."""
    run_dir = Path(run_dir)
    cfg = from_dict(read_config(run_dir))
    results = read_results(run_dir)
    tasks = [Task(**spec) for spec in results["tasks"]]
    method = build_method(cfg, tasks, results["input_shape"])
    trainer, optim = cfg.trainer, cfg.optim
    stages = results.get("stages", [{"stage": "main", "checkpoint": results["checkpoint"]}])
    for i, record in enumerate(stages):
        stage_dir = run_dir if record["stage"] == "main" else run_dir / record["stage"]
        last_stage = i == len(stages) - 1
        name = checkpoint_name if last_stage and checkpoint_name else f"{record['checkpoint']}.ckpt"
        state = read_checkpoint(stage_dir / "checkpoints" / name)
        method.network.load_state_dict(state["model"])
        if not last_stage:
            stage = method.next_stage(trainer, optim, run_dir, None)
            if stage is None:
                raise ValueError(f"{run_dir}: results.json lists more stages than the method has.")
            method, trainer, optim = stage.method, stage.trainer, stage.optim
    return TrainedModel(method, results["input_shape"])


__all__ = [
    "RunResult",
    "SeedRun",
    "as_config",
    "build_method",
    "load",
    "load_data",
    "resume",
    "run",
]
