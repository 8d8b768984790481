"""Transfer to a new task: its own encoder and coefficients on a trained, frozen shared encoder.

The paper's theory section (as reconstructed in our notes) bounds the excess risk of a task by
what the shared encoder C already knows from the other tasks. ``dual-encoder-transfer`` tests
that on a new task: C is the selected configuration's shared encoder of a finished
``dual-encoder`` run (its snapshot at the best mean validation round), frozen, with that run's
input standardisation; the new task gets its own S_new (trained) and coefficients, β_new pulled
toward the trained centre β̄ (fixed) with λ = c√(p/n_new). The single-task MLPs trained
alongside are the same task fitted alone, so the run's sharing gain (``dual_encoder.json``) is
transfer's gain, and a sweep over n_new shows how it shrinks as the task's own data grows.
"""

from collections.abc import Sequence
from pathlib import Path

import torch

from orthomtl.config import ModelConfig, from_dict
from orthomtl.engine import read_checkpoint, read_config, read_results
from orthomtl.methods.dual_encoder._method import TabularMTL
from orthomtl.methods.dual_encoder._model import as_list, configuration_grid
from orthomtl.registry import METHODS
from orthomtl.tasks import Task


def load_source(run_dir: str | Path) -> TabularMTL:
    """The trained family member of a finished run, with the weights its results.json reports.

    Raises:
        ValueError: if the run's method has no shared encoder to transfer.
    """
    run_dir = Path(run_dir)
    config = from_dict(read_config(run_dir))
    results = read_results(run_dir)
    cls = METHODS.get(config.method.name)
    if not issubclass(cls, TabularMTL):
        raise ValueError(
            f"from_run: {run_dir} is a {config.method.name!r} run; transfer needs a run of "
            "dual-encoder or shared-only (a trained shared encoder)."
        )
    tasks = [Task(**spec) for spec in results["tasks"]]
    method = cls(tasks, results["input_shape"], config.model, **config.method.options)
    state = read_checkpoint(run_dir / "checkpoints" / f"{results['checkpoint']}.ckpt")
    method.network.load_state_dict(state["model"])
    if method.net.shared is None:
        raise ValueError(
            f"from_run: the {config.method.name!r} run in {run_dir} has no shared MLP to transfer."
        )
    return method


@METHODS.register("dual-encoder-transfer")
class DualEncoderTransfer(TabularMTL):
    """New tasks on the frozen shared encoder of a finished run (see the module docstring).

    Args:
        from_run: the run directory of a finished ``dual-encoder`` (or ``shared-only``) run.
        task_dim: q of the new task's encoder (a list: selected among).
        c: the β-centre penalty's constant, λ = c√(p/n_new).
        single_task_dims: widths of the single-task MLPs trained alongside (the task fitted
            alone).
        prox_steps: proximal steps per round.

    The encoders' hidden widths and activation are the source run's.
    """

    summary = "a new task on a trained dual encoder's frozen shared encoder"
    refit_standardisation = False
    fixed_centres = True

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        from_run: str,
        task_dim: int | list[int] = 4,
        c: float | list[float] = 0.1,
        single_task_dims: tuple[int, ...] = (4,),
        prox_steps: int = 10,
    ) -> None:
        source = load_source(from_run)
        if tuple(input_shape) != source.input_shape:
            raise ValueError(
                f"from_run: the source run had inputs {source.input_shape}, these are "
                f"{tuple(input_shape)}; the new task needs the source's features."
            )
        src = source.net
        g = int(source.network.selected[0])
        p = source.configurations[g].shared_dim
        assert src.shared is not None
        grid = configuration_grid([p], as_list(task_dim), as_list(c), [0.0])
        super().__init__(
            tasks,
            input_shape,
            model,
            configurations=grid,
            single_task_dims=single_task_dims,
            centres=("beta",),
            hidden=src.shared.widths[1:-1],
            activation=src.shared.activation_name,
            prox_steps=prox_steps,
        )
        self._freeze_shared(source, g, p)

    @torch.no_grad()
    def _freeze_shared(self, source: TabularMTL, g: int, p: int) -> None:
        """Copy the source's shared encoder (configuration g, first p outputs), standardisation
        and β̄ into every configuration, and freeze the encoder."""
        net, src, joint = self.net, source.net, source.network.joint
        assert net.shared is not None
        last = len(net.shared.weights) - 1
        for i, (weight, bias) in enumerate(net.shared.layers()):
            src_w = joint.get_buffer(f"shared_weight{i}")[0, g]
            src_b = joint.get_buffer(f"shared_bias{i}")[0, g]
            if i == last:
                src_w, src_b = src_w[:, :p], src_b[:p]
            weight.copy_(src_w.expand_as(weight))
            bias.copy_(src_b.expand_as(bias))
            weight.requires_grad_(False)
            bias.requires_grad_(False)
        net.x_mean.copy_(src.x_mean)
        net.x_scale.copy_(src.x_scale)
        beta_bar = joint.centre[g, 0, src.q : src.q + p]
        net.centre[:, net.q : net.q + p] = beta_bar * net.feature_mask[:, net.q : net.q + p]
