"""Train configs in a subprocess, as the DDP and kill-and-resume tests need.

    python train.py OUT.json CONFIG.yaml [CONFIG.yaml ...] [--kill-at-step N [--kill-in-stage S]]
                    [--nc-every N]

Fabric's ``ddp`` strategy re-runs this script once per process. Each config is trained in turn;
rank 0 writes ``{config: {"run_dir": ..., "metrics": ...}}`` to OUT.json. With ``--kill-at-step``
the process SIGKILLs itself right after that optimiser step (a checkpoint may precede it); with
``--kill-in-stage`` too, after that step of the named stage (e.g. ``readouts``). With
``--nc-every`` a ``NeuralCollapseCallback`` logs every N epochs.

It also registers ``hps-non-finite-on-one-rank``, an ``hps`` whose loss is infinite on one rank
only, for the DDP test of the engine's check of the training loss.
"""

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence

from torch import Tensor

import orthomtl
from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.diagnostics import NeuralCollapseCallback
from orthomtl.engine import Callback, Engine
from orthomtl.methods import HPS
from orthomtl.methods.hps._aggregation import AggregatorName
from orthomtl.registry import METHODS
from orthomtl.tasks import Task


class KillAt(Callback):
    def __init__(self, step: int, stage: str | None) -> None:
        self.step, self.stage = step, stage

    def on_train_batch_end(self, engine: Engine, batch: Batch, losses: dict[str, Tensor]) -> None:
        in_stage = self.stage is None or engine.run_dir.name == self.stage
        if in_stage and engine.progress.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@METHODS.register("hps-non-finite-on-one-rank")
class NonFiniteOnOneRank(HPS):
    """``hps`` whose training loss becomes infinite on rank ``bad_rank`` alone at its
    ``bad_step``-th step, while the other ranks' losses stay finite."""

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        aggregator: AggregatorName | None = None,
        bad_rank: int = 1,
        bad_step: int = 2,
    ) -> None:
        super().__init__(tasks, input_shape, model, aggregator=aggregator)
        self.bad_rank, self.bad_step, self.steps = bad_rank, bad_step, 0

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        losses = super().training_step(batch)
        self.steps += 1
        if self.steps == self.bad_step and self.fabric.global_rank == self.bad_rank:
            losses["total"] = losses["total"] + float("inf")
        return losses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--kill-at-step", type=int, default=None)
    parser.add_argument("--kill-in-stage", default=None)
    parser.add_argument("--nc-every", type=int, default=None)
    args = parser.parse_args()
    callbacks: list[Callback] = []
    if args.kill_at_step:
        callbacks.append(KillAt(args.kill_at_step, args.kill_in_stage))
    if args.nc_every:
        callbacks.append(NeuralCollapseCallback(args.nc_every, fraction=1.0))
    report = {}
    for path in args.configs:
        result = orthomtl.run(path, callbacks=callbacks)
        report[path] = {"run_dir": str(result.run_dirs[0]), "metrics": result.runs[0].metrics}
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0:
        with open(args.out, "w") as file:
            json.dump(report, file)


if __name__ == "__main__":
    sys.exit(main())
