"""Concept algebra in a Domain Expansion latent (arXiv 2601.20069).

Each task owns one orthogonal axis v_m of the latent (or, for a class task trained with
``class_axes`` > 1, a few: V_m), so a concept is edited by moving along its axes alone, c ⊕^m Δ:
f ↦ f + V_m Δ changes task m's coefficients by Δ and leaves every other coefficient as it was.
The stage-2 linear readouts read concepts back, so an edit can be asked for in label units (the
decoded angle turns by Δ radians; a class task moves to a class's centre), and two samples compose
as c_p ⊕ (c_q ⊖ c_p): sample p with the chosen concepts of sample q.

    >>> algebra = ConceptAlgebra(orthomtl.load(run_dir))
    >>> f = algebra.encode(x)                          # (B, D) latents
    >>> turned = algebra.edit(f, "angle", 0.3)          # decoded angles turned by +0.3 rad
    >>> algebra.decode(turned)["angle"]                 # decoded angles; the digits stay
    >>> algebra.edit(f, "digit", 7)                     # the digit axes moved to class 7's centre
    >>> mixed = algebra.compose(algebra.encode(x_p), algebra.encode(x_q), ["angle"])
    >>> algebra.decode(mixed)                           # x_p's digit with x_q's angle
"""

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from orthomtl.engine import TrainedModel
from orthomtl.methods.domain_expansion._readouts import DomainExpansionReadouts
from orthomtl.metrics.functional import ClassTarget, Solve, compose


class ConceptAlgebra:
    """Encode, edit, decode and compose concepts with a trained ``domain-expansion`` model.

    Args:
        model: a finished run's model, ``orthomtl.load(run_dir)``.
    """

    def __init__(self, model: TrainedModel) -> None:
        if not isinstance(model.method, DomainExpansionReadouts):
            raise TypeError(
                "ConceptAlgebra needs a finished domain-expansion run (its readout stage); got a "
                f"{type(model.method).__name__} model."
            )
        self.model = model
        self.method: DomainExpansionReadouts = model.method
        self.tasks = model.tasks

    def _columns(self, task: str) -> list[int]:
        names = [t.name for t in self.tasks]
        if task not in names:
            raise KeyError(f"No task {task!r}; the tasks are {names}.")
        return list(self.method.axes[names.index(task)])

    def _check_latent(self, f: Tensor) -> Tensor:
        dim = self.method.pooling.dim
        if f.dim() != 2 or f.shape[1] != dim or not torch.isfinite(f).all():
            raise ValueError(
                f"Expected finite latents of shape (batch, {dim}), got {tuple(f.shape)}."
            )
        return f

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Latents f (B, D) of inputs shaped like the training data."""
        return self.model.encode(x)

    @torch.no_grad()
    def coefficients(self, f: Tensor) -> Tensor:
        """c (B, M), c_m = ⟨f − μ, v_m⟩; task m owns the columns ``self.method.axes[m]``."""
        pooling = self.method.pooling
        return (self._check_latent(f) - pooling.mean.to(f.dtype)) @ pooling.basis.to(f.dtype)

    def edit(
        self,
        f: Tensor,
        task: str,
        delta: float | Tensor,
        units: Literal["label", "coefficient"] = "label",
    ) -> Tensor:
        """c ⊕^m Δ: move every latent along task ``task``'s axes only.

        With ``units="label"`` (the default) ``delta`` is in the task's label units, through its
        readout: a regression value or an angle in radians (a number, or (B,) one per latent) by
        which the decoded label moves (the per-task solve of ``compose``); for a class task, the
        class (an int, or (B,)) whose centre the task's coefficients move to. With
        ``units="coefficient"`` it is added to the task's coefficients: a number or (B,) for a task
        with one axis; (a,) or (B, a) for a task with a axes.
        """
        if units == "label":
            return self._edit_label(f, task, delta)
        if units != "coefficient":
            raise ValueError(f"units must be 'label' or 'coefficient', got {units!r}.")
        columns = self._columns(task)
        axes = self.method.pooling.basis[:, columns].to(f.dtype)  # (D, a)
        step = torch.as_tensor(delta, dtype=f.dtype)
        one_axis = len(columns) == 1 and (step.dim() <= 1 or step.shape == (step.shape[0], 1))
        if step.dim() > 2 or not (one_axis or (step.dim() >= 1 and step.shape[-1] == len(columns))):
            raise ValueError(
                f"delta for task {task!r} must have {len(columns)} entries per latent (its axes), "
                f"got shape {tuple(step.shape)}."
            )
        return self._check_latent(f) + step.reshape(-1, len(columns)) @ axes.T

    @torch.no_grad()
    def _edit_label(self, f: Tensor, task: str, delta: float | Tensor) -> Tensor:
        self._columns(task)
        f = self._check_latent(f)
        kind = next(t for t in self.tasks if t.name == task).kind
        step = torch.as_tensor(delta).cpu()
        if step.dim() > 1 or (step.dim() == 1 and step.shape[0] != f.shape[0]):
            raise ValueError(
                f"delta for task {task!r} must be a number or have one entry per latent "
                f"({f.shape[0]},), got shape {tuple(step.shape)}."
            )
        step = step.expand(f.shape[0])
        source = self.decode(f)[task].cpu()
        if kind == "classification":
            target = step.long()
            if step.is_floating_point() and not torch.equal(step, step.round()):
                raise ValueError(f"delta for class task {task!r} is a class index, got {delta}.")
        else:
            target = source.double() + step.double()
        return self._compose(f, {task: source}, {task: target}, [task], {})

    def _compose(
        self,
        f_p: Tensor,
        y_p: dict[str, Tensor],
        y_q: dict[str, Tensor],
        concepts: list[str],
        options: dict[str, Any],
    ) -> Tensor:
        pooling = self.method.pooling
        linear = self.method.linear_readouts()
        composed = compose(
            f_p.double().cpu().numpy(),
            {k: v.cpu().numpy() for k, v in y_p.items()},
            {k: v.cpu().numpy() for k, v in y_q.items()},
            pooling.mean.double().cpu().numpy(),
            pooling.basis.double().cpu().numpy(),
            [tuple(a.double().cpu().numpy() for a in linear[t.name]) for t in self.tasks],
            self.tasks,
            axes=self.method.axes,
            centres={k: c.cpu().numpy() for k, c in self.method.class_centres().items()},
            concepts=concepts,
            **{**self.method.composition, **options},
        )
        return torch.from_numpy(np.asarray(composed)).to(f_p.device, f_p.dtype)

    @torch.no_grad()
    def decode(self, f: Tensor) -> dict[str, Tensor]:
        """Per task the readouts' prediction: class index, value, or angle in radians."""
        f = self._check_latent(f)
        readouts = self.method.linear_readouts()
        out = {}
        for task in self.tasks:
            weight, bias = readouts[task.name]
            value = torch.nn.functional.linear(f, weight.to(f.dtype), bias.to(f.dtype))
            if task.kind == "angle":
                value = torch.cat([torch.cos(value), torch.sin(value)], dim=1)
            out[task.name] = task.predict(value)
        return out

    @torch.no_grad()
    def compose(
        self,
        f_p: Tensor,
        f_q: Tensor,
        concepts: Sequence[str] | None = None,
        *,
        solve: Solve | None = None,
        class_target: ClassTarget | None = None,
    ) -> Tensor:
        """c_p ⊕ (c_q ⊖ c_p): each latent of ``f_p`` with the ``concepts`` (task names; all when
        ``None``) of the matching latent of ``f_q``, as decoded by the readouts.

        The default is the run's ``method.composition`` (the per-task solve and the move to q's
        class centre unless set); ``solve="stacked"`` and ``class_target="swap"`` give the
        paper's. See ``orthomtl.metrics.functional.compose``.
        """
        if f_p.shape != f_q.shape:
            raise ValueError(
                f"f_p and f_q must have the same shape, got {tuple(f_p.shape)} and "
                f"{tuple(f_q.shape)}."
            )
        chosen = [t.name for t in self.tasks] if concepts is None else list(concepts)
        for name in chosen:
            self._columns(name)
        source, target = self.decode(f_p), self.decode(f_q)
        options = {"solve": solve, "class_target": class_target}
        return self._compose(
            f_p,
            {k: source[k] for k in chosen},
            {k: target[k] for k in chosen},
            chosen,
            {k: v for k, v in options.items() if v is not None},
        )
