"""A run's metric logs: Lightning Fabric's CSV and TensorBoard loggers, written by rank 0 straight
into the run directory (no ``version_N`` folders). On resume, the rows logged after the checkpoint
are dropped from ``metrics.csv`` and TensorBoard purges the same steps, so nothing is logged twice.
"""

import warnings
from pathlib import Path

from lightning_fabric.loggers import CSVLogger, TensorBoardLogger

from orthomtl.engine._rundir import trim_metrics

# The run directory already holds config.yaml when the CSV logger starts: it appends, deletes
# nothing.
warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


class RunLogger:
    """Logs metrics on the writing rank; a no-op elsewhere."""

    def __init__(self, run_dir: Path, start_step: int, writer: bool) -> None:
        self.writer = writer
        if not writer:
            self.loggers: list[CSVLogger | TensorBoardLogger] = []
            return
        trim_metrics(run_dir / "metrics.csv", start_step)
        self.loggers = [
            CSVLogger(run_dir, name="", version=""),
            TensorBoardLogger(run_dir, name="", version="", purge_step=start_step or None),
        ]

    def log(self, metrics: dict[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)

    def close(self) -> None:
        for logger in self.loggers:
            logger.finalize("success")
