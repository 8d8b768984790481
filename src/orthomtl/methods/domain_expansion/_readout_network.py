"""Domain Expansion's stage-2 parts (arXiv 2601.20069): its options, and the network of the
frozen encoder and pooling with one linear readout per task."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from orthomtl.config import OptimConfig, TrainerConfig
from orthomtl.metrics.functional import check_composition_options
from orthomtl.pooling import OrthogonalPooling, TaskAxes
from orthomtl.tasks import Task

_COMPOSITION_OPTIONS = ("solve", "class_target", "rcond")


def composition_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``method.composition`` checked: only ``solve``, ``class_target`` and ``rcond``, each valid
    for ``composition_similarity``."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(_COMPOSITION_OPTIONS))
    if unknown:
        raise ValueError(
            f"Unknown method.composition option(s) {unknown}; allowed: "
            f"{sorted(_COMPOSITION_OPTIONS)} (e.g. solve: stacked, class_target: swap)."
        )
    try:
        check_composition_options(
            options.get("solve", "per-task"),
            options.get("class_target", "centre"),
            float(options.get("rcond", 1e-2)),
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"method.composition: {error}") from None
    return options


@dataclass(frozen=True)
class ReadoutOptions:
    """How stage 2 trains and evaluates (``domain-expansion``'s ``readout_*`` and ``composition``
    options).

    Attributes:
        epochs: stage 2's epochs.
        lr, weight_decay: its Adam learning rate and weight decay; ``None``: 0.1 × the encoder's,
            as the authors train their decoders.
        span: each readout reads only its task's coefficients (``ReadoutNetwork``).
        composition: the keyword options of ``composition_similarity`` in evaluation.
    """

    epochs: int = 30
    lr: float | None = None
    weight_decay: float | None = None
    span: bool = False
    composition: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in (("readout_epochs", self.epochs), ("readout_lr", self.lr)):
            if value is not None and value <= 0:
                raise ValueError(f"method.{name} must be > 0, got {value}.")
        if self.weight_decay is not None and self.weight_decay < 0:
            raise ValueError(f"method.readout_weight_decay must be >= 0, got {self.weight_decay}.")
        object.__setattr__(self, "composition", composition_options(self.composition))

    def trainer(self, trainer: TrainerConfig) -> TrainerConfig:
        """Stage 1's trainer for ``epochs``, monitored by the validation loss."""
        return dataclasses.replace(
            trainer,
            max_epochs=self.epochs,
            monitor="val/loss",
            monitor_mode="min",
            early_stopping_patience=None,
        )

    def optim(self, optim: OptimConfig) -> OptimConfig:
        """Adam with a cosine schedule, at ``lr`` and ``weight_decay`` (0.1 × stage 1's unless
        set)."""
        return dataclasses.replace(
            optim,
            name="adam",
            lr=0.1 * optim.lr if self.lr is None else self.lr,
            weight_decay=0.1 * optim.weight_decay
            if self.weight_decay is None
            else self.weight_decay,
            scheduler="cosine",
            warmup_steps=0,
            min_lr=0.0,
        )


class ReadoutNetwork(nn.Module):
    """Frozen encoder and pooling, and one linear readout per task.

    A readout reads the raw latent f, or with ``span=True`` only its task's coefficients
    c_m = ⟨f − μ, V_m⟩, so that its weight on f stays inside the span of the task's axes. Each
    class task's class centres in its coefficients (``centres_<task>``, estimated with the
    initialisation) are kept for concept algebra.
    """

    def __init__(
        self,
        encoder: nn.Module,
        pooling: OrthogonalPooling,
        tasks: list[Task],
        axes: TaskAxes,
        span: bool = False,
    ) -> None:
        super().__init__()
        self.encoder, self.pooling = encoder, pooling
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        self.axes, self.span = axes, span
        self.readouts = nn.ModuleDict(
            {
                t.name: nn.Linear(len(columns) if span else pooling.dim, t.num_classes or 1)
                for t, columns in zip(tasks, axes, strict=True)
            }
        )
        for task, columns in zip(tasks, axes, strict=True):
            if task.kind == "classification":
                shape = (task.num_classes, len(columns))
                self.register_buffer(
                    f"centres_{task.name}", torch.zeros(shape, dtype=torch.float64)
                )
        self.register_buffer("initialized", torch.tensor(False))

    def train(self, mode: bool = True) -> "ReadoutNetwork":
        super().train(mode)
        self.encoder.eval()  # frozen: BatchNorm keeps its statistics
        self.pooling.eval()
        return self

    def latent(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.encoder(x)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = self.latent(x)
        if not self.span:
            return {name: readout(features) for name, readout in self.readouts.items()}
        coefficients = self.pooling(features)
        return {
            name: readout(coefficients[:, list(columns)])
            for (name, readout), columns in zip(self.readouts.items(), self.axes, strict=True)
        }

    def centres(self, task: str) -> Tensor:
        """Task ``task``'s class centres (K, a) in its coefficients."""
        return getattr(self, f"centres_{task}")

    @torch.no_grad()
    def set_readout(self, m: int, weight: Tensor, bias: Tensor) -> None:
        """Set readout m to read the raw latent as f ↦ W f + b (W in the task span if ``span``)."""
        readout = list(self.readouts.values())[m]
        if self.span:
            v = self.pooling.basis.double()[:, list(self.axes[m])]
            bias = bias + weight @ self.pooling.mean.double()
            weight = weight @ v
        readout.weight.copy_(weight)
        readout.bias.copy_(bias)

    @torch.no_grad()
    def linear_readout(self, m: int) -> tuple[Tensor, Tensor]:
        """Readout m as (W, b) on the raw latent."""
        readout = list(self.readouts.values())[m]
        weight, bias = readout.weight.detach(), readout.bias.detach()
        if not self.span:
            return weight, bias
        v = self.pooling.basis.to(weight.dtype)[:, list(self.axes[m])]
        on_f = weight @ v.T
        return on_f, bias - on_f @ self.pooling.mean.to(weight.dtype)
