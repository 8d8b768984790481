"""Train configs in a subprocess, as the DDP and kill-and-resume tests need.

    python train.py OUT.json CONFIG.yaml [CONFIG.yaml ...] [--kill-at-step N [--kill-in-stage S]]

Fabric's ``ddp`` strategy re-runs this script once per process. Each config is trained in turn;
rank 0 writes ``{config: {"run_dir": ..., "metrics": ...}}`` to OUT.json. With ``--kill-at-step``
the process SIGKILLs itself right after that optimiser step (a checkpoint may precede it); with
``--kill-in-stage`` too, after that step of the named stage (e.g. ``readouts``).
"""

import argparse
import json
import os
import signal
import sys

import orthomtl
from orthomtl.engine import Callback, Engine


class KillAt(Callback):
    def __init__(self, step: int, stage: str | None) -> None:
        self.step, self.stage = step, stage

    def on_train_batch_end(self, engine: Engine) -> None:
        in_stage = self.stage is None or engine.run_dir.name == self.stage
        if in_stage and engine.progress.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--kill-at-step", type=int, default=None)
    parser.add_argument("--kill-in-stage", default=None)
    args = parser.parse_args()
    callbacks = [KillAt(args.kill_at_step, args.kill_in_stage)] if args.kill_at_step else []
    report = {}
    for path in args.configs:
        result = orthomtl.run(path, callbacks=callbacks)
        report[path] = {"run_dir": str(result.run_dirs[0]), "metrics": result.runs[0].metrics}
    if int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0:
        with open(args.out, "w") as file:
            json.dump(report, file)


if __name__ == "__main__":
    sys.exit(main())
