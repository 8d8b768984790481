"""Detaux's last stage: MTL on the principal task and the discovered auxiliary task(s).

The paper feeds the discovered labels to any MTL model, and weights the principal task up in
HPS. Here the MTL stage is ``hps`` (any TorchJD loss weighting or aggregator) with the principal
task's loss multiplied by ``principal_weight`` before weighting or aggregation.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from orthomtl.config import ModelConfig, OptimConfig, TrainerConfig
from orthomtl.data import TaskData
from orthomtl.engine import Stage
from orthomtl.methods.hps import HPS
from orthomtl.tasks import Task


def _replace(section: Any, changes: Mapping[str, Any], option: str) -> Any:
    allowed = [f.name for f in dataclasses.fields(section)]
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown method.{option} key(s) {unknown}; allowed: {allowed}.")
    return dataclasses.replace(section, **changes)


@dataclass(frozen=True)
class MTLOptions:
    """How the MTL stage is built and trained (``detaux``'s ``principal_weight`` and ``mtl*``).

    Attributes:
        principal_weight: the principal task's loss weight (the auxiliary tasks' is 1).
        hps: keyword options of ``hps`` (``loss_weighting``, ``aggregator``, ...).
        model: the MTL network's ``model`` section (default: ``ModelConfig()``, a convnet).
        trainer, optim: changes to the autoencoder stage's ``trainer`` and ``optim``.
    """

    principal_weight: float = 1.0
    hps: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls,
        principal_weight: float,
        hps: Mapping[str, Any] | None,
        model: Mapping[str, Any] | None,
        trainer: Mapping[str, Any] | None,
        optim: Mapping[str, Any] | None,
    ) -> "MTLOptions":
        """Check the options now, so that a typo fails before the autoencoder trains."""
        if not principal_weight > 0:
            raise ValueError(f"method.principal_weight must be > 0, got {principal_weight}.")
        options = cls(
            float(principal_weight),
            dict(hps or {}),
            dict(model or {}),
            dict(trainer or {}),
            dict(optim or {}),
        )
        options.model_config()
        options.trainer_config(TrainerConfig())
        options.optim_config(OptimConfig())
        return options

    def model_config(self) -> ModelConfig:
        return _replace(ModelConfig(), self.model, "mtl_model")

    def trainer_config(self, base: TrainerConfig) -> TrainerConfig:
        return _replace(base, self.trainer, "mtl_trainer")

    def optim_config(self, base: OptimConfig) -> OptimConfig:
        return _replace(base, self.optim, "mtl_optim")

    def stage(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        trainer: TrainerConfig,
        optim: OptimConfig,
        data: TaskData | None,
    ) -> Stage:
        """The ``mtl`` stage on ``tasks`` (the principal first), after the autoencoder stage
        trained with ``trainer`` and ``optim``, on ``data`` with the auxiliary labels."""
        network = AuxiliaryHPS(
            tasks,
            input_shape,
            self.model_config(),
            principal_weight=self.principal_weight,
            **self.hps,
        )
        return Stage(
            "mtl", network, self.trainer_config(trainer), self.optim_config(optim), data=data
        )


class AuxiliaryHPS(HPS):
    """``hps`` on the principal task (first) and the auxiliary tasks, with the principal task's
    loss multiplied by ``principal_weight``.

    Args:
        principal_weight: the principal task's loss weight.
        **options: ``HPS``'s options.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        principal_weight: float = 1.0,
        **options: Any,
    ) -> None:
        try:
            super().__init__(tasks, input_shape, model, **options)
        except TypeError as error:
            raise ValueError(f"method.mtl: {error}") from None
        self.principal_weight = principal_weight

    def _task_losses(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> list[Tensor]:
        losses = super()._task_losses(outputs, targets)
        return [losses[0] * self.principal_weight, *losses[1:]]
