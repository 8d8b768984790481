"""The stages of one seed's run: the method's own training, then each ``Stage`` it asks for.

Stage ``s`` trains in ``<run_dir>/s/`` (the first stage in ``<run_dir>`` itself), with its own
trainer and optimiser settings and, if it carries one, its own data. On resume the first stage
starts from the given checkpoint and every later stage from its own ``last.ckpt`` when it has one,
so a run killed in any stage continues where it stopped.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fabric import Fabric

from orthomtl.config import Config
from orthomtl.data import TaskData
from orthomtl.engine._loop import Callback, Engine
from orthomtl.engine._method import Method, Stage


@dataclass
class StagesResult:
    """The last stage's method, data and final metrics, and a record of every stage."""

    method: Method
    data: TaskData
    metrics: dict[str, dict[str, float]]
    records: list[dict[str, Any]] = field(default_factory=list)


def train_stages(
    fabric: Fabric,
    config: Config,
    method: Method,
    data: TaskData,
    run_dir: Path,
    *,
    seed: int,
    resume_from: Path | None,
    callbacks: Sequence[Callback],
    saved_config: dict[str, Any],
) -> StagesResult:
    """Train ``method`` on ``data`` in ``run_dir``, then every stage that follows it.

    Args:
        config: the run's config (data loading and the first stage's trainer and optimiser).
        resume_from: the first stage's checkpoint to resume from, or ``None`` for a fresh run.
        saved_config: the resolved config, stored in every checkpoint.
    """
    stage: Stage | None = Stage("", method, config.trainer, config.optim)
    records: list[dict[str, Any]] = []
    metrics: dict[str, dict[str, float]] = {}
    while stage is not None:
        stage_dir = run_dir / stage.name if stage.name else run_dir
        data = stage.data or data
        last = stage_dir / "checkpoints" / "last.ckpt"
        if stage.name:
            start = last if resume_from is not None and last.is_file() else None
        else:
            start = resume_from
        engine = Engine(
            fabric,
            stage.method,
            stage.method.training_data(data, seed),
            stage_dir,
            stage.trainer,
            stage.optim,
            seed=seed,
            batch_size=config.data.batch_size,
            eval_batch_size=config.data.eval_batch_size,
            num_workers=config.data.num_workers,
            stratify_by_source=config.data.stratify_by_source,
            config=saved_config,
            callbacks=callbacks,
        )
        progress = engine.fit(start)
        metrics, which = engine.final_metrics()
        records.append(
            {
                "stage": stage.name or "main",
                "checkpoint": which,
                "best_epoch": progress.best_epoch,
                "epochs": progress.epoch,
                "steps": progress.step,
                "wall_time_s": round(progress.wall_time, 3),
                "tasks": [t.name for t in stage.method.tasks],
            }
        )
        method = stage.method
        stage = method.next_stage(stage.trainer, stage.optim, run_dir, data)
    return StagesResult(method=method, data=data, metrics=metrics, records=records)
